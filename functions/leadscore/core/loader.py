"""Loads a model from YAML and reports every problem as `file:line:column: rule <id>: what`.

Marketers read these messages in a pull request check, so each one says in plain words what
is wrong, where, and (for typos) what was probably meant.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .built import LoadedModel
from .source import (
    MODEL_SUFFIXES,
    Loc,
    Position,
    Problem,
    SourceDocument,
    YamlSyntaxError,
    looks_like_model,
    merge_documents,
    model_files,
    parse_yaml,
    stray_files,
)
from .spec import UNION_TAGS, ModelSpec
from .units import DURATION_PATTERN, PERCENT_PATTERN, format_number
from .validation import semantic_problems
from .warnings import model_warnings


class ModelError(Exception):
    """A model that cannot be used; `problems` holds one located message per line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def suggest(word: str, candidates: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close candidate exists, else ''."""
    match = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _display(file: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return str(file.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(file)


EMPTY_FILE = "the file is empty (or only comments); a model needs at least `rules:`"


def load_model(path: str | Path, *, display_base: Path | None = None) -> LoadedModel:
    """Read, merge and validate a model file or folder; raise ModelError listing every problem."""
    root = Path(path)
    base = display_base if display_base is not None else Path.cwd()
    if not root.exists():
        raise ModelError([f"{root}: no such file or folder"])
    files = model_files(root)
    errors, notes = _check_strays(root, base)
    if not files:
        raise ModelError([*errors, f"{root}: no .yaml files in this folder"])
    docs = []
    for file in files:
        try:
            doc = parse_yaml(file.read_text(encoding="utf-8"), _display(file, base))
        except YamlSyntaxError as error:
            errors.append(str(error))
            continue
        except UnicodeDecodeError:
            errors.append(f"{_display(file, base)}:1:1: the file is not UTF-8 text")
            continue
        if doc.empty and len(files) > 1:
            notes.append(
                f"{_display(file, base)}:1:1: warning: the file is empty (or only comments); nothing in it is read"
            )
            continue
        if doc.empty:
            errors.append(f"{_display(file, base)}:1:1: {EMPTY_FILE}")
            continue
        docs.append(doc)
    if not docs and not errors:
        errors.append(f"{root}: every model file is empty; a model needs at least `rules:`")
    if errors:
        raise ModelError(errors)
    loaded = load_document(merge_documents(docs), tuple(_display(f, base) for f in files))
    return dataclasses.replace(loaded, warnings=(*notes, *loaded.warnings))


_MODEL_KEYS = frozenset(field.alias or name for name, field in ModelSpec.model_fields.items())


def _check_strays(root: Path, base: Path) -> tuple[list[str], list[str]]:
    """Other files in a model folder: an error if one looks like part of the model, else a warning."""
    errors, notes = [], []
    for file in stray_files(root):
        shown = _display(file, base)
        try:
            keys = looks_like_model(file.read_bytes()[:1_000_000].decode("utf-8"), _MODEL_KEYS)
        except UnicodeDecodeError:
            keys = []
        if keys:
            name = file.name.split(".")[0] or file.name
            errors.append(
                f"{shown}:1:1: this looks like part of the model (it has `{keys[0]}:`) but only "
                f"{' and '.join(MODEL_SUFFIXES)} files are read; rename it to {name}.yaml to use it, "
                "or move it out of the model folder"
            )
        else:
            notes.append(f"{shown}:1:1: warning: not a model file (only .yaml and .yml files are read); skipped")
    return errors, notes


def load_text(text: str, file: str = "model.yaml") -> LoadedModel:
    """Validate a model given as text (tests, editors)."""
    try:
        doc = parse_yaml(text, file)
    except YamlSyntaxError as error:
        raise ModelError([str(error)]) from None
    if doc.empty:
        raise ModelError([f"{file}:1:1: {EMPTY_FILE}"])
    return load_document(doc, (file,))


def load_document(doc: SourceDocument, sources: tuple[str, ...]) -> LoadedModel:
    problems = list(doc.problems)
    spec: ModelSpec | None = None
    try:
        spec = ModelSpec.model_validate(doc.data)
    except ValidationError as error:
        problems.extend(_translate(error, doc.data, doc.bad_values))
        problems.extend(_salvaged_semantic_problems(error, doc.data))
    if spec is not None:
        problems.extend(semantic_problems(spec, doc.data))
        warnings, errors = model_warnings(spec, doc.data)
        problems.extend(errors)
    if problems:
        raise ModelError(_render(problems, doc))
    assert spec is not None
    canonical = json.dumps(doc.data, sort_keys=True, separators=(",", ":"), default=str)
    version = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    return LoadedModel(
        spec=spec,
        version=version,
        sources=sources,
        warnings=tuple(_render([*doc.warnings, *warnings], doc, label="warning: ")),
        readings=tuple(sorted(doc.readings.values(), key=lambda r: (r.position.file, r.position.line))),
    )


def _salvaged_semantic_problems(error: ValidationError, data: dict[str, Any]) -> list[Problem]:
    """Whole-model checks on the rules that did parse, so one typo does not hide the rest.

    Only when every structural problem sits inside a rule: other sections feed the checks
    (stages, scores, groups), and guessing around them would report phantom problems.
    """
    rules = data.get("rules")
    broken: set[int] = set()
    for item in error.errors(include_url=False):
        loc = item["loc"]
        if len(loc) < 2 or loc[0] != "rules" or not isinstance(loc[1], int) or not isinstance(rules, list):
            return []
        broken.add(loc[1])
    kept = [index for index in range(len(rules)) if index not in broken]  # type: ignore[arg-type]
    salvaged = {**data, "rules": [rules[index] for index in kept]}  # type: ignore[index]
    try:
        spec = ModelSpec.model_validate(salvaged)
    except ValidationError:
        return []

    def original(loc: Loc | None) -> Loc | None:
        if loc and len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            return ("rules", kept[loc[1]], *loc[2:])
        return loc

    return [
        Problem(original(p.loc) or (), p.message, p.on_key, original(p.first_at))
        for p in semantic_problems(spec, salvaged)
    ]


def _render(problems: list[Problem], doc: SourceDocument, label: str = "") -> list[str]:
    lines: list[tuple[str, int, str]] = []
    seen = set()
    for problem in problems:
        position: Position | None = problem.at or doc.position(problem.loc, problem.on_key)
        where = str(position) if position else "model"
        context = _context(problem.loc[:-1] if problem.on_key else problem.loc, doc.data)
        message = problem.message
        if problem.first_at is not None:
            message += f" (first at {doc.position(problem.first_at)})"
        line = f"{where}: {label}{context}{message}"
        if line not in seen:
            seen.add(line)
            lines.append((position.file if position else "", position.line if position else 0, line))
    return [line for *_, line in sorted(lines, key=lambda item: (item[0], item[1]))]


def _context(loc: Loc, data: dict[str, Any]) -> str:
    """'rule <id>: limit.per: ' for rules, 'stages[2].min: ' elsewhere."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules")
        rule_id = None
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            rule_id = rules[loc[1]].get("id")
        label = f"rule {rule_id}" if isinstance(rule_id, str) else f"rule #{loc[1] + 1}"
        rest = _dotted(loc[2:])
        return f"{label}: {rest}: " if rest else f"{label}: "
    path = _dotted(loc)
    return f"{path}: " if path else ""


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ---- pydantic errors -> plain words ------------------------------------------------------

