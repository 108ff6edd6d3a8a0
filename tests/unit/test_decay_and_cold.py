"""Decay and cold leads, exactly: when each step is due, what it does, and when a lead turns cold.

The engine has no clock: every time below is an explicit instant, so these tests are frozen by
construction. Numbers are exact (no approximate comparisons): decay keeps full precision.
"""

from __future__ import annotations

import calendar
import json

from conftest import LEAD, T0, Lead, event, model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.core.engine import (
    apply_decay,
    apply_event,
    cold_due_at,
    decay_due_at,
    main_score,
    mark_cold,
    new_lead,
    view,
)
from leadscore.core.simulation import simulate
from leadscore.core.state import Event, LeadState
from leadscore.core.units import DAY, format_number

HOUR = 3600.0


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return float(calendar.timegm((year, month, day, hour, minute, second)))


# The README's worked example: last activity 2026-10-01T09:00Z, 30d, 7d, 10%.
WORKED = model(
    """
decay: {after_inactive: 30d, every: 7d, percent: 10%, floor: 0}
cold_lead: {no_increase_for: 45d}
scores:
  data_platform: {label: Data platform interest, decay: true}
  security: {label: Security interest}
rules:
  - {id: demo, when: {event: webinar_attend}, points: 50}
  - {id: dp, when: {event: download, asset: dp}, points: 20, scores: [data_platform]}
  - {id: sec, when: {event: download, asset: sec}, points: 20, scores: [security]}
  - {id: visit, when: {event: page_view}, points: 0}
"""
)
LAST_ACTIVITY = at(2026, 10, 1, 9)


def worked_lead(*extra: Event) -> LeadState:
    state = new_lead(WORKED, LEAD)
    apply_event(WORKED, state, Event("w1", "webinar_attend", LEAD, LAST_ACTIVITY, {}))
    for item in extra:
        apply_event(WORKED, state, item)
    return state


def snapshot(state: LeadState) -> str:
    return json.dumps(state.to_dict(), sort_keys=True)


# --- decay timing: the worked example ------------------------------------------------------------


def test_worked_example_step_by_step():
    state = worked_lead()
    assert state.engagement == 50
    first, second = at(2026, 10, 31, 9), at(2026, 11, 7, 9)
    assert decay_due_at(WORKED, state) == first

    early = apply_decay(WORKED, state, first - 1)  # 2026-10-31T08:59:59Z: not yet
    assert early.changes == [] and state.engagement == 50 and state.decay_steps == 0

    outcome = apply_decay(WORKED, state, first)
    assert state.engagement == 45 and state.decay_steps == 1
    assert [(c.event_id, c.rule, c.dimension, c.delta, c.before, c.after) for c in outcome.changes] == [
        (f"decay:{int(first)}", "decay", "engagement", -5, 50, 45)
    ]
    assert outcome.changes[0].why == "inactive since last activity: 1 decay step(s) of 10% per 7d"
    assert (outcome.score_before, outcome.score_after) == (50, 45)

    stored = snapshot(state)
    rerun = apply_decay(WORKED, state, first)  # the same instant again: nothing
    assert rerun.changes == [] and snapshot(state) == stored
    assert apply_decay(WORKED, state, second - 1).changes == []

    assert decay_due_at(WORKED, state) == second
    apply_decay(WORKED, state, second)
    assert state.engagement == 40.5 and state.decay_steps == 2
    assert decay_due_at(WORKED, state) == at(2026, 11, 14, 9)


def test_full_precision_is_kept_and_views_round_for_display():
    state = worked_lead()
    apply_decay(WORKED, state, at(2026, 11, 21, 9))  # four steps: 50 -> 45 -> 40.5 -> 36.45 -> 32.805
    assert state.engagement == 50 * 0.9 * 0.9 * 0.9 * 0.9
    assert view(WORKED, state, at(2026, 11, 21, 9))["engagement"] == state.engagement  # the view: full value
    assert format_number(state.engagement) == "32.81"  # tables: at most two decimals
    assert format_number(40.5) == "40.5" and format_number(45.0) == "45"


def test_one_call_at_day_45_equals_calls_at_days_31_38_and_45():
    separate, once = worked_lead(), worked_lead()
    for day in (31, 38, 45):
        apply_decay(WORKED, separate, LAST_ACTIVITY + day * DAY)
    outcome = apply_decay(WORKED, once, LAST_ACTIVITY + 45 * DAY)
    assert separate.engagement == once.engagement == 36.45
    assert separate.decay_steps == once.decay_steps == 3
    assert "3 decay step(s)" in outcome.changes[0].why


