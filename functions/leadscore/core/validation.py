"""Checks that need the whole model: references, bands, reachable maxima, patterns."""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from .source import Loc, Problem
from .spec import BUILTIN_EVENT_TYPES, ModelSpec, NpsSpec, Operators, RuleSpec
from .units import duration_seconds, format_number, percent_fraction

MAIN_SCORE = "main"
# Points, caps and the sales-ready score stay far from float overflow whatever arrives: a sum of
# them over any number of events a lead can send stays finite and exact to the cent.
MAX_POINTS = 1_000_000_000
MAX_POINTS_TEXT = "1000000000 (one billion), the most a rule, cap or score may give"
_SCHEDULE = re.compile(r"^(cron\((\S+\s+){5}\S+\)|rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\))$")


def _big(number: float) -> str:
    return format_number(number) if abs(number) < 1e15 else f"{number:g}"


def _suggest(word: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def rule_points(rule: RuleSpec, spec: ModelSpec) -> float:
    """Points for one credit: fixed points, or readiness percentage x sales-ready score."""
    if rule.readiness is not None:
        return round(percent_fraction(rule.readiness) * spec.sales_ready_score, 6)
    return rule.points or 0.0


def rule_targets(rule: RuleSpec) -> list[str]:
    return rule.scores if rule.scores is not None else [MAIN_SCORE]


def event_types(spec: ModelSpec) -> list[str]:
    return [*BUILTIN_EVENT_TYPES, *spec.event_types]


def semantic_problems(spec: ModelSpec, data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    problems += _check_settings(spec)
    problems += _check_stages(spec)
    problems += _check_rules(spec)
    problems += _check_grades_and_nps(spec)
    problems += _check_forms(spec)
    problems += _check_reachable(spec, stages_written="stages" in data)
    return problems


def _check_settings(spec: ModelSpec) -> list[Problem]:
    problems = []
    share = percent_fraction(spec.explicit_share_max)
    if share > 0.5 or share < 0:
        problems.append(
            Problem(
                ("explicit_share_max",),
                f"{spec.explicit_share_max} is too much: fit data may give at most 50% of the "
                "sales-ready score, so a perfect fit that does nothing is never sales-ready",
            )
        )
    if spec.sales_ready_score > MAX_POINTS:
        problems.append(
            Problem(
                ("sales_ready_score",),
                f"{_big(spec.sales_ready_score)} is more than {MAX_POINTS_TEXT}",
            )
        )
    for name, group in spec.groups.items():
        if group.cap > MAX_POINTS:
            problems.append(Problem(("groups", name, "cap"), f"{_big(group.cap)} is more than {MAX_POINTS_TEXT}"))
    for index, name in enumerate(spec.event_types):
        if name in BUILTIN_EVENT_TYPES:
            problems.append(Problem(("event_types", index), f"'{name}' is already a built-in event type"))
    known = event_types(spec)
    for index, name in enumerate(spec.public_event_types or ()):
        if name not in known:
            problems.append(
                Problem(("public_event_types", index), f"unknown event type '{name}'{_suggest(name, known)}")
            )
        elif name in ("identify", "form_submit"):
            problems.append(
                Problem(
                    ("public_event_types", index),
                    f"'{name}' carries profile answers: browsers send it through forms, not a public write key",
                )
            )
    if MAIN_SCORE in spec.scores:
        problems.append(Problem(("scores", MAIN_SCORE), "'main' is the main score's own name", True))
    accounts = spec.accounts
    if accounts.aggregate == "mean_of_top" and accounts.top is None:
        problems.append(Problem(("accounts",), "aggregate mean_of_top needs `top: N`"))
    if accounts.top is not None and accounts.aggregate != "mean_of_top":
        problems.append(Problem(("accounts", "top"), "`top` is only used with aggregate: mean_of_top"))
    if spec.decay is not None:
        decay = spec.decay
        if (decay.percent is None) == (decay.points is None):
            problems.append(Problem(("decay",), "decay needs exactly one of `percent` or `points`"))
        elif decay.percent is not None and not 0 < percent_fraction(decay.percent) <= 1:
            problems.append(Problem(("decay", "percent"), f"{decay.percent} must be between 0% and 100%"))
        if duration_seconds(decay.every) <= 0:
            problems.append(
                Problem(("decay", "every"), f"every {decay.every} would decay endlessly; write a period such as 7d")
            )
    for name, extra in spec.scores.items():
        if extra.decay and spec.decay is None:
            problems.append(
                Problem(
                    ("scores", name, "decay"),
                    "`decay: true` needs a top-level `decay:` (after_inactive, every, percent or points): "
                    "an extra score decays with the main engagement's decay settings",
                )
            )
    problems += _check_alerts(spec)
    velocity = spec.reports.velocity
    if velocity is not None and not _SCHEDULE.match(velocity.schedule):
        problems.append(
            Problem(
                ("reports", "velocity", "schedule"),
                f"{velocity.schedule!r} is not a schedule; write cron(0 7 * * ? *) or rate(1 day)",
            )
        )
    return problems


def _check_stages(spec: ModelSpec) -> list[Problem]:
    problems = []
    seen: dict[str, int] = {}
    for index, stage in enumerate(spec.stages):
        if stage.id in seen:
            problems.append(
                Problem(
                    ("stages", index, "id"),
                    f"duplicate stage id '{stage.id}'",
                    first_at=("stages", seen[stage.id], "id"),
                )
            )
        seen[stage.id] = index
        if stage.max is not None and stage.max < stage.min:
            problems.append(
                Problem(
                    ("stages", index),
                    f"stage {stage.id}: max {format_number(stage.max)} is below min {format_number(stage.min)}",
                )
            )
    if not spec.stages:
        return [Problem(("stages",), "at least one stage is needed")]
    ordered = sorted(enumerate(spec.stages), key=lambda pair: pair[1].min)
    if [i for i, _ in ordered] != list(range(len(spec.stages))):
        problems.append(Problem(("stages",), "list stages from the lowest band to the highest"))
        return problems
    first = spec.stages[0]
    if first.min > spec.floor:
        problems.append(
            Problem(
                ("stages", 0, "min"),
                f"stage {first.id} starts at {format_number(first.min)}, so scores from the floor "
                f"{format_number(spec.floor)} up fall in no stage",
            )
        )
    for index in range(1, len(spec.stages)):
        low, high = spec.stages[index - 1], spec.stages[index]
        if low.max is None:
            problems.append(Problem(("stages", index - 1), f"stage {low.id} has no max but stage {high.id} follows it"))
            continue
        if high.min <= low.max:
            problems.append(
                Problem(
                    ("stages", index, "min"),
                    f"stage {high.id} ({format_number(high.min)}-) overlaps stage {low.id} "
                    f"({format_number(low.min)}-{format_number(low.max)})",
                )
            )
        elif high.min > low.max + 1:
            problems.append(
                Problem(
                    ("stages", index, "min"),
                    f"scores above {format_number(low.max)} and below {format_number(high.min)} "
                    f"fall in no stage (gap between {low.id} and {high.id})",
                )
            )
    return problems


def _check_rules(spec: ModelSpec) -> list[Problem]:
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    stages = [stage.id for stage in spec.stages]
    scores = [MAIN_SCORE, *spec.scores]
    known_events = event_types(spec)
    for index, rule in enumerate(spec.rules):
        at: Loc = ("rules", index)
        if rule.id in first_index:
            problems.append(Problem((*at, "id"), "duplicate rule id", first_at=("rules", first_index[rule.id], "id")))
        else:
            first_index[rule.id] = index
        if (rule.when is None) == (rule.fit is None):
            problems.append(
                Problem(at, "a rule needs either `when` (a behaviour event) or `fit` (profile data), not both")
            )
        if (rule.points is None) == (rule.readiness is None):
            problems.append(Problem(at, "give either `points` or `readiness`, exactly one of them"))
        if rule.readiness is not None and abs(percent_fraction(rule.readiness)) > 1:
            problems.append(
                Problem(
                    (*at, "readiness"),
                    f"readiness {rule.readiness} is over 100%: nobody is more than fully sales-ready",
                )
            )
        if rule.stage is not None and rule.stage not in stages:
            problems.append(Problem((*at, "stage"), f"unknown stage '{rule.stage}'{_suggest(rule.stage, stages)}"))
        for position, score in enumerate(rule_targets(rule)):
            if score not in scores:
                problems.append(
                    Problem(
                        (*at, "scores", position),
                        f"unknown score '{score}'{_suggest(score, scores)}; declare it under `scores:`",
                    )
                )
        if rule.group is not None and rule.group not in spec.groups:
            problems.append(
                Problem((*at, "group"), f"unknown group '{rule.group}'{_suggest(rule.group, list(spec.groups))}")
            )
        if rule.when is not None:
            problems += _check_when(rule, at, known_events)
        if rule.fit is not None:
            problems += _check_fit(rule, at)
        for key in ("points", "cap"):
            amount = getattr(rule, key)
            if amount is not None and abs(amount) > MAX_POINTS:
                problems.append(Problem((*at, key), f"{_big(amount)} is more than {MAX_POINTS_TEXT}"))
        if isinstance(rule.limit, type(None)) or rule.limit == "once":
            continue
        limit = rule.limit
        if limit.once_per is not None:
            problems += _check_once_per(rule, at)
            continue
        if (limit.max is None) != (limit.per is None):
            problems.append(Problem((*at, "limit"), "`max` and `per` go together, like {max: 3, per: day}"))
        if limit.max is None and limit.per is None and limit.cooldown is None:
            problems.append(
                Problem((*at, "limit"), "a limit needs {max: N, per: day|week|month}, a cooldown or once_per")
            )
    return problems


def _check_once_per(rule: RuleSpec, at: Loc) -> list[Problem]:
    """`once_per` counts values of an event property, so it stands alone (a cap bounds the total)."""
    limit = rule.limit
    assert limit is not None and limit != "once" and limit.once_per is not None
    loc = (*at, "limit", "once_per")
    if rule.when is None:
        return []  # `limit` on a fit rule is reported already
    if limit.once_per == "event":
        return [Problem(loc, "once_per: event names the event type; for once per lead write `limit: once`")]
    others = [key for key in ("max", "per", "cooldown") if getattr(limit, key) is not None]
    if others:
        return [
            Problem(
                (*at, "limit"),
                f"once_per cannot be combined with {' or '.join(others)}: write limit: {{once_per: "
                f"{limit.once_per}}} alone, and use `cap` to bound the points in total",
            )
        ]
    return []


def _check_when(rule: RuleSpec, at: Loc, known_events: list[str]) -> list[Problem]:
    problems = []
    assert rule.when is not None
    if "event" not in rule.when:
        return [Problem((*at, "when"), "`when` needs `event`: the event type(s) this rule scores")]
    event = rule.when["event"]
    names = event if isinstance(event, list) else [event]
    if not all(isinstance(name, str) for name in names) or not names:
        problems.append(Problem((*at, "when", "event"), "`event` is an event type or a list of them"))
    else:
        for position, name in enumerate(names):
            if name not in known_events:
                loc = (*at, "when", "event", position) if isinstance(event, list) else (*at, "when", "event")
                problems.append(
                    Problem(
                        loc,
                        f"unknown event type '{name}'{_suggest(name, known_events)}; "
                        "add custom ones under `event_types:`",
                    )
                )
    for name, condition in rule.when.items():
        if name != "event":
            problems += _check_condition(condition, (*at, "when", name))
    return problems


def _check_fit(rule: RuleSpec, at: Loc) -> list[Problem]:
    assert rule.fit is not None
    problems = []
    if not rule.fit:
        problems.append(Problem((*at, "fit"), "`fit` needs at least one condition on a profile field"))
    for name, condition in rule.fit.items():
        problems += _check_condition(condition, (*at, "fit", name))
    for key in ("limit", "cap", "stage", "counter"):
        if getattr(rule, key) is not None:
            problems.append(
                Problem(
                    (*at, key),
                    f"`{key}` is for behaviour rules; a fit rule counts once while the profile matches",
                    True,
                )
            )
    if rule.scores is not None and rule.scores != [MAIN_SCORE]:
        problems.append(
            Problem(
                (*at, "scores"), "fit rules add to the main score only; use a behaviour rule for product interest", True
            )
        )
    return problems


def _check_condition(condition: Any, loc: Loc) -> list[Problem]:
    if not isinstance(condition, Operators):
        return []
    problems = []
    if not condition.model_fields_set:
        problems.append(Problem(loc, "an empty condition; use equals, any_of, glob, contains, min, max, ..."))
    if condition.min is not None and condition.max is not None and condition.min > condition.max:
        problems.append(
            Problem(
                loc,
                f"min {format_number(condition.min)} is above max {format_number(condition.max)}: nothing can match",
            )
        )
    if condition.regex is not None:
        try:
            re.compile(condition.regex)
        except re.error as error:
            problems.append(Problem((*loc, "regex"), f"bad regular expression {condition.regex!r}: {error}"))
    return problems


def _check_grades_and_nps(spec: ModelSpec) -> list[Problem]:
    problems = []
    if not spec.fit_grades:
        problems.append(Problem(("fit_grades",), "at least one fit grade is needed, like {A: 40, B: 0}"))
    if not spec.temperature:
        problems.append(Problem(("temperature",), "at least one temperature is needed, like {hot: 50, cold: 0}"))
    nps = spec.nps
    if nps is not None:
        low, high = nps.scale
        if low >= high:
            problems.append(Problem(("nps", "scale"), f"the scale [{low}, {high}] must go from low to high"))
        bands = [("detractors", nps.detractors), ("passives", nps.passives), ("promoters", nps.promoters)]
        expected = low
        for name, (start, end) in bands:
            if start > end or start < low or end > high:
                problems.append(Problem(("nps", name), f"{name} [{start}, {end}] is outside the scale [{low}, {high}]"))
            elif start != expected:
                problems.append(
                    Problem(
                        ("nps", name),
                        f"{name} start at {start} but the band before ends at {expected - 1}; bands must cover the scale without overlap",
                    )
                )
            expected = end + 1
        if expected != high + 1 and not problems:
            problems.append(Problem(("nps", "promoters"), f"promoters must end at the top of the scale, {high}"))
    return problems


# What each alert kind needs (at least one of each tuple) and may take besides notify and routing.
_ALERT_NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "lead_score": (("threshold",),),
    "account_score": (("threshold",),),
    "lead_qualified": (("threshold", "fit_grades", "stage"),),
    "nps_detractor": (),
    "engaged_buyers": (("buyers",), ("buyer_score",)),
}
_ALERT_TAKES: dict[str, frozenset[str]] = {
    "lead_score": frozenset({"threshold", "rearm_below"}),
    "account_score": frozenset({"threshold", "rearm_below"}),
    "lead_qualified": frozenset({"threshold", "rearm_below", "fit_grades", "stage"}),
    "nps_detractor": frozenset(),
    "engaged_buyers": frozenset({"buyers", "buyer_score"}),
}
_ALERT_SETTINGS = ("threshold", "rearm_below", "fit_grades", "stage", "buyers", "buyer_score")


def _check_alerts(spec: ModelSpec) -> list[Problem]:
    problems: list[Problem] = []
    stage_ids = [stage.id for stage in spec.stages]
    for name, alert in spec.alerts.items():
        at: Loc = ("alerts", name)
        kind = alert.resolved_kind(name)
        if kind is None:
            problems.append(
                Problem(
                    at,
                    "say what this alert watches: kind: lead_score, lead_qualified, nps_detractor, account_score "
                    "or engaged_buyers (only alerts named lead and account may leave it out)",
                )
            )
            continue
        for needed in _ALERT_NEEDS[kind]:
            if all(getattr(alert, key) is None for key in needed):
                what = " or ".join(f"`{key}`" for key in needed)
                problems.append(Problem(at, f"a {kind} alert needs {what}"))
        for key in _ALERT_SETTINGS:
            if getattr(alert, key) is not None and key not in _ALERT_TAKES[kind]:
                problems.append(Problem((*at, key), f"`{key}` has no meaning for a {kind} alert; remove it", True))
        if alert.rearm_below is not None and alert.threshold is not None and alert.rearm_below > alert.threshold:
            problems.append(
                Problem(
                    (*at, "rearm_below"),
                    f"rearm_below {format_number(alert.rearm_below)} is above the threshold "
                    f"{format_number(alert.threshold)}; the alert would re-arm while still over it",
                )
            )
        for index, letter in enumerate(alert.fit_grades or []):
            if letter not in spec.fit_grades:
                problems.append(
                    Problem(
                        (*at, "fit_grades", index),
                        f"unknown fit grade '{letter}'{_suggest(letter, list(spec.fit_grades))}; "
                        f"the grades are {', '.join(spec.fit_grades)}",
                    )
                )
        if alert.stage is not None and alert.stage not in stage_ids:
            problems.append(Problem((*at, "stage"), f"unknown stage '{alert.stage}'{_suggest(alert.stage, stage_ids)}"))
        if kind == "nps_detractor" and spec.nps is None:
            problems.append(Problem(at, "an nps_detractor alert needs the `nps:` setting (its field and bands)"))
        if alert.routes and alert.route_by is None:
            problems.append(Problem((*at, "routes"), "`routes` need `route_by`: the field whose value picks a route"))
        if alert.route_by == "account_owner" and not spec.account_owners:
            problems.append(
                Problem(
                    (*at, "route_by"), "route_by account_owner needs `account_owners:` (account key -> salesperson)"
                )
            )
    return problems


MAX_PAGE_ADDRESS = 2000
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def page_address_problem(value: str | None) -> str | None:
    """Why a form's thank_you or error_url cannot be where a browser is sent, or None when it can.

    Only an absolute https URL or a path on the site: a browser follows the 303 wherever it
    points, so `javascript:`, `data:` or a protocol-relative `//host` would run or leave the site.
    """
    if value is None:
        return None
    shown = value if len(value) <= 60 else value[:57] + "..."
    if not value.strip():
        return "is empty; write an https URL like https://www.example.com/thanks, or a path like /thanks"
    if len(value) > MAX_PAGE_ADDRESS:
        return f"is longer than {MAX_PAGE_ADDRESS} characters"
    if any(char.isspace() or not char.isprintable() for char in value):
        return f"{shown!r} has spaces or invisible characters; write them percent-encoded (%20)"
    if value.startswith(("//", "/\\")):
        return f"{shown!r} starts with // so browsers read it as another site; write https://{value.lstrip('/')} or a path with one /"
    if value.startswith("/"):
        return None
    scheme = _SCHEME.match(value)
    if scheme is None:
        return f"{shown!r} is neither an https URL nor a path; write https://www.example.com/thanks or /thanks"
    name = scheme.group(1).lower()
    if name == "http":
        return f"{shown!r} is not https; visitors would be sent to an unencrypted page: write https://"
    if name != "https":
        return f"{shown!r}: {name}: addresses are refused; only https URLs or paths starting with / (a browser would run or open it)"
    rest = value[len("https://") :] if value[:8].lower() == "https://" else ""
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not host:
        return f"{shown!r} has no site name after https://"
    if "@" in host:
        return f"{shown!r} has a user name or password before the site name (the part before @); leave it out"
    return None


def _check_forms(spec: ModelSpec) -> list[Problem]:
    problems = []
    trusted = spec.trusted()
    nps = spec.nps or NpsSpec()
    for name, form in spec.forms.items():
        at: Loc = ("forms", name)
        email = form.fields.get("email")
        if email is None or email.type != "email":
            problems.append(
                Problem((*at, "fields"), "a form needs an `email` field of type email: it identifies the lead")
            )
        if form.honeypot is not None and form.honeypot in form.fields:
            problems.append(Problem((*at, "honeypot"), f"the honeypot '{form.honeypot}' must not be a real field"))
        for key in ("thank_you", "error_url"):
            problem = page_address_problem(getattr(form, key))
            if problem is not None:
                problems.append(Problem((*at, key), problem))
        for field_name, field in form.fields.items():
            loc = (*at, "fields", field_name)
            if field.type == "choice" and not field.choices:
                problems.append(Problem(loc, "a choice field needs `choices`"))
            if field.type != "choice" and field.choices is not None:
                problems.append(
                    Problem((*loc, "choices"), f"`choices` is only for type choice (this field is {field.type})", True)
                )
            if field.min is not None and field.max is not None and field.min > field.max:
                problems.append(Problem(loc, "min is above max"))
            if field_name == nps.field and field.nps_scale is None and field.type in {"integer", "number"}:
                low, high = nps.scale
                if (field.min is not None and field.min < low) or (field.max is not None and field.max > high):
                    problems.append(
                        Problem(
                            loc,
                            f"this NPS field accepts answers off the model's NPS scale {low} to {high} "
                            f"(nps.scale); they would have no category: leave out min and max to take the "
                            f"scale, or keep them inside it",
                        )
                    )
            if field_name in trusted:
                problems.append(
                    Problem(
                        loc,
                        f"'{field_name}' is a trusted field (it decides the lead's account or comes from the CRM): "
                        "anyone can post a public form, so a form cannot set it; remove it from the form "
                        "(send it with signed tracking or a CRM import instead)",
                    )
                )
    return problems


def reachable_maximum(spec: ModelSpec) -> tuple[float, float, float]:
    """(fit at most, engagement at most, main score at most); inf where no limit bounds it."""
    fit_cap = percent_fraction(spec.explicit_share_max) * spec.sales_ready_score
    fit_positive = sum(max(0.0, rule_points(r, spec)) for r in spec.rules if r.fit is not None)
    fit_max = min(fit_positive, fit_cap)
    group_max: dict[str, float] = {}
    engagement = 0.0
    for rule in spec.rules:
        if rule.when is None or MAIN_SCORE not in rule_targets(rule):
            continue
        points = rule_points(rule, spec)
        if points <= 0:
            continue
        most = points if rule.limit == "once" else math.inf
        if rule.cap is not None:
            most = min(most, rule.cap)
        if rule.group is not None and rule.group in spec.groups:
            group_max[rule.group] = group_max.get(rule.group, 0.0) + most
        else:
            engagement += most
    for group, most in group_max.items():
        engagement += min(most, spec.groups[group].cap)
    return fit_max, engagement, max(spec.floor, fit_max + engagement)


def _check_reachable(spec: ModelSpec, stages_written: bool) -> list[Problem]:
    fit_max, engagement_max, main_max = reachable_maximum(spec)
    if math.isinf(main_max):
        return []
    why = f"the highest reachable score is {format_number(main_max)} (fit at most {format_number(fit_max)} + engagement at most {format_number(engagement_max)})"
    problems = []
    for name, alert in spec.alerts.items():
        kind = alert.resolved_kind(name)
        if alert.threshold is None:
            continue
        if kind in ("lead_score", "lead_qualified") and alert.threshold > main_max:
            problems.append(
                Problem(
                    ("alerts", name, "threshold"),
                    f"threshold {format_number(alert.threshold)} can never be reached: {why}",
                )
            )
        if kind == "account_score" and spec.accounts.aggregate != "sum" and alert.threshold > main_max:
            problems.append(
                Problem(
                    ("alerts", name, "threshold"),
                    f"threshold {format_number(alert.threshold)} can never be reached with aggregate {spec.accounts.aggregate}: {why}",
                )
            )
    for index, stage in enumerate(spec.stages if stages_written else []):
        if stage.min > main_max:
            problems.append(
                Problem(
                    ("stages", index, "min"),
                    f"stage {stage.id} starts at {format_number(stage.min)} and can never be reached: {why}",
                )
            )
    return problems