_PATTERN_WORDS = {
    DURATION_PATTERN: "is not a duration; write a number and a unit, like 30d, 12h or 2w",
    PERCENT_PATTERN: "is not a percentage; write it like 30%",
}


def _is_union_tag(part: str | int) -> bool:
    """pydantic names the union member it tried in the error path; people never wrote those."""
    if not isinstance(part, str):
        return False
    return (
        part in UNION_TAGS
        or part in {"str", "int", "float", "bool"}
        or part.startswith(("list[", "literal[", "tuple[", "function-", "dict["))
    )


def _translate(error: ValidationError, data: dict[str, Any], reported: set[Loc] = frozenset()) -> list[Problem]:  # type: ignore[assignment]
    problems: list[Problem] = []
    seen_locs: set[Loc] = set()
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if not _is_union_tag(part))
        if loc in seen_locs or any(loc[: len(bad)] == bad for bad in reported):
            continue  # a union reports once per member; a bad number was already reported as read
        seen_locs.add(loc)
        problems.append(_problem(item, loc, data))
    return problems


def _value_at(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value) if isinstance(value, str) else str(value)


def _problem(item: Any, loc: Loc, data: dict[str, Any]) -> Problem:
    kind = item["type"]
    value = item.get("input")
    ctx = item.get("ctx") or {}
    in_condition = len(loc) == 4 and loc[0] == "rules" and loc[2] in ("when", "fit")
    if in_condition and kind not in ("extra_forbidden", "missing"):
        return Problem(
            loc,
            f"{_describe(value)} is not a condition: write a value, a list of values, or operators like {{glob: ...}}",
        )
    if kind == "extra_forbidden":
        key = loc[-1]
        return Problem(loc, f"unknown key '{key}'{suggest(str(key), _allowed_keys(loc[:-1], data))}", True)
    if kind == "missing":
        return Problem(loc[:-1], f"missing required key '{loc[-1]}'")
    if kind == "finite_number":
        return Problem(loc, f"{_describe(value)} is not a finite number: write a number like 100")
    hint = _unit_hint(loc, value)
    if hint is not None:
        return Problem(loc, hint)
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern in _PATTERN_WORDS:
            return Problem(loc, f"{value!r} {_PATTERN_WORDS[pattern]}")
        if "@" in str(pattern):
            return Problem(loc, f"{value!r} is not an email address")
        return Problem(loc, f"{value!r} is not a valid name: use letters, digits, '-', '_' or '.'")
    if kind in {"int_parsing", "float_parsing", "int_type", "float_type"}:
        return Problem(loc, f"{_describe(value)} is not a number")
    if kind == "int_from_float":
        return Problem(loc, f"{value} must be a whole number")
    if kind in {"bool_parsing", "bool_type"}:
        return Problem(loc, f"{_describe(value)} is not true or false: write true or false")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        choices = [c.strip() for c in expected.replace(" or ", ",").split(",") if c.strip()]
        return Problem(loc, f"{_describe(value)} is not one of: {', '.join(choices)}{suggest(str(value), choices)}")
    if kind in {"greater_than", "greater_than_equal"}:
        bound = ctx.get("gt", ctx.get("ge"))
        word = "greater than" if kind == "greater_than" else "at least"
        return Problem(loc, f"{_describe(value)} must be {word} {bound}")
    if kind in {"list_type", "tuple_type"}:
        hint = ": start each item with '- '" if isinstance(value, dict) else ""
        return Problem(loc, f"expected a list, got {_describe(value)}{hint}")
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        hint = ": remove the '- ' in front of its keys" if isinstance(value, list) else ""
        return Problem(loc, f"expected a mapping of keys (name: value), got {_describe(value)}{hint}")
    if kind == "string_type":
        return Problem(loc, f"expected text, got {_describe(value)}")
    if kind in {"too_short", "too_long"}:
        return Problem(loc, f"expected two numbers like [0, 10], got {_describe(value)}")
    return Problem(loc, str(item.get("msg", "invalid value")).lower())