def test_activity_restarts_the_clock():
    state = worked_lead()
    apply_decay(WORKED, state, at(2026, 10, 31, 9))
    apply_event(WORKED, state, Event("w2", "page_view", LEAD, at(2026, 11, 2, 12), {}))  # no points, still activity
    assert state.decay_steps == 0 and state.engagement == 45
    assert decay_due_at(WORKED, state) == at(2026, 12, 2, 12)
    assert apply_decay(WORKED, state, at(2026, 12, 2, 11, 59, 59)).changes == []


def test_fit_never_decays():
    compiled = model(
        "decay: {after_inactive: 1d, every: 1d, percent: 50%}\n"
        "rules:\n  - {id: boss, fit: {job_title: boss}, points: 30}\n  - {id: v, when: {event: page_view}, points: 8}\n"
    )
    ann = Lead(compiled)
    ann.feed(event("page_view", profile={"job_title": "boss"}))
    apply_decay(compiled, ann.state, T0 + 3 * DAY)
    assert ann.state.engagement == 1 and ann.state.fit_rules == {"boss": 30}
    assert main_score(compiled, ann.state) == 31


# --- extra (product-line) scores ------------------------------------------------------------------


def test_extra_scores_decay_only_where_the_model_says_so():
    state = worked_lead(
        Event("d1", "download", LEAD, LAST_ACTIVITY, {"asset": "dp"}),
        Event("s1", "download", LEAD, LAST_ACTIVITY, {"asset": "sec"}),
    )
    moment = at(2026, 10, 31, 9)
    outcome = apply_decay(WORKED, state, moment)
    assert state.extras == {"data_platform": 18, "security": 20}
    assert [(c.rule, c.dimension, c.before, c.after) for c in outcome.changes] == [
        ("decay", "engagement", 50, 45),
        ("decay", "data_platform", 20, 18),
    ]
    assert all(c.why == "inactive since last activity: 1 decay step(s) of 10% per 7d" for c in outcome.changes)
    assert all(c.event_id == f"decay:{int(moment)}" for c in outcome.changes)


POINTS_DECAY = model(
    """
floor: 1
decay: {after_inactive: 1d, every: 1d, points: 15, floor: 10}
scores:
  data_platform: {decay: true, floor: 3}
  analytics: {decay: true}
  security: {}
rules:
  - {id: v, when: {event: page_view}, points: 40, scores: [main, data_platform, analytics, security]}
"""
)


def test_extra_scores_decay_to_their_own_floors():
    ann = Lead(POINTS_DECAY)
    ann.feed(event("page_view"))
    assert ann.state.engagement == 41  # from the model's floor 1
    assert ann.state.extras == {"data_platform": 43, "analytics": 41, "security": 41}
    outcome = apply_decay(POINTS_DECAY, ann.state, T0 + 2 * DAY)  # two steps of 15
    assert ann.state.engagement == 11
    assert ann.state.extras == {"data_platform": 13, "analytics": 11, "security": 41}
    assert outcome.changes[0].why == "inactive since last activity: 2 decay step(s) of 15 points per 1d"
    apply_decay(POINTS_DECAY, ann.state, T0 + 100 * DAY)
    assert ann.state.engagement == 10  # the decay floor
    assert ann.state.extras == {"data_platform": 3, "analytics": 1, "security": 41}  # its floor; the model's floor
    assert decay_due_at(POINTS_DECAY, ann.state) is None  # nothing left to decay


def test_an_extra_score_below_its_floor_already_is_left_alone():
    ann = Lead(POINTS_DECAY)
    ann.feed(event("page_view"))
    ann.state.extras["data_platform"] = 2.0  # e.g. stored before the floor was raised
    apply_decay(POINTS_DECAY, ann.state, T0 + 10 * DAY)
    assert ann.state.extras["data_platform"] == 2


# --- decay_due_at ---------------------------------------------------------------------------------


def test_decay_due_at_is_none_without_decay_activity_or_anything_to_decay():
    assert decay_due_at(model("rules: []\n"), worked_lead()) is None
    assert decay_due_at(WORKED, new_lead(WORKED, LEAD)) is None  # no activity yet
    idle = worked_lead()
    idle.engagement = 0.0
    assert decay_due_at(WORKED, idle) is None
    idle.extras["data_platform"] = 4.0  # a decaying extra keeps it due
    assert decay_due_at(WORKED, idle) == at(2026, 10, 31, 9)
    idle.extras = {"security": 20.0}  # a score that does not decay does not
    assert decay_due_at(WORKED, idle) is None


