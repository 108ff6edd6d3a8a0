"""Compiles a model once into the indexes the engine needs on every event.

The compiler works on the validated spec as plain data (`compile_plain`, which `compile_model`
calls with the spec's dump), so nothing in scoring depends on how the spec was read. Rules are indexed by event type, then by one condition each
(exact texts by hash, wildcard patterns by literal prefix, numeric ranges by sorted bounds), so
scoring an event evaluates only the rules that can possibly match it.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .alerts import ACCOUNT_KINDS, CompiledAlert, compile_alerts
from .matchers import Test, as_number, as_text, compile_condition, literal_prefix
from .state import MAX_ONCE_VALUES, Skip
from .units import DAY, duration_seconds, format_number, percent_fraction

if TYPE_CHECKING:
    from .built import LoadedModel

MAIN_SCORE = "main"  # validation.MAIN_SCORE: the score rules give to unless they name others

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
    skip_once: Skip | None  # prebuilt explanations of why a match gave nothing (None: no such limit)
    skip_period: Skip | None
    skip_cooldown: Skip | None
    skip_cap: Skip
    skip_once_value: Skip | None
    skip_once_missing: Skip | None
    skip_once_full: Skip | None


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


Matcher = Callable[[dict[str, Any]], list[CompiledRule]]

# Below this many rules for an event type, one generated function testing every rule is
# faster than looking candidates up first.
INDEX_MIN_RULES = 12
# A numeric range index stores, per interval between bounds, the rules covering it; past this
# many entries per rule (many overlapping ranges) those rules are tested on every event instead.
RANGE_ENTRIES_PER_RULE = 32


def _condition_sources(rule: CompiledRule, index: int, slots: dict[str, str], namespace: dict[str, Any]) -> list[str]:
    """Python expressions, one per condition of `rule`, over the slots holding each property.

    A slot `vN` holds the property's value; `fvN` its case-folded text (set by the caller for
    every slot some text test reads).
    """
    tests = []
    for position, (name, test, absent_matches) in enumerate(rule.conditions):
        test_name = f"test{index}_{position}"
        slot = slots[name]
        if hasattr(test, "text_values") and not absent_matches:
            namespace[test_name] = test.text_values
            tests.append(f"(f{slot} in {test_name})")
            continue
        if hasattr(test, "glob_match") and not absent_matches:
            namespace[test_name] = test.glob_match()
            tests.append(f"(type({slot}) is str and {test_name}({slot}) is not None)")
            continue
        namespace[test_name] = test
        joiner = "is None or" if absent_matches else "is not None and"
        tests.append(f"({slot} {joiner} {test_name}({slot}))")
    return tests


def _reads_text(rules: tuple[CompiledRule, ...], name: str) -> bool:
    return any(hasattr(t, "text_values") for r in rules for n, t, _ in r.conditions if n == name)


def _slot_lines(
    rules: tuple[CompiledRule, ...], slots: dict[str, str], namespace: dict[str, Any], indent: str
) -> list[str]:
    lines = []
    for name, slot in slots.items():
        namespace[f"key_{slot}"] = name
        lines.append(f"{indent}{slot} = get(key_{slot})")
        if _reads_text(rules, name):
            lines.append(
                f"{indent}f{slot} = None if {slot} is None else {slot}.casefold() if type({slot}) is str else as_text({slot})"
            )
    return lines


def build_scan_matcher(rules: tuple[CompiledRule, ...]) -> Matcher:
    """One generated function: reads each property once, tests every rule in order.

    Equivalent to `[r for r in rules if matches(r.conditions, properties)]`, without the
    per-rule loop overhead that dominates scoring time in pure Python. Only generated names
    appear in the source; rule tests and property names are passed in the namespace.
    """
    namespace: dict[str, Any] = {"as_text": as_text}
    slots = {name: f"v{i}" for i, name in enumerate(dict.fromkeys(n for r in rules for n, _, _ in r.conditions))}
    lines = ["def match(properties):", "    get = properties.get", "    found = []"]
    lines += _slot_lines(rules, slots, namespace, "    ")
    for index, rule in enumerate(rules):
        namespace[f"rule{index}"] = rule
        condition = " and ".join(_condition_sources(rule, index, slots, namespace)) or "True"
        lines.append(f"    if {condition}:")
        lines.append(f"        found.append(rule{index})")
    lines.append("    return found")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from fixed templates only
    match: Matcher = namespace["match"]
    return match


def _index_keys(test: Test) -> tuple[int, str, Any] | None:
    """How a required condition's test can be looked up: (preference, kind, keys), best first."""
    if hasattr(test, "text_values"):
        return 0, "exact", test.text_values
    if hasattr(test, "glob_patterns"):
        prefixes = [literal_prefix(p) for p in test.glob_patterns]
        if all(p and p.isascii() for p in prefixes):  # only ASCII prefixes fold exactly like re.IGNORECASE
            return 1, "prefix", frozenset(p.lower() for p in prefixes)
        return None
    if hasattr(test, "range_bounds"):
        low, high = test.range_bounds
        if low == -math.inf and high == math.inf:
            return None
        return 2, "range", (low, high)
    if hasattr(test, "parts"):
        keys = [k for part in test.parts if (k := _index_keys(part)) is not None]
        return min(keys, key=lambda k: (k[0], len(k[2]) if k[1] != "range" else 0)) if keys else None
    return None


