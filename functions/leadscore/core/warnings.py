"""What loads but cannot work as meant: conditions that never match, needles that match too much.

A warning never stops a model from loading; `leadscore validate --strict` (the pull request
check) makes them fatal. Each check speaks only when it is certain from what the model says
(its forms and `profile_fields:`); where the author declared a type, contradicting it is an error.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .matchers import as_number, is_wildcard
from .source import Loc, Problem
from .spec import ChoiceType, ModelSpec, Operators

# Words that job titles, company names, page addresses and asset names often contain. A
# `contains` needle found inside one of them (other than as the word plus an ending) matches
# people it was not written for: `hr` in "Chrome", `intern` in "International", `cto` in "Director".
_COMMON_WORDS_TEXT = """
    about account accounting administrator advisor agency agent airline analyst analytics architect
    assistant associate attorney audit auditor automation bank banking board brand business buyer
    campaign capital career careers center central chairman chair chemical chrome church city client
    cloud coach collection commercial community company compliance computer construction consultant
    content contract contractor controller coordinator corporate counsel creative credit customer
    data database delivery department design designer developer development digital director
    directory distribution doctor editor education electric electrical email energy engineer
    enterprise environment event executive facility factor factory finance financial founder
    general global government graduate graphic growth hardware health healthcare history hospital
    hotel human industrial industry information infrastructure inspector insurance internal
    international internet investment investor janitor junior labor laboratory lawyer leader legal
    logistics machine maintenance management manager manufacturing marketing mechanic media medical
    member merchant mobile national network office officer online operations operator other owner
    partner payroll people pharmacy photographer physician planner platform policy practice
    president pricing principal printer process procurement producer product production professor
    program project property protection public publisher purchasing quality recruiter regional
    research resource retail revenue risk safety sales scientist secretary sector security senior
    service services shipping social software solution specialist sport staff strategy student
    studio supervisor supply support system systems teacher technical technician technology therapist
    three through trainer training transport treasurer university user vendor video warehouse
    webinar website whitepaper worker writer