def _assert_due_at_agrees_with_apply_decay(compiled, state: LeadState) -> None:
    every = {"7d": 7 * DAY, "1d": DAY, "5d": 5 * DAY}[compiled.spec.decay.every]
    for _ in range(4):
        due = decay_due_at(compiled, state)
        if due is None:
            return
        steps = state.decay_steps
        stored = snapshot(state)
        assert apply_decay(compiled, state, due - 1).changes == [] and snapshot(state) == stored
        outcome = apply_decay(compiled, state, due)
        assert state.decay_steps == steps + 1 and outcome.changes
        assert all("1 decay step(s)" in c.why for c in outcome.changes if c.rule == "decay")
        following = decay_due_at(compiled, state)
        assert following is None or following == due + every


def test_decay_due_at_agrees_with_apply_decay():
    _assert_due_at_agrees_with_apply_decay(WORKED, worked_lead())
    ann = Lead(POINTS_DECAY)
    ann.feed(event("page_view", day=0.3))
    _assert_due_at_agrees_with_apply_decay(POINTS_DECAY, ann.state)


def test_decay_due_at_is_in_the_past_for_a_lead_left_behind():
    state = worked_lead()
    apply_decay(WORKED, state, at(2026, 11, 10))  # steps 1 and 2 applied
    assert decay_due_at(WORKED, state) == at(2026, 11, 14, 9)
    late = worked_lead()
    assert decay_due_at(WORKED, late) == at(2026, 10, 31, 9)  # never decayed: its first step is overdue


# --- cold leads -----------------------------------------------------------------------------------

COLD = model(
    """
cold_lead: {no_increase_for: 45d}
rules:
  - {id: wp, when: {event: download}, points: 30}
  - {id: visit, when: {event: page_view}, points: 0}
"""
)


def test_a_lead_is_marked_cold_once_from_the_moment_it_became_cold():
    ann = Lead(COLD)
    ann.feed(event("download", day=0), event("page_view", day=10))  # the visit gives nothing
    assert cold_due_at(COLD, ann.state) == T0 + 45 * DAY
    assert mark_cold(COLD, ann.state, T0 + 45 * DAY - 1).changes == [] and ann.state.cold_since is None
    outcome = mark_cold(COLD, ann.state, T0 + 60 * DAY)  # the schedule ran late: cold since day 45 all the same
    assert ann.state.cold_since == T0 + 45 * DAY
    assert [(c.rule, c.dimension, c.before, c.after) for c in outcome.changes] == [("cold_lead", "cold", False, True)]
    assert outcome.changes[0].why == "cold lead: no score increase for 45d (since 2026-05-28T00:00:00Z)"
    assert (outcome.score_before, outcome.score_after) == (30, 30)
    stored = snapshot(ann.state)
    assert mark_cold(COLD, ann.state, T0 + 61 * DAY).changes == [] and snapshot(ann.state) == stored
    assert cold_due_at(COLD, ann.state) is None
    facts = view(COLD, ann.state, T0 + 61 * DAY)
    assert facts["cold"] is True and facts["cold_since"] == T0 + 45 * DAY


def test_a_lead_that_never_increased_is_cold_counted_from_its_first_event():
    ann = Lead(COLD)
    ann.feed(event("page_view", day=3), event("page_view", day=20))
    assert ann.state.last_increase == 0
    assert cold_due_at(COLD, ann.state) == T0 + 48 * DAY
    mark_cold(COLD, ann.state, T0 + 50 * DAY)
    assert ann.state.cold_since == T0 + 48 * DAY


def test_a_scoring_event_clears_cold_and_an_event_without_points_does_not():
    ann = Lead(COLD)
    ann.feed(event("download", day=0))
    mark_cold(COLD, ann.state, T0 + 50 * DAY)
    quiet = ann.feed(event("page_view", day=55))
    assert ann.state.cold_since == T0 + 45 * DAY and all(c.dimension != "cold" for c in quiet.changes)
    back = ann.feed(event("download", day=56, id="again"))
    assert ann.state.cold_since is None
    assert [
        (c.event_id, c.rule, c.dimension, c.before, c.after, c.why) for c in back.changes if c.dimension == "cold"
    ] == [("again", "activity", "cold", True, False, "active again")]
    assert cold_due_at(COLD, ann.state) == T0 + (56 + 45) * DAY
    assert view(COLD, ann.state, T0 + 57 * DAY)["cold"] is False