def _best_key(rule: CompiledRule) -> tuple[str, str, Any] | None:
    """The condition to index a rule by: exact texts, else a prefix, else a range; fewest keys first."""
    best: tuple[int, int, str, str, Any] | None = None
    for name, test, absent_matches in rule.conditions:
        if absent_matches:  # an absent value matches: no lookup on the value can find the rule
            continue
        keys = _index_keys(test)
        if keys is None:
            continue
        preference, kind, values = keys
        rank = (preference, len(values) if kind != "range" else 0)
        if best is None or rank < best[:2]:
            best = (*rank, kind, name, values)
    return None if best is None else (best[2], best[3], best[4])


def _range_segment(points: list[float], number: float) -> int:
    """Segment 2i is the open interval below points[i], 2i + 1 is points[i] itself."""
    i = bisect.bisect_left(points, number)
    return 2 * i + 1 if i < len(points) and points[i] == number else 2 * i


def _range_index(
    bounds: list[tuple[int, tuple[float, float]]],
) -> tuple[list[float], list[tuple[int, ...]]] | None:
    points = sorted({b for _, pair in bounds for b in pair if math.isfinite(b)})
    segments: list[list[int]] = [[] for _ in range(2 * len(points) + 1)]
    entries = 0
    for position, (low, high) in bounds:
        first = 0 if low == -math.inf else _range_segment(points, low)
        last = len(segments) - 1 if high == math.inf else _range_segment(points, high)
        for segment in range(first, last + 1):
            segments[segment].append(position)
        entries += max(0, last - first + 1)
        if entries > RANGE_ENTRIES_PER_RULE * len(bounds) + 256:
            return None
    return points, [tuple(s) for s in segments]


