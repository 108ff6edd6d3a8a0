"""The scoring engine: (lead state, event, compiled model) -> new state and the changes made.

No I/O, no clock: every time comes from the event (or the `now` a caller passes to views, decay
and cold marking), so the same inputs always give the same result. `apply_event` updates the
state it is given, which is what a consumer that loads a lead once per batch wants;
`score_event` leaves its input untouched and returns a new state.

Where arrival order can matter (it cannot for sums, once, per-period limits or duplicates):
- a cooldown keeps whichever of two close events arrived first;
- a cap or a floor clips the delta that reaches it, so with mixed signs the order decides
  which event is clipped (the totals stay within the cap or above the floor either way), and
  in a capped group which of its rules is credited with the last points (the group total is
  the same);
- an event more than `late_events_window` behind the lead's newest event is not scored.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .accounts import account_key
from .compiler import CompiledModel, CompiledRule, period_bucket, period_end
from .events import END_TS, MAX_NESTING, MIN_TS, TIME_RANGE, EventError, check_values, nps_problem
from .state import (
    MAX_ONCE_VALUES,
    MAX_PROFILE_BYTES,
    MAX_SEEN_IDS,
    MAX_STAGE_HISTORY,
    SEEN_SLACK,
    Alert,
    Change,
    Event,
    LeadState,
    Outcome,
    Skip,
    event_key,
    value_key,
)
from .units import DAY, duration_seconds, format_number, percent_fraction

if TYPE_CHECKING:  # the spec's pydantic models stay off the scoring import path
    from .spec import DecaySpec, NpsSpec


def fit_points(state: LeadState) -> float:
    return sum(state.fit_rules.values())


def main_score(model: CompiledModel, state: LeadState) -> float:
    """Fit counts up to the explicit cap; engagement on top; never below the floor."""
    fit = sum(state.fit_rules.values())
    if fit > model.fit_cap:
        fit = model.fit_cap
    score = fit + state.engagement
    return score if score > model.floor else model.floor


def new_lead(model: CompiledModel, lead: str) -> LeadState:
    state = LeadState(lead=lead, stage=model.stage_ids[0], engagement=max(0.0, model.floor))
    if "@" in lead:
        state.profile["email"] = lead
        state.account = account_key(state.profile, model.spec.accounts)
    return state


def score_event(model: CompiledModel, state: LeadState, event: Event) -> tuple[LeadState, Outcome]:
    """Pure form: the input state is left as it was."""
    new_state = state.clone()
    return new_state, apply_event(model, new_state, event)


def apply_event(model: CompiledModel, state: LeadState, event: Event) -> Outcome:
    ts = event.ts
    if not MIN_TS <= ts < END_TS:  # also NaN: parse_event refuses it, a direct caller gets the same rule
        raise EventError(f"timestamp: {ts!r} is out of range; {TIME_RANGE}")
    stage_before = state.stage
    key = event_key(event.id)
    if key in state.seen:
        score = main_score(model, state)
        return Outcome("duplicate", [], score, score, stage_before, stage_before, [], [])
    if ts < state.newest_ts - model.late_window or ts < state.seen_floor:
        _remember(state, key, state.newest_ts)  # so a redelivered late event is a duplicate: logged once
        score = main_score(model, state)
        return Outcome("late", [], score, score, stage_before, stage_before, [], [])
    _remember(state, key, ts)
    first_event = not state.stage_history
    if first_event:
        state.stage_history.append((state.stage, ts, "first seen"))
    if ts > state.newest_ts:
        state.newest_ts = ts
        day = int(ts // DAY)
        if day >= state.pruned_day + model.prune_days:  # lazily: stale entries are harmless
            _prune(model, state, day)
    score_before = main_score(model, state)
    changes: list[Change] = []
    skipped: list[Skip] = []
    if event.profile or first_event:  # a new lead's email alone can match fit rules (domains)
        _update_profile(model, state, event, changes, skipped)
    matcher = model.matchers.get(event.type)
    if matcher is not None:
        stages_engaged = None
        for rule in matcher(event.properties):
            if rule.stage is not None:
                if stages_engaged is None:
                    stages_engaged = {rule.stage}
                else:
                    stages_engaged.add(rule.stage)
            if rule.counter is not None:
                state.counters[rule.counter] = state.counters.get(rule.counter, 0) + 1
            if rule.once and rule.id in state.rule_fires:  # the commonest skip, decided here
                skipped.append(rule.skip_once)
                continue
            if rule.once_per is not None:
                _credit_once_per(model, state, rule, event, changes, skipped)
                continue
            _credit(model, state, rule, event, changes, skipped)
        if stages_engaged:
            counters = state.counters
            for stage in stages_engaged:
                counters[stage] = counters.get(stage, 0) + 1
    else:
        stages_engaged = None
    if ts > state.last_activity:
        state.last_activity = ts
        state.decay_steps = 0
    # a content interaction that gives no points can still open a gated stage
    return _settle(
        model, state, event.id, ts, score_before, stage_before, changes, skipped, bool(stages_engaged), event.profile
    )


def _settle(
    model: CompiledModel,
    state: LeadState,
    event_id: str,
    ts: float,
    score_before: float,
    stage_before: str,
    changes: list[Change],
    skipped: list[Skip],
    content_engaged: bool = False,
    answered: dict[str, Any] | None = None,
) -> Outcome:
    """After the deltas: stage, last increase and alerts follow the new main score (and NPS answers)."""
    score_after = main_score(model, state)
    if score_after > score_before and ts > state.last_increase:
        state.last_increase = ts
        if state.cold_since is not None:  # new activity that raises the score ends a cold spell
            state.cold_since = None
            changes.append(Change(event_id, "activity", "cold", 0.0, True, False, "active again"))
    if score_after != score_before or content_engaged or state.stage not in model.stage_position:
        _move_stage(model, state, score_after, event_id, ts, changes)
    alerts: list[Alert] = []
    if model.lead_alerts:
        letter = grade(model, fit_points(state))
        position = model.stage_position.get(state.stage, 0)
        disarmed = state.disarmed
        for alert in model.lead_alerts:
            armed = alert.name not in disarmed
            fires, armed_after = alert.step(armed, score_after, alert.qualifies(score_after, letter, position))
            if fires:
                alerts.append(Alert(alert.kind, state.lead, score_after, alert.threshold, ts, event_id, alert.name))
            if armed_after != armed:
                if armed_after:
                    disarmed.remove(alert.name)
                else:
                    disarmed.append(alert.name)
    if answered and model.nps_alerts:
        nps_field = model.spec.nps.field if model.spec.nps else None
        if nps_field in answered and nps_category(model, answered[nps_field]) == "detractor":
            answer = float(answered[nps_field])
            alerts.extend(
                Alert(alert.kind, state.lead, answer, None, ts, event_id, alert.name) for alert in model.nps_alerts
            )
    return Outcome("scored", changes, score_before, score_after, stage_before, state.stage, alerts, skipped)


def _credit_once_per(
    model: CompiledModel,
    state: LeadState,
    rule: CompiledRule,
    event: Event,
    changes: list[Change],
    skipped: list[Skip],
) -> None:
    """`limit: {once_per: asset}`: each value credited once; past MAX_ONCE_VALUES values, nothing more."""
    value = event.properties.get(rule.once_per) if rule.once_per is not None else None
    if value is None or value == "":
        skipped.append(rule.skip_once_missing)
        return
    key = value_key(value)
    given = state.once_values.get(rule.id)
    if given is not None and key in given:
        skipped.append(rule.skip_once_value)
        return
    if given is not None and len(given) >= MAX_ONCE_VALUES:
        skipped.append(rule.skip_once_full)
        return
    if _credit(model, state, rule, event, changes, skipped):
        state.once_values.setdefault(rule.id, set()).add(key)


def _credit(
    model: CompiledModel,
    state: LeadState,
    rule: CompiledRule,
    event: Event,
    changes: list[Change],
    skipped: list[Skip],
) -> bool:
    """Give the rule's points within its limits and caps; True if it was credited."""
    rule_id = rule.id
    ts = event.ts
    bucket = 0
    per = rule.per
    if per is not None:
        bucket = int(ts // DAY) if per == "day" else period_bucket(per, ts)  # day: the common case, inline
        counts = state.buckets.get(rule_id)
        if counts is not None and counts.get(bucket, 0) >= rule.max_per:
            skipped.append(rule.skip_period)
            return False
    if rule.cooldown:
        times = state.fire_times.get(rule_id)
        if times is not None:
            cooldown = rule.cooldown
            for fired in times:
                if abs(fired - ts) < cooldown:
                    skipped.append(rule.skip_cooldown)
                    return False
    points = rule.points
    why = rule.why
    given = state.rule_points.get(rule_id, 0.0)
    if rule.cap is not None:
        points = _clip(given, points, rule.cap)
        if points != rule.points:
            why = f"{why} (rule cap {format_number(rule.cap)})"
    group = rule.group
    if group is not None:
        total = state.group_points.get(group, 0.0)
        clipped = _clip(total, points, model.group_caps[group])
        if clipped != points:
            points = clipped
            why = f"{why} (group {group} cap {format_number(model.group_caps[group])})"
    if points == 0 and rule.points != 0:
        skipped.append(rule.skip_cap)
        return False
    state.rule_fires[rule_id] = state.rule_fires.get(rule_id, 0) + 1
    state.rule_points[rule_id] = given + points
    if group is not None:
        state.group_points[group] = state.group_points.get(group, 0.0) + points
    if per is not None:
        counts = state.buckets.setdefault(rule_id, {})
        counts[bucket] = counts.get(bucket, 0) + 1
    if rule.cooldown:
        state.fire_times.setdefault(rule_id, []).append(ts)
    event_id = event.id
    if rule.to_main:
        before = state.engagement
        after = before + points
        if after < model.floor:
            after = model.floor if before >= model.floor else before
        state.engagement = after
        changes.append(Change(event_id, rule_id, "engagement", points, before, after, why))
        if points > 0:
            day = int(ts // DAY)
            state.gains[day] = state.gains.get(day, 0.0) + points
    for target in rule.extra_targets:
        floor = model.extra_floors[target]
        before = state.extras.get(target, floor)
        after = before + points
        if after < floor:
            after = floor if before >= floor else before
        state.extras[target] = after
        changes.append(Change(event_id, rule_id, target, points, before, after, why))
    return True


def _clip(total: float, points: float, cap: float) -> float:
    """The part of `points` that keeps the running total within [-cap, cap]."""
    new_total = total + points
    if new_total > cap:
        new_total = cap
    elif new_total < -cap:
        new_total = -cap
    delta = new_total - total
    if (delta > 0) != (points > 0):
        return 0.0
    return delta


def _remember(state: LeadState, key: bytes, ts: float) -> None:
    """Record an event id; past MAX_SEEN_IDS the oldest are forgotten and their times become late.

    Exact either way: every event at or after `seen_floor` that was scored is still remembered,
    and every event before it is refused as late, so a redelivery can never score twice. Only a
    flood (more than MAX_SEEN_IDS distinct events inside the late window) moves the floor.
    """
    seen = state.seen
    seen[key] = int(ts)
    if len(seen) > MAX_SEEN_IDS:
        times = sorted(seen.values())
        newest_forgotten = times[len(times) - (MAX_SEEN_IDS - SEEN_SLACK) - 1]
        state.seen = {k: t for k, t in seen.items() if t > newest_forgotten}
        state.seen_floor = max(state.seen_floor, newest_forgotten + 1.0)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str))