def test_the_view_says_what_mark_cold_would_before_it_runs():
    ann = Lead(COLD)
    ann.feed(event("download", day=0))
    assert view(COLD, ann.state, T0 + 45 * DAY - 1)["cold_since"] is None
    unmarked = view(COLD, ann.state, T0 + 50 * DAY)
    mark_cold(COLD, ann.state, T0 + 50 * DAY)
    assert unmarked == view(COLD, ann.state, T0 + 50 * DAY)
    assert unmarked["cold"] is True and unmarked["cold_since"] == T0 + 45 * DAY


def test_no_cold_marking_without_cold_lead_or_events():
    plain = model("rules:\n  - {id: wp, when: {event: download}, points: 30}\n")
    ann = Lead(plain)
    ann.feed(event("download"))
    assert cold_due_at(plain, ann.state) is None and mark_cold(plain, ann.state, T0 + 999 * DAY).changes == []
    assert view(plain, ann.state, T0 + 999 * DAY)["cold"] is False
    assert cold_due_at(COLD, new_lead(COLD, LEAD)) is None


def test_states_stored_before_cold_since_still_load():
    ann = Lead(COLD)
    ann.feed(event("download"))
    older = json.loads(json.dumps(ann.state.to_dict()))
    del older["cold_since"]
    assert LeadState.from_dict(older).cold_since is None
    mark_cold(COLD, ann.state, T0 + 45 * DAY)
    stored = json.loads(json.dumps(ann.state.to_dict()))
    assert LeadState.from_dict(stored) == ann.state and ann.state.clone() == ann.state


# --- decay moves stages and re-arms alerts --------------------------------------------------------

STAGED = model(
    """
alerts:
  lead: {threshold: 60, rearm_below: 40}
decay: {after_inactive: 10d, every: 5d, percent: 50%}
rules:
  - {id: demo, when: {event: webinar_attend}, points: 70}
"""
)


def test_decay_moves_a_lead_back_a_stage_and_rearms_its_alert():
    ann = Lead(STAGED)
    fired = ann.feed(event("webinar_attend", day=0))
    assert ann.state.stage == "decision" and len(fired.alerts) == 1 and ann.state.disarmed == ["lead"]
    outcome = apply_decay(STAGED, ann.state, T0 + 10 * DAY)  # 70 -> 35
    assert [(c.rule, c.dimension, c.before, c.after) for c in outcome.changes] == [
        ("decay", "engagement", 70, 35),
        ("stage", "stage", "decision", "consideration"),
    ]
    assert outcome.changes[1].why == "score 35 after decay"
    assert (outcome.stage_before, outcome.stage_after) == ("decision", "consideration")
    assert ann.state.stage_history[-1] == ("consideration", T0 + 10 * DAY, "score 35 after decay")
    assert ann.state.disarmed == [] and outcome.alerts == []  # re-armed: below 40
    again = ann.feed(event("webinar_attend", day=11))
    assert [a.name for a in again.alerts] == ["lead"]


# --- simulate --at equals the scheduled path ------------------------------------------------------


def test_simulate_at_equals_decay_and_cold_marking_run_every_day():
    events = [
        Event("w1", "webinar_attend", LEAD, LAST_ACTIVITY, {}),
        Event("d1", "download", LEAD, LAST_ACTIVITY + HOUR, {"asset": "dp"}),
        Event("s1", "download", LEAD, LAST_ACTIVITY + HOUR, {"asset": "sec"}),
    ]
    end = LAST_ACTIVITY + 50 * DAY
    simulated = simulate(WORKED, events, at=end)
    scheduled = new_lead(WORKED, LEAD)
    for item in events:
        apply_event(WORKED, scheduled, item)
    day = at(2026, 10, 2)
    while day <= end:  # the daily schedule, at midnight
        apply_decay(WORKED, scheduled, day)
        mark_cold(WORKED, scheduled, day)
        day += DAY
    apply_decay(WORKED, scheduled, end)
    mark_cold(WORKED, scheduled, end)
    mine = simulated.leads[LEAD]
    for name in ("engagement", "extras", "decay_steps", "stage", "cold_since"):
        assert getattr(mine, name) == getattr(scheduled, name), name
    lead_view = simulated.report()["leads"][0]
    assert lead_view["engagement"] == 36.45  # steps due on days 30, 37 and 44 after 09:00
    assert lead_view["extras"] == {"data_platform": 20 * 0.9 * 0.9 * 0.9, "security": 20}
    # the downloads raise product scores only: the main score last rose with the webinar
    assert lead_view["cold"] is True and lead_view["cold_since"] == LAST_ACTIVITY + 45 * DAY


