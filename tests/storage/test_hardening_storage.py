"""What the review found in the scoring path, on both engines: one lead's failure stays its own,
identities cannot be taken over, late events are logged once, history is immutable, and a lead
with a long anonymous past costs a bounded read."""

from __future__ import annotations

import hashlib

import pytest
from test_scoring_storage import COUNTING, accepted, logged_ids

from leadscore.adapters.dynamodb import HistoryItem, LeadCommit, ScoredEvent, VersionConflict, sort_key
from leadscore.core.events import parse_event
from leadscore.service.scoring import MAX_REPLAYED, AcceptedEvent

ACCOUNTS_BY_ID = COUNTING  # accounts match by company id first, then email domain (the default)


def visit(event_id: str, visitor: str, at: str = "2026-11-20T09:00:00Z") -> AcceptedEvent:
    raw = {"id": event_id, "type": "page_view", "anonymous_id": visitor, "timestamp": at, "properties": {}}
    return AcceptedEvent(parse_event(raw), raw, f"m-{event_id}")


def test_an_exception_for_one_lead_fails_only_that_leads_messages(engine, monkeypatch):
    # Given a batch of ten leads, one of which cannot be loaded for a reason nobody foresaw
    service = engine.service(COUNTING)
    load = service.repository.load

    def broken_for_one(lead: str):
        if lead == "bad@acme.example":
            raise OverflowError("int too large to convert to float")
        return load(lead)

    monkeypatch.setattr(service.repository, "load", broken_for_one)
    batch = [accepted(f"e{i}", email=f"lead{i}@acme.example") for i in range(9)] + [
        accepted("bad", email="bad@acme.example")
    ]
    # When the batch is scored
    result = service.score(batch)
    # Then only the bad lead's message is reported for redelivery, with the reason, and the nine are scored
    assert result.failed_message_ids == ["m-bad"]
    assert result.failures == [("bad@acme.example", "OverflowError: int too large to convert to float")]
    assert result.scored == 9
    assert all(engine.repository.load(f"lead{i}@acme.example").state.engagement == 1 for i in range(9))


def test_a_public_form_cannot_set_a_trusted_field(engine):
    service = engine.service(ACCOUNTS_BY_ID)
    service.score([accepted("crm", type_="identify", profile={"company_id": "ACME-42"})])
    assert engine.repository.load("ann@acme.example").state.account == "id:acme-42"
    # A form event that carries the account key (as if it slipped past the door) moves nothing
    form = accepted(
        "f1", type_="form_submit", at="2026-11-20T11:00:00Z", profile={"company_id": "RIVAL", "job_title": "Director"}
    )
    service.score([AcceptedEvent(form.event, form.raw, form.message_id, source="form")])
    lead = engine.repository.load("ann@acme.example").state
    assert lead.account == "id:acme-42" and lead.profile["company_id"] == "ACME-42"
    assert lead.profile["job_title"] == "Director"  # the rest of the answers count


def test_a_visitor_linked_to_one_lead_cannot_be_claimed_by_another(engine):
    service = engine.service(COUNTING)
    service.score([visit("v1", "cookie-1"), visit("v2", "cookie-1", "2026-11-20T09:30:00Z")])
    service.score([accepted("i1", type_="identify", properties={"anonymous_id": "cookie-1"})])
    # When another lead claims the same visitor id
    result = service.score(
        [accepted("i2", email="mallory@rival.example", type_="identify", properties={"anonymous_id": "cookie-1"})]
    )
    # Then the claim is refused and reported, and the browsing stays with its first lead
    assert result.refused_links == [("anon:cookie-1", "ann@acme.example", "mallory@rival.example")]
    assert engine.repository.load("ann@acme.example").state.rule_points == {"visit": 2}
    assert engine.repository.load("mallory@rival.example").state.rule_points == {}


def test_a_long_anonymous_past_replays_only_its_newest_events(engine):
    service = engine.service(COUNTING)
    for start in range(0, MAX_REPLAYED + 30, 10):
        service.score(
            [visit(f"v{i}", "cookie-9", f"2026-11-20T{i // 60:02d}:{i % 60:02d}:00Z") for i in range(start, start + 10)]
        )
    service.score(
        [accepted("i1", type_="identify", at="2026-11-20T23:00:00Z", properties={"anonymous_id": "cookie-9"})]
    )
    assert engine.repository.load("ann@acme.example").state.rule_points == {"visit": MAX_REPLAYED}
    assert len(service.repository.logged_events("anon:cookie-9", newest=MAX_REPLAYED)) == MAX_REPLAYED


def test_a_late_event_redelivered_is_logged_once(engine):
    service = engine.service(COUNTING)
    service.score([accepted("new", at="2026-11-20T10:00:00Z")])
    late = accepted("old", at="2026-11-01T10:00:00Z")
    first, again = service.score([late]), service.score([late])
    assert (first.late, again.duplicates) == (1, 1)
    assert sorted(logged_ids(engine.repository, "ann@acme.example")) == ["new", "old"]


def test_history_items_are_written_once_and_never_replaced(engine):
    service = engine.service(COUNTING)
    service.score([accepted("e1")])
    stored = engine.repository.load("ann@acme.example")
    # a save whose history, with what waits in the lead item, is too much to keep waiting: written out
    plan = LeadCommit(stored.state, stored.version, 1.0, "v", pending=stored.pending)
    note = {"detail": "".join(hashlib.sha256(bytes([i])).hexdigest() for i in range(80))}  # 5 KB of hex: 2.5 compressed
    plan.scored.append(
        ScoredEvent("ann@acme.example", "e2", "page_view", 1_795_169_100.0, [], [], 1, 1, "a", "a", note)
    )
    # Given a history item already at the sort key it will be written out with (oldest waiting, new version)
    key = sort_key(1_795_168_800.0, stored.version + 1)  # e1's time (2026-11-20T10:00:00Z): the oldest
    HistoryItem("ann@acme.example", key, version=2, events="[]", model_version="x", recorded_at=0).save()
    # Then the save refuses to overwrite it (a conflict: reload and retry), and the old item is intact
    with pytest.raises(VersionConflict):
        engine.repository.commit(plan)
    assert HistoryItem.get("ann@acme.example", key).events == "[]"
    assert engine.repository.load("ann@acme.example").version == stored.version
