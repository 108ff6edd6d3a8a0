"""Property-based tests: what holds for every sequence of events, not just the examples."""

from __future__ import annotations

import copy
import json

from conftest import T0, event, model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.core.compiler import period_bucket
from leadscore.core.engine import apply_decay, apply_event, main_score, new_lead, score_event
from leadscore.core.state import Event
from leadscore.core.units import DAY

# Only positive points, no cooldowns: arrival order must not matter for this model.
ORDER_FREE = model(
    """
late_events_window: 30d
scores: {analytics: {}}
groups: {email: {cap: 12}}
rules:
  - {id: visit, when: {event: page_view}, points: 2, limit: {max: 3, per: day}, stage: awareness}
  - {id: docs, when: {event: page_view, url: "*/docs/*"}, points: 3, scores: [main, analytics], cap: 20}
  - {id: wp, when: {event: download, asset: "whitepaper-*"}, readiness: 30%, limit: once, stage: consideration}
  - {id: open, when: {event: email_open}, points: 4, group: email, limit: {max: 2, per: week}}
  - {id: click, when: {event: email_click}, points: 5, group: email}
  - {id: webinar, when: {event: webinar_attend}, points: 10, limit: {max: 1, per: month}, stage: decision}
  - {id: title, fit: {job_title: {contains: director}}, readiness: 35%}
  - {id: size, fit: {employees: {min: 100}}, readiness: 30%}
"""
)

# Mixed signs, cooldowns and floors: order may matter, but the invariants must hold.
MIXED = model(
    """
late_events_window: 30d
floor: 0
scores: {analytics: {floor: 0}}
decay: {after_inactive: 5d, every: 2d, percent: 30%, floor: 3}
rules:
  - {id: visit, when: {event: page_view}, points: 2, limit: {max: 3, per: day}}
  - {id: click, when: {event: email_click}, points: 5, limit: {cooldown: 2h}}
  - {id: unsub, when: {event: email_unsubscribe}, points: -15, scores: [main, analytics]}
  - {id: docs, when: {event: page_view, url: "*/docs/*"}, points: 3, scores: [analytics], cap: 9}
  - {id: title, fit: {job_title: {contains: director}}, readiness: 45%}
  - {id: student, fit: {job_title: {contains: student}}, points: -30}
"""
)

TYPES = ["page_view", "download", "email_open", "email_click", "webinar_attend", "email_unsubscribe", "identify"]
URLS = ["/", "/docs/a", "/blog/x", "/docs/b"]
ASSETS = ["whitepaper-1", "whitepaper-2", "ebook-1"]
TITLES = ["Director", "Student", "Engineer", None]


@st.composite
def events(draw, max_size: int = 30) -> list[Event]:
    count = draw(st.integers(min_value=1, max_value=max_size))
    result = []
    for index in range(count):
        kind = draw(st.sampled_from(TYPES))
        when = T0 + draw(st.integers(min_value=0, max_value=20 * 24)) * 3600.0
        properties: dict = {}
        profile = None
        if kind == "page_view":
            properties["url"] = draw(st.sampled_from(URLS))
        elif kind == "download":
            properties["asset"] = draw(st.sampled_from(ASSETS))
        elif kind == "identify":
            profile = {"job_title": draw(st.sampled_from(TITLES)), "employees": draw(st.sampled_from([10, 500, None]))}
        result.append(Event(f"e{index}", kind, "ann@acme.com", when, properties, profile))
    return result


def replay(compiled, items):
    state = new_lead(compiled, "ann@acme.com")
    outcomes = [apply_event(compiled, state, item) for item in items]
    return state, outcomes


def points_by_rule_or_group(compiled, state) -> dict:
    """Within a capped group, which rule took the clipped part depends on order; the total does not."""
    totals: dict[str, float] = {}
    for rule_id, points in state.rule_points.items():
        key = compiled.rules[rule_id].group or rule_id
        totals[key] = round(totals.get(key, 0.0) + points, 9)
    return {key: value for key, value in totals.items() if value}


def summary(compiled, state) -> dict:
    return {
        "score": main_score(compiled, state),
        "engagement": state.engagement,
        "fit": state.fit_rules,
        "extras": state.extras,
        "counters": state.counters,
        "rule_points": points_by_rule_or_group(compiled, state),
        "rule_fires": {k: n for k, n in state.rule_fires.items() if compiled.rules[k].group is None},
    }


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(items=events(), data=st.data())
def test_any_arrival_order_gives_the_same_final_state(items, data):
    shuffled = data.draw(st.permutations(items))
    # profiles are last-writer-wins by arrival, so give every identify the same profile
    same_profile = [e._replace(profile={"job_title": "Director", "employees": 500}) if e.profile else e for e in items]
    shuffled = [e._replace(profile={"job_title": "Director", "employees": 500}) if e.profile else e for e in shuffled]
    ordered_state, _ = replay(ORDER_FREE, sorted(same_profile, key=lambda e: e.ts))
    shuffled_state, _ = replay(ORDER_FREE, shuffled)
    assert summary(ORDER_FREE, shuffled_state) == summary(ORDER_FREE, ordered_state)