# --- properties -----------------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS = {
    "percent": model(
        """
decay: {after_inactive: 5d, every: 2d, percent: 30%, floor: 3}
cold_lead: {no_increase_for: 20d}
scores: {dp: {decay: true, floor: 1}, sec: {}}
stages:
  - {id: low, min: 0, max: 19}
  - {id: high, min: 20}
rules:
  - {id: v, when: {event: page_view}, points: 1, scores: [main, dp, sec]}
"""
    ),
    "points": model(
        """
decay: {after_inactive: 3d, every: 1d, points: 7, floor: 2}
cold_lead: {no_increase_for: 9d}
scores: {dp: {decay: true}, sec: {}}
rules:
  - {id: v, when: {event: page_view}, points: 1, scores: [main, dp, sec]}
"""
    ),
}
values = st.floats(min_value=0, max_value=500, allow_nan=False)


@PROPERTY
@given(
    kind=st.sampled_from(sorted(MODELS)),
    engagement=values,
    dp=values,
    sec=values,
    times=st.lists(st.integers(min_value=0, max_value=120 * int(DAY)), min_size=1, max_size=8),
)
def test_decay_calls_at_increasing_times_equal_one_call_at_the_last(kind, engagement, dp, sec, times):
    compiled = MODELS[kind]
    floor = compiled.spec.decay.floor

    def fresh() -> LeadState:
        state = new_lead(compiled, LEAD)
        apply_event(compiled, state, Event("e", "page_view", LEAD, T0, {}))
        state.engagement, state.extras = engagement, {"dp": dp, "sec": sec}
        return state

    many, once = fresh(), fresh()
    for offset in sorted(times):
        apply_decay(compiled, many, T0 + offset)
        mark_cold(compiled, many, T0 + offset)
        assert many.engagement >= min(floor, engagement)
        assert many.extras["dp"] >= min(compiled.extra_floors["dp"], dp) and many.extras["sec"] == sec
    last = T0 + max(times)
    apply_decay(compiled, once, last)
    mark_cold(compiled, once, last)
    for name in ("engagement", "extras", "decay_steps", "stage", "disarmed", "cold_since"):
        assert getattr(many, name) == getattr(once, name), name
    assert apply_decay(compiled, once, last).changes == [] and mark_cold(compiled, once, last).changes == []


@PROPERTY
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=90 * int(DAY)), min_size=1, max_size=12),
    woken_at=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_the_due_index_entry_is_never_later_than_the_due_time_and_moves_only_when_it_must(gaps, woken_at):
    """Events move the DueIndex entry only when their due time comes earlier than it; a visit writes the exact time."""
    from leadscore.service.scoring import due_to_index, next_due_at

    compiled = MODELS["percent"]
    state = new_lead(compiled, LEAD)
    indexed, ts, rewrites = None, T0, 0
    for n, (gap, woken) in enumerate(zip(gaps, woken_at, strict=False)):
        ts += gap
        apply_decay(compiled, state, ts)
        apply_event(compiled, state, Event(f"e{n}", "page_view", LEAD, ts, {}))
        exact = next_due_at(compiled, state)
        entry = due_to_index(indexed, exact, woken)
        assert (entry is None) == (exact is None) and (entry is None or entry <= exact)
        if woken:
            assert entry == exact  # the schedule's visit leaves the exact time
        elif indexed is not None and exact is not None and indexed <= exact:
            assert entry == indexed  # postponed: the entry stays (no index write)
        rewrites += entry != indexed
        indexed = entry
    assert rewrites <= 1 + sum(woken_at[: len(gaps)])  # the first save, then only visits


def test_the_due_index_entry_comes_earlier_when_the_due_time_does():
    from leadscore.service.scoring import due_to_index

    assert due_to_index(None, 100.0, woken=False) == 100.0
    assert due_to_index(100.0, 250.0, woken=False) == 100.0
    assert due_to_index(300.0, 250.0, woken=False) == 250.0
    assert due_to_index(100.0, 250.0, woken=True) == 250.0
    assert due_to_index(100.0, None, woken=False) is None