def build_matcher(rules: tuple[CompiledRule, ...]) -> Matcher:
    """The rules (in model order) whose conditions the properties meet.

    Few rules: one generated function tests them all (`build_scan_matcher`). More: each rule is
    indexed by one of its required conditions, the properties look up candidates, and only those
    are tested in full, so a model of thousands of rules costs per event about what its
    candidates cost. Exactly `[r for r in rules if matches(r.conditions, properties)]` either way.
    """
    if len(rules) < INDEX_MIN_RULES:
        return build_scan_matcher(rules)
    always: list[int] = []
    exact: dict[str, dict[str, list[int]]] = {}
    prefix: dict[str, dict[str, list[int]]] = {}
    ranges: dict[str, list[tuple[int, tuple[float, float]]]] = {}
    for position, rule in enumerate(rules):
        key = _best_key(rule)
        if key is None:
            always.append(position)
            continue
        kind, name, values = key
        if kind == "range":
            ranges.setdefault(name, []).append((position, values))
            continue
        table = (exact if kind == "exact" else prefix).setdefault(name, {})
        for value in values:
            table.setdefault(value, []).append(position)
    range_lookups = []
    for name, bounds in ranges.items():
        built = _range_index(bounds)
        if built is None:  # too many overlapping ranges: test these rules on every event
            always.extend(position for position, _ in bounds)
        else:
            range_lookups.append((name, *built))
    always.sort()
    exact_lookups = [(name, {k: tuple(v) for k, v in table.items()}) for name, table in exact.items()]
    prefix_lookups = [
        (
            name,
            sorted({len(k) for k in table}),
            {k: tuple(v) for k, v in table.items()},
            tuple(sorted({p for v in table.values() for p in v})),
        )
        for name, table in prefix.items()
    ]
    always_found = tuple(always)
    bisect_left = bisect.bisect_left

    def match(properties: dict[str, Any]) -> list[CompiledRule]:
        get = properties.get
        found = list(always_found)
        for name, table in exact_lookups:
            value = get(name)
            if value is not None:
                hit = table.get(value.casefold() if type(value) is str else as_text(value))
                if hit:
                    found += hit
        for name, lengths, table, every in prefix_lookups:
            value = get(name)
            if type(value) is str:
                if value.isascii():
                    folded = value.lower()
                    size = len(folded)
                    for length in lengths:
                        if length > size:
                            break
                        hit = table.get(folded[:length])
                        if hit:
                            found += hit
                else:  # non-ASCII text may fold differently from re.IGNORECASE: test them all
                    found += every
        for name, points, segments in range_lookups:
            value = get(name)
            if value is not None:
                number = as_number(value)
                if number is not None:
                    i = bisect_left(points, number)
                    hit = segments[2 * i + 1 if i < len(points) and points[i] == number else 2 * i]
                    if hit:
                        found += hit
        if len(found) > 1:
            found = sorted(set(found))
        # candidates only: tested in full by the reference loop itself (few per event)
        return [rules[i] for i in found if matches(rules[i].conditions, properties)]

    return match


@dataclass(frozen=True)
class CompiledModel:
    spec: Any  # the validated ModelSpec
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


def rule_points(rule: dict[str, Any], sales_ready_score: float) -> float:
    """Points for one credit: fixed points, or readiness percentage x sales-ready score
    (validation.rule_points, on plain data)."""
    if rule.get("readiness") is not None:
        return round(percent_fraction(rule["readiness"]) * sales_ready_score, 6)
    return rule.get("points") or 0.0


def _explain(rule: dict[str, Any], sales_ready_score: float, points: float) -> str:
    if rule.get("readiness") is not None:
        amount = f"readiness {rule['readiness']} x {format_number(sales_ready_score)} = {format_number(points)}"
    else:
        amount = f"{format_number(points)} points"
    return f"{rule.get('description') or rule['id']}: {amount}"


def compile_rule(rule: dict[str, Any], sales_ready_score: float) -> CompiledRule:
    """One rule of the plain-data spec (the validated ModelSpec's JSON dump)."""
    written = rule["when"] if rule.get("when") is not None else rule["fit"]
    conditions = tuple(
        (name, *compile_condition(condition))
        for name, condition in written.items()
        if name != "event" or rule.get("when") is None
    )
    limit = rule.get("limit")
    once = limit == "once"
    per = max_per = once_per = None
    cooldown = 0.0
    if limit is not None and limit != "once":
        per, max_per, once_per = limit.get("per"), limit.get("max"), limit.get("once_per")
        cooldown = duration_seconds(limit["cooldown"]) if limit.get("cooldown") else 0.0
    points = rule_points(rule, sales_ready_score)
    targets = tuple(rule["scores"]) if rule.get("scores") is not None else (MAIN_SCORE,)
    rule_id = rule["id"]
    return CompiledRule(
        id=rule_id,
        kind="engagement" if rule.get("when") is not None else "fit",
        points=points,
        targets=targets,
        to_main=MAIN_SCORE in targets,
        extra_targets=tuple(t for t in targets if t != MAIN_SCORE),
        conditions=conditions,
        stage=rule.get("stage"),
        counter=rule.get("counter"),
        once=once,
        once_per=once_per,
        per=per,
        max_per=max_per or 0,
        cooldown=cooldown,
        cap=rule.get("cap"),
        group=rule.get("group"),
        why=_explain(rule, sales_ready_score, points),
        # only the explanations this rule's limits can give (the engine reads each under its limit):
        # most rules have none, and a model of 1,000 rules compiles in a fifth less time
        skip_once=Skip(rule_id, "limit: once per lead, already given") if once else None,
        skip_period=Skip(rule_id, f"limit: at most {max_per} per {per}, reached") if per is not None else None,
        skip_cooldown=Skip(rule_id, "limit: cooldown since the last credit") if cooldown else None,
        skip_cap=Skip(rule_id, "cap reached"),
        skip_once_value=once_per and Skip(rule_id, f"limit: once per {once_per}, already given for this {once_per}"),
        skip_once_missing=once_per and Skip(rule_id, f"limit: once per {once_per}, but the event has no {once_per}"),
        skip_once_full=once_per
        and Skip(
            rule_id, f"limit: once per {once_per}, {MAX_ONCE_VALUES} different values already given (the most kept)"
        ),
    )