def _default_nps() -> NpsSpec:
    from .frozen import DEFAULT_NPS

    return DEFAULT_NPS  # type: ignore[return-value]  # NpsSpec's defaults, read without pydantic


def _profile_value_problem(key: str, value: Any, nps: NpsSpec) -> str | None:
    """Why a profile value must not be stored: a non-finite or huge number, or an NPS answer off the scale.

    The doors refuse these already; this keeps a direct caller (a replay, a script) to the same rule,
    so nothing stored can poison a sum or match `{min: 9}` without a category.
    """
    try:
        check_values(value, key, MAX_NESTING)
    except EventError as error:
        return str(error).removeprefix(f"{key}: ")
    if key == nps.field:
        return nps_problem(value, nps)
    return None


def _update_profile(
    model: CompiledModel, state: LeadState, event: Event, changes: list[Change], skipped: list[Skip]
) -> None:
    """Fit is a function of the current profile: re-evaluate every fit rule and record the diff.

    The profile is bounded (MAX_PROFILE_BYTES): a new or longer value that would pass the bound
    is not stored, and the skip says so; removing or shortening a field always works.
    """
    profile = state.profile
    updates = event.profile or {}
    size = _json_size(profile) if updates else 0
    nps = model.spec.nps or _default_nps()
    for key, value in updates.items():
        old_size = len(key) + 4 + _json_size(profile[key]) if key in profile else 0
        if value is None or value == "":
            profile.pop(key, None)
            size -= old_size
            continue
        problem = _profile_value_problem(key, value, nps)
        if problem is not None:
            skipped.append(Skip("profile", f"profile field {key[:40]!r} not stored: {problem}"))
            continue
        new_size = len(key) + 4 + _json_size(value)
        if size - old_size + new_size > MAX_PROFILE_BYTES:
            skipped.append(Skip("profile", f"profile field {key[:40]!r} not stored: the profile is full"))
            continue
        profile[key] = value
        size += new_size - old_size
    now_matching = {rule.id: rule for rule in model.fit_matcher(profile)}
    old = state.fit_rules
    before = sum(old.values())
    running = before
    for rule_id in [r for r in old if r not in now_matching]:
        points = old[rule_id]
        running -= points
        changes.append(
            Change(event.id, rule_id, "fit", -points, running + points, running, "profile no longer matches")
        )
    for rule_id, rule in now_matching.items():
        if rule_id not in old:
            running += rule.points
            changes.append(Change(event.id, rule_id, "fit", rule.points, running - rule.points, running, rule.why))
    state.fit_rules = {rule_id: rule.points for rule_id, rule in now_matching.items()}
    state.account = account_key(profile, model.spec.accounts)


