"""A lead's stored state has a hard size bound whatever arrives, and stays exact under redelivery.

The lead item is rewritten whole on every save (inside a transaction, at double cost), so its
size is the price of every event, and DynamoDB refuses items over 400 KB. These tests drive the
shipped model with floods, huge profiles and redeliveries, and measure the state as stored.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import LEAD, T0, Lead, event, model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.core.compiler import compile_model
from leadscore.core.engine import apply_event, new_lead
from leadscore.core.loader import load_model
from leadscore.core.state import (
    MAX_PROFILE_BYTES,
    MAX_SEEN_IDS,
    MAX_STAGE_HISTORY,
    Event,
    LeadState,
    event_key,
    pack_seen,
)
from leadscore.core.units import DAY

SHIPPED = compile_model(load_model(Path(__file__).resolve().parents[2] / "rules"))
ITEM_BOUND = 100 * 1024  # what the README promises for a lead item, all attributes included
ITEM_OVERHEAD = 512  # the item's other attributes: key, version, score, stage, account, model version


def stored_size(state: LeadState) -> int:
    """Bytes of the lead item's state attribute as the repository writes it."""
    return len(json.dumps(state.to_dict(), separators=(",", ":")).encode())


EVENT_SHAPES = [
    ("page_view", {"url": "https://fjordline.example/pricing"}),
    ("download", {"asset": "whitepaper-data-governance"}),
    ("email_click", {"campaign": "q4-offer", "email_kind": "offer"}),
    ("video_play", {"video": "lakehouse-demo", "percent": 90}),
    ("webinar_attend", {"webinar": "lakehouse-101"}),
    ("email_unsubscribe", {"campaign": "oct-newsletter"}),
]


@st.composite
def bursts(draw: st.DrawFn) -> list[Event]:
    """Sequences a bot, a replaying client or a hostile form could send for one lead."""
    events: list[Event] = []
    clock = T0
    for burst in range(draw(st.integers(1, 4))):
        count = draw(st.integers(1, 1500))
        spacing = draw(st.sampled_from([0.0, 0.001, 1.0, 60.0, 3600.0]))
        back = draw(st.sampled_from([0.0, 0.0, 3 * DAY, 9 * DAY]))  # late and out-of-order arrivals
        shape = draw(st.sampled_from(EVENT_SHAPES))
        profile_keys = draw(st.integers(0, 3))
        value_size = draw(st.sampled_from([1, 200, 2000, 15000]))
        for i in range(count):
            profile = (
                {f"field_{burst}_{i % 400}_{k}": "x" * value_size for k in range(profile_keys)}
                if profile_keys
                else None
            )
            events.append(
                Event(f"b{burst}-{i}", shape[0], LEAD, clock - back + i * spacing, dict(shape[1]), profile)
            )
        clock += count * spacing + draw(st.sampled_from([0.0, DAY, 40 * DAY]))
    redeliver = draw(st.integers(0, 200))
    return events + events[:redeliver]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bursts())
def test_no_input_sequence_pushes_a_lead_item_over_the_bound(events: list[Event]) -> None:
    state = new_lead(SHIPPED, LEAD)
    largest = 0
    for item in events:
        apply_event(SHIPPED, state, item)
        if len(state.seen) == MAX_SEEN_IDS or (item.profile and len(state.profile) % 16 == 0):
            largest = max(largest, stored_size(state))
    largest = max(largest, stored_size(state))
    assert largest + ITEM_OVERHEAD < ITEM_BOUND
    assert len(state.seen) <= MAX_SEEN_IDS
    assert len(state.stage_history) <= MAX_STAGE_HISTORY


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bursts())
def test_every_event_id_is_credited_at_most_once_even_past_the_bound(events: list[Event]) -> None:
    state = new_lead(SHIPPED, LEAD)
    scored: dict[str, int] = {}
    for item in events:
        outcome = apply_event(SHIPPED, state, item)
        if outcome.status == "scored":
            scored[item.id] = scored.get(item.id, 0) + 1
    assert all(count == 1 for count in scored.values())