def compile_plain(data: dict[str, Any], version: str, spec: Any) -> CompiledModel:
    """The one compiler: a validated model as plain data (a ModelSpec's JSON dump) -> CompiledModel.

    `spec` is what `CompiledModel.spec` exposes to callers: the validated ModelSpec.
    """
    collecting = gc.isenabled()
    gc.disable()  # thousands of small objects, none cyclic: collections here only cost time
    try:
        return _compile_plain(data, version, spec)
    finally:
        if collecting:
            gc.enable()


def _compile_plain(data: dict[str, Any], version: str, spec: Any) -> CompiledModel:
    ready = data["sales_ready_score"]
    by_event: dict[str, list[CompiledRule]] = {}
    fit_rules: list[CompiledRule] = []
    rules: dict[str, CompiledRule] = {}
    groups = data["groups"]
    group_members: dict[str, list[str]] = {name: [] for name in groups}
    for written in data["rules"]:
        rule = compile_rule(written, ready)
        rules[rule.id] = rule
        if rule.group is not None:
            group_members[rule.group].append(rule.id)
        if written.get("when") is None:
            fit_rules.append(rule)
            continue
        event = written["when"]["event"]
        for event_type in event if isinstance(event, list) else [event]:
            by_event.setdefault(str(event_type), []).append(rule)
    alerts = compile_alerts(spec)
    stages = data["stages"]
    late_window = duration_seconds(data["late_events_window"])
    return CompiledModel(
        spec=spec,
        version=version,
        by_event={name: tuple(items) for name, items in by_event.items()},
        matchers={name: build_matcher(tuple(items)) for name, items in by_event.items()},
        fit_rules=tuple(fit_rules),
        fit_matcher=build_matcher(tuple(fit_rules)),
        rules=rules,
        group_caps={name: group["cap"] for name, group in groups.items()},
        group_members={name: tuple(ids) for name, ids in group_members.items()},
        floor=data["floor"],
        fit_cap=percent_fraction(data["explicit_share_max"]) * ready,
        extra_floors={
            name: extra["floor"] if extra.get("floor") is not None else data["floor"]
            for name, extra in data["scores"].items()
        },
        stage_ids=tuple(stage["id"] for stage in stages),
        stage_position={stage["id"]: index for index, stage in enumerate(stages)},
        stage_mins=tuple(stage["min"] for stage in stages),
        stage_requires_content=tuple(stage["requires_content"] for stage in stages),
        gated=data["advance_requires_content"],
        late_window=late_window,
        prune_days=max(1, math.ceil(late_window / DAY)),
        momentum_days=max(1, round(duration_seconds(data["momentum"]["window"]) / DAY)),
        active_at=data["momentum"]["active_at"],
        grades=tuple(sorted(((v, k) for k, v in data["fit_grades"].items()), reverse=True)),
        temperatures=tuple(sorted(((v, k) for k, v in data["temperature"].items()), reverse=True)),
        lead_alerts=tuple(a for a in alerts if a.kind in ("lead_score", "lead_qualified")),
        nps_alerts=tuple(a for a in alerts if a.kind == "nps_detractor"),
        account_alerts=tuple(a for a in alerts if a.kind in ACCOUNT_KINDS),
        account_owners={key.strip().casefold(): owner for key, owner in data["account_owners"].items()},
        alerts_by_name={alert.name: alert for alert in alerts},
    )


def compile_model(loaded: LoadedModel) -> CompiledModel:
    """A validated model (from YAML): compiled from its plain data, keeping the spec for callers."""
    return compile_plain(loaded.spec.model_dump(mode="json", by_alias=True), loaded.version, loaded.spec)