"""
COMMON_WORDS = frozenset(_COMMON_WORDS_TEXT.split())
# Endings that make the same word: a needle matching these is meant to.
_ENDINGS = ("", "s", "es", "ed", "d", "ing", "er", "ers", "y", "ly", "ship", "ships")


@dataclass
class _FieldKind:
    """What the model knows about one profile field: its declared or form types."""

    types: set[str]
    choices: set[str] | None  # every value any source can send, when all sources are choices
    declared: bool  # from profile_fields: contradicting it is an error, not a warning


def model_warnings(spec: ModelSpec, data: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """(warnings, errors) found by reading the rules against the forms and profile fields."""
    warnings: list[Problem] = []
    errors: list[Problem] = []
    kinds = _field_kinds(spec)
    known = {"email", *kinds, *spec.trusted(), *([spec.nps.field] if spec.nps else [])}
    for index, rule in enumerate(spec.rules):
        written = rule.when if rule.when is not None else rule.fit
        section = "when" if rule.when is not None else "fit"
        for name, condition in (written or {}).items():
            if name == "event":
                continue
            loc: Loc = ("rules", index, section, name)
            warnings += _never_matching(condition, loc)
            warnings += _loose_needles(condition, loc)
            if rule.fit is None:
                continue
            if name not in known:
                warnings.append(
                    Problem(
                        loc,
                        f"no form has a field '{name}' and `profile_fields:` does not list it, so this condition "
                        f"may never see a value{_suggest(name, sorted(known))}; declare it under `profile_fields:` "
                        f"(like {name}: text) if the CRM or tracking sends it",
                        True,
                    )
                )
                continue
            if name in kinds:
                for problem, fatal in _type_mismatches(name, kinds[name], condition, loc):
                    (errors if fatal else warnings).append(problem)
    return warnings, errors


def _suggest(word: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _field_kinds(spec: ModelSpec) -> dict[str, _FieldKind]:
    kinds: dict[str, _FieldKind] = {}
    for name, declared in spec.profile_fields.items():
        if isinstance(declared, ChoiceType):
            kinds[name] = _FieldKind({"choice"}, {c.casefold() for c in declared.choice}, True)
        else:
            kinds[name] = _FieldKind({declared}, None, True)
    trusted = spec.trusted()
    for form in spec.forms.values():
        for name, field in form.fields.items():
            if name in spec.profile_fields:
                continue
            kind = kinds.setdefault(name, _FieldKind(set(), set(), False))
            kind.types.add(field.type)
            if field.type == "choice" and kind.choices is not None:
                kind.choices |= {c.casefold() for c in field.choices or []}
            else:
                kind.choices = None
            if name in trusted:  # the CRM sends it too: values outside the form's are possible
                kind.choices = None
    return kinds


def _values(condition: Any) -> list[tuple[Any, Loc]]:
    """The values a condition compares for equality, each with its path below the condition."""
    if isinstance(condition, list):
        return [(value, (i,)) for i, value in enumerate(condition)]
    if isinstance(condition, Operators):
        found: list[tuple[Any, Loc]] = []
        if condition.equals is not None:
            found.append((condition.equals, ("equals",)))
        for i, value in enumerate(condition.any_of or []):
            found.append((value, ("any_of", i)))
        return found
    return [(condition, ())]


def _type_mismatches(name: str, kind: _FieldKind, condition: Any, loc: Loc) -> list[tuple[Problem, bool]]:
    found: list[tuple[Problem, bool]] = []
    source = "`profile_fields:` declares" if kind.declared else "the forms make"
    for value, below in _values(condition):
        at = (*loc, *below)
        if isinstance(value, str) and is_wildcard(value):
            continue
        if kind.types <= {"number", "integer"} and as_number(value) is None:
            found.append(
                (
                    Problem(at, f"{value!r} is text but {source} {name} a number: use {{min: ..., max: ...}}"),
                    kind.declared,
                )
            )
        elif kind.types == {"boolean"} and not isinstance(value, bool):
            found.append(
                (
                    Problem(at, f"{value!r} is text but {source} {name} true or false: write true or false"),
                    kind.declared,
                )
            )
        elif kind.choices is not None and isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value).casefold()
            if text not in kind.choices:
                choices = sorted(kind.choices)
                who = "`profile_fields:` allows only these" if kind.declared else "no form can send it"
                found.append(
                    (
                        Problem(
                            at,
                            f"{value!r} is not one of the choices of {name} ({', '.join(choices)}){_suggest(text, choices)}: "
                            f"{who}, so this never matches",
                        ),
                        kind.declared,
                    )
                )
    ranged = isinstance(condition, Operators) and (condition.min is not None or condition.max is not None)
    if ranged and kind.choices is not None and not any(as_number(choice) is not None for choice in kind.choices):
        found.append((Problem(loc, f"min/max compare numbers, but {name} is a choice of text values"), kind.declared))
    return found


def _never_matching(condition: Any, loc: Loc) -> list[Problem]:
    if condition == [] or (isinstance(condition, Operators) and condition.any_of == []):
        return [Problem(loc, "an empty list matches nothing, so this rule never fires; list at least one value")]
    return []


def loose_matches(needle: str) -> list[str]:
    """Common words that contain `needle` without being that word plus an ending."""
    folded = needle.casefold().strip()
    if not folded or " " in folded:
        return []
    return sorted(
        word for word in COMMON_WORDS if folded in word and not any(word == folded + ending for ending in _ENDINGS)
    )


def _loose_needles(condition: Any, loc: Loc) -> list[Problem]:
    if not isinstance(condition, Operators) or condition.contains is None:
        return []
    needles = condition.contains if isinstance(condition.contains, list) else [condition.contains]
    problems = []
    for position, needle in enumerate(needles):
        words = loose_matches(needle)
        if words:
            at = (*loc, "contains", position) if isinstance(condition.contains, list) else (*loc, "contains")
            examples = ", ".join(f"'{word}'" for word in words[:3])
            problems.append(
                Problem(
                    at,
                    f"'{needle}' also matches inside other words, like {examples}; "
                    f"use contains_word: {needle} to match it as a whole word",
                )
            )
    return problems