def test_a_flood_of_20000_distinct_events_keeps_the_state_bounded_and_redelivery_exact() -> None:
    # Given a bot posting 20,000 distinct page views for one lead within a day
    state = new_lead(SHIPPED, LEAD)
    flood = [Event(f"bot-{i}", "page_view", LEAD, T0 + i * 4.0, {"url": "https://x.example/pricing"}) for i in range(20_000)]
    for item in flood:
        apply_event(SHIPPED, state, item)
    score = state.engagement
    # Then the remembered ids stay under the bound, and the state is a few kilobytes
    assert len(state.seen) <= MAX_SEEN_IDS
    assert stored_size(state) < 24 * 1024
    # And redelivering every one of them changes nothing: each is a duplicate or (forgotten) late
    statuses = {apply_event(SHIPPED, state, item).status for item in flood}
    assert statuses <= {"duplicate", "late"}
    assert state.engagement == score
    # And a real event after the flood is scored as usual
    assert apply_event(SHIPPED, state, Event("human", "download", LEAD, T0 + 90_000, {"asset": "whitepaper-x"})).status == "scored"


def test_forgetting_ids_makes_older_events_late_not_scored_twice() -> None:
    compiled = model("rules:\n  - {id: v, when: {event: page_view}, points: 1}\n")
    ann = Lead(compiled)
    ann.feed(*[event("page_view", day=i / 10_000, id=f"p{i}") for i in range(MAX_SEEN_IDS + 1)])
    assert ann.state.engagement == MAX_SEEN_IDS + 1
    assert ann.state.seen_floor > T0  # the oldest ids were forgotten...
    assert ann.feed(event("page_view", day=0, id="p0")).status == "late"  # ...so their time is late
    assert ann.feed(event("page_view", day=MAX_SEEN_IDS / 10_000, id=f"p{MAX_SEEN_IDS}")).status == "duplicate"
    assert ann.state.engagement == MAX_SEEN_IDS + 1


def test_a_late_event_is_remembered_so_its_redelivery_is_a_duplicate() -> None:
    compiled = model("late_events_window: 2d\nrules:\n  - {id: v, when: {event: page_view}, points: 1}\n")
    ann = Lead(compiled)
    ann.feed(event("page_view", day=10))
    old = event("page_view", day=1, id="old")
    assert ann.feed(old).status == "late"
    assert ann.feed(old).status == "duplicate"  # the consumer logs a late event once, not per delivery


def test_the_profile_is_bounded_and_says_what_it_did_not_store() -> None:
    compiled = model("rules:\n  - {id: senior, fit: {job_title: {contains: [chief]}}, points: 10}\n")
    ann = Lead(compiled)
    outcome = ann.feed(event("identify", profile={f"f{i}": "x" * 1000 for i in range(40)}))
    assert len(json.dumps(ann.state.profile)) <= MAX_PROFILE_BYTES
    assert any(skip.rule == "profile" and "not stored" in skip.reason for skip in outcome.skipped)
    # Removing or replacing fields still works when full, and fit follows the stored profile
    ann.feed(event("identify", profile={"f0": "", "job_title": "Chief Data Officer"}))
    assert ann.state.profile["job_title"] == "Chief Data Officer" and "f0" not in ann.state.profile
    assert ann.state.fit_rules == {"senior": 10}


def test_stage_history_keeps_its_first_entry_and_the_latest_moves() -> None:
    compiled = model(
        "stages:\n  - {id: a, min: 0, max: 9}\n  - {id: b, min: 10}\n"
        "rules:\n  - {id: up, when: {event: download}, points: 10}\n  - {id: down, when: {event: email_unsubscribe}, points: -10}\n"
    )
    ann = Lead(compiled)
    for i in range(200):
        ann.feed(event("download", day=i), event("email_unsubscribe", day=i + 0.5))
    history = ann.state.stage_history
    assert len(history) == MAX_STAGE_HISTORY
    assert history[0][2] == "first seen" and history[-1][0] == "a"
    assert history[-1][1] == T0 + 199.5 * DAY


def test_remembered_ids_round_trip_and_older_states_still_load() -> None:
    state = new_lead(SHIPPED, LEAD)
    for i in range(50):
        apply_event(SHIPPED, state, Event(f"e{i}", "page_view", LEAD, T0 + i, {"url": "/"}))
    stored = json.loads(json.dumps(state.to_dict()))
    assert len(stored["seen"]) == 50 * 16  # 12 bytes an id, base64
    assert LeadState.from_dict(stored).to_dict() == state.to_dict()
    legacy = dict(stored, seen={f"e{i}": T0 + i for i in range(50)})  # how states were stored before
    assert LeadState.from_dict(legacy).seen == state.seen
    assert pack_seen({event_key("a"): -5})  # times outside 1970..2106 are clamped, never an error