@PROPERTY
@given(items=events(), copies=st.lists(st.integers(min_value=1, max_value=3), min_size=30, max_size=30))
def test_delivering_each_event_several_times_counts_once(items, copies):
    redelivered = [item for item, n in zip(items, copies, strict=False) for _ in range(n)]
    for compiled in (ORDER_FREE, MIXED):
        once_state, _ = replay(compiled, items)
        many_state, outcomes = replay(compiled, redelivered)
        assert summary(compiled, many_state) == summary(compiled, once_state)
        assert sum(o.status == "duplicate" for o in outcomes) == len(redelivered) - len(items)


@PROPERTY
@given(items=events())
def test_scoring_is_deterministic(items):
    for compiled in (ORDER_FREE, MIXED):
        first, first_outcomes = replay(compiled, items)
        second, second_outcomes = replay(compiled, items)
        assert first == second and first_outcomes == second_outcomes


@PROPERTY
@given(items=events())
def test_explicit_cap_limits_and_caps_always_hold(items):
    state, _ = replay(ORDER_FREE, items)
    fit = sum(state.fit_rules.values())
    assert main_score(ORDER_FREE, state) <= min(fit, ORDER_FREE.fit_cap) + state.engagement + 1e-9
    assert state.rule_fires.get("wp", 0) <= 1
    assert state.rule_points.get("docs", 0) <= 20
    assert state.rule_points.get("open", 0) + state.rule_points.get("click", 0) <= 12
    for counts, limit in ((state.buckets.get("visit", {}), 3), (state.buckets.get("open", {}), 2)):
        assert all(n <= limit for n in counts.values())
    visits_by_day: dict[int, int] = {}
    for item in items:
        if item.type == "page_view":
            day = period_bucket("day", item.ts)
            visits_by_day[day] = visits_by_day.get(day, 0) + 1
    assert state.rule_fires.get("visit", 0) == sum(min(3, n) for n in visits_by_day.values())


@PROPERTY
@given(items=events(), decay_days=st.lists(st.integers(min_value=0, max_value=60), max_size=5))
def test_scores_never_go_below_their_floors_even_with_decay(items, decay_days):
    state = new_lead(MIXED, "ann@acme.com")
    for item in sorted(items, key=lambda e: e.ts):
        apply_event(MIXED, state, item)
        assert state.engagement >= 0 and main_score(MIXED, state) >= 0
        assert all(value >= 0 for value in state.extras.values())
    engagement_before_decay = state.engagement
    for day in sorted(decay_days):
        apply_decay(MIXED, state, T0 + (21 + day) * DAY)
        assert state.engagement >= min(3, engagement_before_decay)
        assert main_score(MIXED, state) >= 0


@PROPERTY
@given(items=events())
def test_history_explains_every_point(items):
    state, outcomes = replay(MIXED, items)
    changes = [c for o in outcomes for c in o.changes]
    for dimension, value in (("engagement", state.engagement), ("fit", sum(state.fit_rules.values()))):
        moves = [c for c in changes if c.dimension == dimension]
        # each change links to the previous one, and the last one is the current value
        assert all(later.before == earlier.after for earlier, later in zip(moves, moves[1:], strict=False))
        if moves:
            assert moves[-1].after == value
    for c in changes:
        if c.dimension in ("engagement", "fit") and c.after != c.before:
            assert c.rule and c.why and c.event_id


@PROPERTY
@given(items=events(max_size=15))
def test_score_event_never_mutates_its_input(items):
    state, _ = replay(MIXED, items[:-1])
    frozen = copy.deepcopy(state)
    snapshot = json.dumps(state.to_dict(), sort_keys=True)
    new_state, _ = score_event(MIXED, state, items[-1]._replace(id="fresh"))
    assert json.dumps(state.to_dict(), sort_keys=True) == snapshot and state == frozen
    assert new_state is not state


def test_history_sums_to_engagement_when_no_floor_clips():
    compiled = ORDER_FREE
    state = new_lead(compiled, "ann@acme.com")
    total = 0.0
    for item in [event("page_view", url="/docs/a", day=d / 3) for d in range(12)]:
        total += sum(c.delta for c in apply_event(compiled, state, item).changes if c.dimension == "engagement")
    assert total == state.engagement