@functools.cache
def _pattern_fields(pattern: str) -> frozenset[str]:
    """Every field name in the spec whose text must match `pattern` (durations, percentages)."""
    names: set[str] = set()
    seen: set[type] = set()
    todo: list[Any] = [ModelSpec]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if any(getattr(meta, "pattern", None) == pattern for meta in _metadata(field.annotation, field.metadata)):
                names.add(field.alias or name)
            todo.extend(m for m in _nested_models(field.annotation) if m not in seen)
    return frozenset(names)


def _metadata(annotation: Any, metadata: list[Any]) -> list[Any]:
    found = list(metadata)
    stack = [annotation]
    while stack:
        item = stack.pop()
        found.extend(getattr(item, "__metadata__", ()))
        stack.extend(typing.get_args(item))
    return found


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    found, stack = [], [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found.append(item)
        stack.extend(typing.get_args(item))
    return found


def _unit_hint(loc: Loc, value: Any) -> str | None:
    """A bare number where a duration or a percentage goes: say exactly what to write."""
    if not loc or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    key = loc[-1]
    in_rule = len(loc) >= 3 and loc[0] == "rules"
    if key == "points" and in_rule and isinstance(value, str) and value.strip().endswith("%"):
        share = value.strip()
        return f"{value!r} is not a number of points: write points: {share[:-1].strip()}, or readiness: {share} for a share of sales_ready_score"
    if isinstance(value, str):
        return None
    number = format_number(value)
    if key in _pattern_fields(PERCENT_PATTERN):
        percent = format_number(value * 100) if 0 < value < 1 else number
        if key == "readiness" and in_rule:
            return f"{number} has no unit: write {percent}% (a share of sales_ready_score) or points: {number}"
        return f"{number} has no unit: write {percent}%"
    if key in _pattern_fields(DURATION_PATTERN):
        return f"{number} has no unit: write {number}d (or another unit: {number}h, {number}w, {number}m for minutes)"
    return None


def _allowed_keys(loc: Loc, data: dict[str, Any]) -> list[str]:
    """The keys the model class at `loc` accepts, for 'did you mean'."""
    model: Any = ModelSpec
    for depth, part in enumerate(loc):
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            if field is None:
                field = next((f for f in model.model_fields.values() if f.alias == part), None)
            model = field.annotation if field is not None else None
        elif isinstance(part, int):
            model = _element(model)
        else:
            model = _element(model, mapping=True)
        model = _model_in(model, _value_at(data, loc[: depth + 1]))
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _element(annotation: Any, mapping: bool = False) -> Any:
    for member in _members(annotation):
        args = typing.get_args(member)
        origin = typing.get_origin(member)
        if origin is list and args:
            return args[0]
        if origin is dict and args and mapping:
            return args[1]
    return None


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]


def _model_in(annotation: Any, value: Any) -> Any:
    """Pick the BaseModel member of a union when the written value is a mapping."""
    members = _members(annotation)
    if isinstance(value, dict):
        for member in members:
            if isinstance(member, type) and issubclass(member, BaseModel):
                return member
    return members[0] if len(members) == 1 else annotation