def _move_stage(
    model: CompiledModel, state: LeadState, score: float, event_id: str, ts: float, changes: list[Change]
) -> None:
    ids = model.stage_ids
    current = model.stage_position.get(state.stage, 0)
    target = model.stage_index_for(score)
    if target > current and model.gated:
        reached = current
        while reached < target:
            following = reached + 1
            if model.stage_requires_content[following] and not state.counters.get(ids[following]):
                break
            reached = following
        target = reached
    if target == current:
        return
    rules = sorted({c.rule for c in changes if c.dimension != "stage"})
    why = f"score {format_number(score)} after {', '.join(rules) or 'no rule'}"
    if model.gated and target < model.stage_index_for(score):
        why += f"; held at {ids[target]} until content of {ids[target + 1]} is engaged"
    changes.append(Change(event_id, "stage", "stage", target - current, ids[current], ids[target], why))
    state.stage = ids[target]
    history = state.stage_history
    history.append((ids[target], ts, why))
    if len(history) > MAX_STAGE_HISTORY:  # keep how it started and the latest moves
        del history[1 : len(history) - MAX_STAGE_HISTORY + 1]


def _prune(model: CompiledModel, state: LeadState, day: int) -> None:
    """Forget what no event inside the late window can need any more, so a lead stays small."""
    state.pruned_day = day
    horizon = state.newest_ts - model.late_window
    if state.seen:
        state.seen = {key: t for key, t in state.seen.items() if t + 1 > horizon}  # t is the event's second
    for rule_id, counts in list(state.buckets.items()):
        per = model.rules[rule_id].per if rule_id in model.rules else None
        if per is None:
            del state.buckets[rule_id]
            continue
        kept = {b: n for b, n in counts.items() if period_end(per, b) > horizon}
        if kept:
            state.buckets[rule_id] = kept
        else:
            del state.buckets[rule_id]
    for rule_id, times in list(state.fire_times.items()):
        rule = model.rules.get(rule_id)
        reach = horizon - (rule.cooldown if rule else 0.0)
        kept_times = [t for t in times if t >= reach]
        if kept_times:
            state.fire_times[rule_id] = kept_times
        else:
            del state.fire_times[rule_id]
    oldest_day = int(horizon // DAY) - model.momentum_days
    if state.gains and min(state.gains) < oldest_day:
        state.gains = {d: g for d, g in state.gains.items() if d >= oldest_day}


def _decay_clock(spec: DecaySpec, state: LeadState) -> tuple[float, float]:
    """(when the first step is due, the time between steps) for the lead's current inactivity."""
    return state.last_activity + duration_seconds(spec.after_inactive), duration_seconds(spec.every)


def _steps_due(start: float, every: float, now: float) -> int:
    """Whole steps due at `now`: step k is due at start + (k - 1) * every, exactly as decay_due_at says."""
    if now < start:
        return 0
    due = int((now - start) // every) + 1
    while due > 1 and start + (due - 1) * every > now:  # guard the division's rounding, so the two agree
        due -= 1
    while start + due * every <= now:
        due += 1
    return due


def _decay_step(spec: DecaySpec) -> tuple[float, float]:
    """(factor kept, points lost) per step: exactly one of the two is not neutral."""
    if spec.percent is not None:
        return 1 - percent_fraction(spec.percent), 0.0
    return 1.0, spec.points or 0.0


def _decayed(value: float, floor: float, steps: int, keep: float, lose: float) -> float:
    """`value` after `steps` steps, one at a time: any split of the steps over calls gives the same float.

    A value at or below its floor does not move; one that stops changing (its floor, or too small
    to shrink) ends the loop, so a long inactivity costs at most the steps that change something.
    """
    if value <= floor:
        return value
    for _ in range(steps):
        after = value * keep - lose
        if after < floor:
            after = floor
        if after == value:
            break
        value = after
    return value


def _can_decay(value: float, floor: float, keep: float, lose: float) -> bool:
    return value > floor and _decayed(value, floor, 1, keep, lose) != value


def _decaying_extras(model: CompiledModel) -> list[str]:
    return [name for name, extra in model.spec.scores.items() if extra.decay]


def apply_decay(model: CompiledModel, state: LeadState, now: float) -> Outcome:
    """Inactivity decay at `now`: the steps due and not yet applied, on engagement and decaying extras.

    Step k is due at last_activity + after_inactive + (k - 1) * every; `decay_steps` remembers how
    many were applied, so a second call at the same `now` changes nothing, and calls at t1 < t2
    give exactly what one call at t2 gives. Each score stops at its floor (engagement: the decay
    floor; an extra score: its own floor); fit never decays. Values keep full precision.
    """
    spec = model.spec.decay
    score_before = main_score(model, state)
    stage_before = state.stage
    changes: list[Change] = []
    event_id = f"decay:{int(now)}"
    if spec is not None and state.last_activity:
        start, every = _decay_clock(spec, state)
        due = _steps_due(start, every, now)
        steps = due - state.decay_steps
        if steps > 0:
            state.decay_steps = due
            keep, lose = _decay_step(spec)
            how = spec.percent if spec.percent is not None else f"{format_number(lose)} points"
            why = f"inactive since last activity: {steps} decay step(s) of {how} per {spec.every}"
            before = state.engagement
            after = _decayed(before, spec.floor, steps, keep, lose)
            if after != before:
                state.engagement = after
                changes.append(Change(event_id, "decay", "engagement", after - before, before, after, why))
            for name in _decaying_extras(model):
                floor = model.extra_floors[name]
                before = state.extras.get(name, floor)
                after = _decayed(before, floor, steps, keep, lose)
                if after != before:
                    state.extras[name] = after
                    changes.append(Change(event_id, "decay", name, after - before, before, after, why))
    return _settle(model, state, event_id, now, score_before, stage_before, changes, [])


def decay_due_at(model: CompiledModel, state: LeadState) -> float | None:
    """When the lead's next decay step is due (the scheduler indexes leads by it).

    None when the model has no decay, the lead has no activity, or no decaying score can move
    any more (engagement and every decaying extra score at their floors).
    """
    spec = model.spec.decay
    if spec is None or not state.last_activity:
        return None
    keep, lose = _decay_step(spec)
    if not _can_decay(state.engagement, spec.floor, keep, lose) and not any(
        _can_decay(state.extras.get(name, model.extra_floors[name]), model.extra_floors[name], keep, lose)
        for name in _decaying_extras(model)
    ):
        return None
    start, every = _decay_clock(spec, state)
    return start + state.decay_steps * every


def _quiet_since(state: LeadState) -> float | None:
    """Since when the score has not risen: its last increase, else the lead's first event."""
    if state.last_increase:
        return state.last_increase
    if state.stage_history:
        return state.stage_history[0][1]  # the "first seen" entry, always kept
    return state.newest_ts or None


def cold_due_at(model: CompiledModel, state: LeadState) -> float | None:
    """When mark_cold would mark the lead cold; None without cold_lead, without events, or when already cold."""
    spec = model.spec.cold_lead
    if spec is None or state.cold_since is not None:
        return None
    since = _quiet_since(state)
    return None if since is None else since + duration_seconds(spec.no_increase_for)


def mark_cold(model: CompiledModel, state: LeadState, now: float) -> Outcome:
    """Mark a lead whose score has not risen for `no_increase_for` as cold, once.

    `cold_since` is the moment it became cold (the last increase + the period), not `now`, so
    marking late or early in a scheduler run gives the same state. A later scoring event clears it.
    """
    score = main_score(model, state)
    changes: list[Change] = []
    due = cold_due_at(model, state)
    if due is not None and now >= due:
        state.cold_since = due
        period = model.spec.cold_lead.no_increase_for if model.spec.cold_lead else ""
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(due - duration_seconds(period)))
        why = f"cold lead: no score increase for {period} (since {since})"
        changes.append(Change(f"cold:{int(now)}", "cold_lead", "cold", 0.0, False, True, why))
    return Outcome("scored", changes, score, score, state.stage, state.stage, [], [])


def grade(model: CompiledModel, fit: float) -> str:
    for minimum, letter in model.grades:
        if fit >= minimum:
            return letter
    return model.grades[-1][1]


def temperature(model: CompiledModel, engagement: float) -> tuple[int, str]:
    for rank, (minimum, name) in enumerate(model.temperatures, start=1):
        if engagement >= minimum:
            return rank, name
    return len(model.temperatures), model.temperatures[-1][1]


def momentum(model: CompiledModel, state: LeadState, now: float) -> float:
    today = int(now // DAY)
    first = today - model.momentum_days + 1
    return sum(points for day, points in state.gains.items() if first <= day <= today)


def nps_category(model: CompiledModel, value: Any) -> str | None:
    nps = model.spec.nps
    if nps is None or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    for name, (low, high) in (("promoter", nps.promoters), ("passive", nps.passives), ("detractor", nps.detractors)):
        if low <= number <= high:
            return name
    return None


def view(model: CompiledModel, state: LeadState, now: float) -> dict[str, Any]:
    """Everything a person asks about a lead, derived from the stored state at `now`."""
    fit = fit_points(state)
    rank, temp = temperature(model, state.engagement)
    letter = grade(model, fit)
    gained = momentum(model, state, now)
    cold_since = state.cold_since
    if cold_since is None:  # not marked yet: what mark_cold would say at `now`
        due = cold_due_at(model, state)
        if due is not None and now >= due:
            cold_since = due
    nps_field = model.spec.nps.field if model.spec.nps else None
    nps_value = state.profile.get(nps_field) if nps_field else None
    return {
        "lead": state.lead,
        "account": state.account,
        "score": main_score(model, state),
        "fit": fit,
        "fit_counted": min(fit, model.fit_cap),
        "engagement": state.engagement,
        "extras": {name: state.extras.get(name, floor) for name, floor in model.extra_floors.items()},
        "counters": dict(state.counters),
        "stage": state.stage,
        "grade": letter,
        "temperature": temp,
        "matrix": f"{letter}{rank}",
        "momentum": gained,
        "activity": "active" if gained >= model.active_at else "latent",
        "cold": cold_since is not None,
        "cold_since": cold_since,
        "nps": nps_value,
        "nps_category": nps_category(model, nps_value),
        "breakdown": {**{r: p for r, p in state.rule_points.items() if p}, **state.fit_rules},
        "last_activity": state.last_activity,
    }
