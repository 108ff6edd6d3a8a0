"""Compiles a validated model once into the indexes the engine needs on every event.

Rules are indexed by event type and their conditions precompiled, so scoring an event only
looks at the rules that can possibly match it.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .alerts import ACCOUNT_KINDS, CompiledAlert, compile_alerts
from .loader import LoadedModel
from .matchers import Test, as_text, compile_condition
from .spec import ModelSpec, RuleSpec
from .state import MAX_ONCE_VALUES, Skip
from .units import DAY, duration_seconds, format_number, percent_fraction
from .validation import MAIN_SCORE, rule_points, rule_targets

Conditions = tuple[tuple[str, Test, bool], ...]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    kind: str  # 'engagement' (a `when` rule) or 'fit'
    points: float
    targets: tuple[str, ...]
    to_main: bool
    extra_targets: tuple[str, ...]
    conditions: Conditions
    stage: str | None
    counter: str | None
    once: bool
    once_per: str | None  # limit: {once_per: property}: once per distinct value of it
    per: str | None
    max_per: int
    cooldown: float
    cap: float | None
    group: str | None
    why: str
    skip_once: Skip  # prebuilt explanations of why a match gave nothing
    skip_period: Skip
    skip_cooldown: Skip
    skip_cap: Skip
    skip_once_value: Skip
    skip_once_missing: Skip
    skip_once_full: Skip


def period_bucket(per: str, ts: float) -> int:
    """The calendar period (UTC) an event time falls in, as an integer key."""
    day = int(ts // DAY)
    if per == "day":
        return day
    if per == "week":
        return (day + 3) // 7  # ISO weeks start on Monday; 1970-01-01 was a Thursday
    return _month_of_day(day)


@functools.lru_cache(maxsize=4096)
def _month_of_day(day: int) -> int:
    moment = time.gmtime(day * DAY)
    return moment.tm_year * 12 + moment.tm_mon - 1


def period_end(per: str, bucket: int) -> float:
    if per == "day":
        return (bucket + 1) * DAY
    if per == "week":
        return ((bucket + 1) * 7 - 3) * DAY
    year, month = divmod(bucket + 1, 12)
    return float(calendar.timegm((year, month + 1, 1, 0, 0, 0)))


def matches(conditions: Conditions, values: dict[str, Any]) -> bool:
    for name, test, absent_matches in conditions:
        value = values.get(name)
        if value is None:
            if not absent_matches:
                return False
        elif not test(value):
            return False
    return True


Matcher = Callable[[dict[str, Any]], tuple[CompiledRule, ...]]


def build_matcher(rules: tuple[CompiledRule, ...]) -> Matcher:
    """One generated function per event type: reads each property once, tests every rule.

    Equivalent to `[r for r in rules if matches(r.conditions, properties)]`, without the
    per-rule loop overhead that dominates scoring time in pure Python. Only generated names
    appear in the source; rule tests and property names are passed in the namespace.
    """
    namespace: dict[str, Any] = {"as_text": as_text}
    slots: dict[str, str] = {}
    folded: set[str] = set()  # slots whose case-folded text some rule compares
    lines = ["def match(properties):", "    get = properties.get", "    found = []"]
    for name in dict.fromkeys(name for rule in rules for name, _, _ in rule.conditions):
        slot = f"v{len(slots)}"
        slots[name] = slot
        namespace[f"key_{slot}"] = name
        lines.append(f"    {slot} = get(key_{slot})")
        if any(hasattr(t, "text_values") for r in rules for n, t, _ in r.conditions if n == name):
            folded.add(slot)
            lines.append(
                f"    f{slot} = None if {slot} is None else {slot}.casefold() if type({slot}) is str else as_text({slot})"
            )
    for index, rule in enumerate(rules):
        namespace[f"rule{index}"] = rule
        tests = []
        for position, (name, test, absent_matches) in enumerate(rule.conditions):
            test_name = f"test{index}_{position}"
            slot = slots[name]
            if hasattr(test, "text_values") and not absent_matches:
                namespace[test_name] = test.text_values
                tests.append(f"(f{slot} in {test_name})")
                continue
            if hasattr(test, "glob_match") and not absent_matches:
                namespace[test_name] = test.glob_match
                tests.append(f"(type({slot}) is str and {test_name}({slot}) is not None)")
                continue
            namespace[test_name] = test
            joiner = "is None or" if absent_matches else "is not None and"
            tests.append(f"({slot} {joiner} {test_name}({slot}))")
        condition = " and ".join(tests) or "True"
        lines.append(f"    if {condition}:")
        lines.append(f"        found.append(rule{index})")
    lines.append("    return found")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from fixed templates only
    return namespace["match"]


@dataclass(frozen=True)
class CompiledModel:
    spec: ModelSpec
    version: str
    by_event: dict[str, tuple[CompiledRule, ...]]
    matchers: dict[str, Matcher]  # event type -> the rules its properties match
    fit_matcher: Matcher  # profile -> the fit rules it matches
    fit_rules: tuple[CompiledRule, ...]
    rules: dict[str, CompiledRule]
    group_caps: dict[str, float]
    group_members: dict[str, tuple[str, ...]]
    floor: float
    fit_cap: float
    extra_floors: dict[str, float]
    stage_ids: tuple[str, ...]
    stage_position: dict[str, int]
    stage_mins: tuple[float, ...]
    stage_requires_content: tuple[bool, ...]
    gated: bool
    late_window: float
    prune_days: int  # forget old limit state at most this often (the late window, in days)
    momentum_days: int
    active_at: float
    grades: tuple[tuple[float, str], ...]  # best first
    temperatures: tuple[tuple[float, str], ...]  # hottest first
    lead_alerts: tuple[CompiledAlert, ...]  # lead_score and lead_qualified, judged on every change
    nps_alerts: tuple[CompiledAlert, ...]  # nps_detractor, judged on every NPS answer
    account_alerts: tuple[CompiledAlert, ...]
    account_owners: dict[str, str]
    alerts_by_name: dict[str, CompiledAlert]

    def stage_index_for(self, score: float) -> int:
        return max(0, bisect.bisect_right(self.stage_mins, score) - 1)


def _explain(rule: RuleSpec, spec: ModelSpec, points: float) -> str:
    if rule.readiness is not None:
        amount = f"readiness {rule.readiness} x {format_number(spec.sales_ready_score)} = {format_number(points)}"
    else:
        amount = f"{format_number(points)} points"
    source = rule.description or rule.id
    return f"{source}: {amount}"


def compile_rule(rule: RuleSpec, spec: ModelSpec) -> CompiledRule:
    written = rule.when if rule.when is not None else rule.fit
    assert written is not None
    conditions = tuple(
        (name, *compile_condition(condition))
        for name, condition in written.items()
        if name != "event" or rule.when is None
    )
    limit = rule.limit
    once = limit == "once"
    per = max_per = once_per = None
    cooldown = 0.0
    if limit is not None and limit != "once":
        per, max_per, once_per = limit.per, limit.max, limit.once_per
        cooldown = duration_seconds(limit.cooldown) if limit.cooldown else 0.0
    points = rule_points(rule, spec)
    targets = tuple(rule_targets(rule))
    return CompiledRule(
        id=rule.id,
        kind="engagement" if rule.when is not None else "fit",
        points=points,
        targets=targets,
        to_main=MAIN_SCORE in targets,
        extra_targets=tuple(t for t in targets if t != MAIN_SCORE),
        conditions=conditions,
        stage=rule.stage,
        counter=rule.counter,
        once=once,
        once_per=once_per,
        per=per,
        max_per=max_per or 0,
        cooldown=cooldown,
        cap=rule.cap,
        group=rule.group,
        why=_explain(rule, spec, points),
        skip_once=Skip(rule.id, "limit: once per lead, already given"),
        skip_period=Skip(rule.id, f"limit: at most {max_per} per {per}, reached"),
        skip_cooldown=Skip(rule.id, "limit: cooldown since the last credit"),
        skip_cap=Skip(rule.id, "cap reached"),
        skip_once_value=Skip(rule.id, f"limit: once per {once_per}, already given for this {once_per}"),
        skip_once_missing=Skip(rule.id, f"limit: once per {once_per}, but the event has no {once_per}"),
        skip_once_full=Skip(
            rule.id, f"limit: once per {once_per}, {MAX_ONCE_VALUES} different values already given (the most kept)"
        ),
    )


def compile_model(loaded: LoadedModel) -> CompiledModel:
    spec = loaded.spec
    by_event: dict[str, list[CompiledRule]] = {}
    fit_rules: list[CompiledRule] = []
    rules: dict[str, CompiledRule] = {}
    group_members: dict[str, list[str]] = {name: [] for name in spec.groups}
    for written in spec.rules:
        rule = compile_rule(written, spec)
        rules[rule.id] = rule
        if rule.group is not None:
            group_members[rule.group].append(rule.id)
        if written.when is None:
            fit_rules.append(rule)
            continue
        event = written.when["event"]
        for event_type in event if isinstance(event, list) else [event]:
            by_event.setdefault(str(event_type), []).append(rule)
    alerts = compile_alerts(spec)
    return CompiledModel(
        spec=spec,
        version=loaded.version,
        by_event={name: tuple(items) for name, items in by_event.items()},
        matchers={name: build_matcher(tuple(items)) for name, items in by_event.items()},
        fit_rules=tuple(fit_rules),
        fit_matcher=build_matcher(tuple(fit_rules)),
        rules=rules,
        group_caps={name: group.cap for name, group in spec.groups.items()},
        group_members={name: tuple(ids) for name, ids in group_members.items()},
        floor=spec.floor,
        fit_cap=percent_fraction(spec.explicit_share_max) * spec.sales_ready_score,
        extra_floors={
            name: extra.floor if extra.floor is not None else spec.floor for name, extra in spec.scores.items()
        },
        stage_ids=tuple(stage.id for stage in spec.stages),
        stage_position={stage.id: index for index, stage in enumerate(spec.stages)},
        stage_mins=tuple(stage.min for stage in spec.stages),
        stage_requires_content=tuple(stage.requires_content for stage in spec.stages),
        gated=spec.advance_requires_content,
        late_window=duration_seconds(spec.late_events_window),
        prune_days=max(1, math.ceil(duration_seconds(spec.late_events_window) / DAY)),
        momentum_days=max(1, round(duration_seconds(spec.momentum.window) / DAY)),
        active_at=spec.momentum.active_at,
        grades=tuple(sorted(((v, k) for k, v in spec.fit_grades.items()), reverse=True)),
        temperatures=tuple(sorted(((v, k) for k, v in spec.temperature.items()), reverse=True)),
        lead_alerts=tuple(a for a in alerts if a.kind in ("lead_score", "lead_qualified")),
        nps_alerts=tuple(a for a in alerts if a.kind == "nps_detractor"),
        account_alerts=tuple(a for a in alerts if a.kind in ACCOUNT_KINDS),
        account_owners={key.strip().casefold(): owner for key, owner in spec.account_owners.items()},
        alerts_by_name={alert.name: alert for alert in alerts},
    )
