"""The scoring service on real DynamoDB semantics: atomic saves, duplicates, concurrency,
identity, accounts, retention, throttling, and the number of DynamoDB calls per batch."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.stub import Stubber

from leadscore.adapters.dynamodb import (
    INLINE_MEMBERS,
    AccountItem,
    EventLogItem,
    HistoryItem,
    LeadCommit,
    LeadItem,
    RetryableStorageError,
    VersionConflict,
    inline_scores,
)
from leadscore.core.engine import new_lead
from leadscore.core.events import parse_event
from leadscore.service.scoring import AcceptedEvent

COUNTING = """
alerts:
  account: {threshold: 40, rearm_below: 10}
accounts: {aggregate: sum}
rules:
  - {id: visit, when: {event: page_view}, points: 1}
  - {id: wp, when: {event: download}, points: 30, limit: once}
  - {id: director, fit: {job_title: {contains: director}}, points: 10}
"""


def accepted(
    event_id: str, email: str = "ann@acme.example", type_: str = "page_view", at: str = "2026-11-20T10:00:00Z", **extra
) -> AcceptedEvent:
    raw = {"id": event_id, "type": type_, "email": email, "timestamp": at, "properties": {}, **extra}
    return AcceptedEvent(parse_event(raw), raw, f"m-{event_id}")


def history_deltas(repository, lead: str, dimension: str = "engagement") -> float:
    """The lead's history as read back (items written out and records waiting in the lead item)."""
    return sum(
        change["delta"]
        for entry in repository.history(lead, limit=100_000)
        for change in entry["changes"]
        if change["dimension"] == dimension
    )


def logged_ids(repository, lead: str) -> list[str]:
    return [entry["id"] for entry in repository.logged_entries(lead)]


def test_a_save_is_atomic_and_versioned(engine):
    repository = engine.repository
    state = new_lead(engine.service().model, "ann@acme.example")
    assert repository.commit(LeadCommit(state, 0, 0.0, "v1")) == 1
    stored = repository.load("ann@acme.example")
    assert stored.version == 1 and stored.state == state
    with pytest.raises(VersionConflict):
        repository.commit(LeadCommit(state, 0, 0.0, "v1"))  # someone created it first
    with pytest.raises(VersionConflict):
        repository.commit(LeadCommit(state, 5, 0.0, "v1"))  # stale version
    # the next save, as the service makes it: from the account membership and score it read
    saved = LeadCommit(state, 1, 0.0, "v1", previous_account=state.account, previous_score=0.0)
    assert repository.commit(saved) == 2


def test_every_event_delivered_three_times_counts_once(engine):
    service = engine.service(COUNTING)
    events = [accepted(f"e{i}", at=f"2026-11-20T10:0{i}:00Z") for i in range(5)] + [accepted("d1", type_="download")]
    # three deliveries: one batch with every event twice, then each event again in its own batch
    first = service.score(events + events)
    later = [service.score([item]) for item in events]
    assert first.failed_message_ids == [] and all(not r.failed_message_ids for r in later)
    assert first.scored == 6 and first.duplicates == 6
    assert sum(r.duplicates for r in later) == 6 and sum(r.scored for r in later) == 0
    stored = engine.repository.load("ann@acme.example")
    assert stored.state.engagement == 35
    assert history_deltas(engine.repository, "ann@acme.example") == 35  # totals equal the sum of the history
    assert stored.version == 1  # one save: the first batch
    assert sorted(logged_ids(engine.repository, "ann@acme.example")) == ["d1", "e0", "e1", "e2", "e3", "e4"]


def test_fifty_parallel_updates_of_one_lead_add_up_exactly(engine):
    service = engine.service(COUNTING, max_attempts=200)
    items = [accepted(f"p{i}", at=f"2026-11-20T10:{i:02d}:00Z") for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda item: service.score([item]), items))
    assert [r.failed_message_ids for r in results] == [[]] * 50
    stored = engine.repository.load("ann@acme.example")
    assert stored.state.engagement == 50
    assert history_deltas(engine.repository, "ann@acme.example") == 50
    assert stored.version == 50  # one conditional write per successful batch


def test_fifty_parallel_leads_of_one_account_alert_once(engine):
    service = engine.service(COUNTING, max_attempts=50)
    items = [accepted(f"a{i}", email=f"buyer{i}@bigco.example") for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda item: service.score([item]), items))
    assert all(not r.failed_message_ids for r in results)
    members, disarmed = engine.repository.account_members("bigco.example")
    assert len(members) == 50 and sum(members.values()) == 50
    alerts = [alert for r in results for alert in r.alerts if alert.kind == "account_score"]
    assert len(alerts) == 1 and alerts[0].subject == "bigco.example"  # once per crossing
    assert disarmed == {"account"}


def test_anonymous_visits_are_credited_once_the_visitor_identifies(engine):
    service = engine.service(COUNTING)
    visit = {
        "id": "v1",
        "type": "page_view",
        "anonymous_id": "cookie-1",
        "timestamp": "2026-11-20T09:00:00Z",
        "properties": {},
    }
    service.score([AcceptedEvent(parse_event(visit), visit, "m-v1")])
    service.score(
        [accepted("i1", type_="identify", properties={"anonymous_id": "cookie-1"}, profile={"job_title": "Director"})]
    )
    later = {
        "id": "v2",
        "type": "page_view",
        "anonymous_id": "cookie-1",
        "timestamp": "2026-11-20T11:00:00Z",
        "properties": {},
    }
    service.score([AcceptedEvent(parse_event(later), later, "m-v2")])
    lead = engine.repository.load("ann@acme.example")
    assert lead.state.rule_points == {"visit": 2}
    assert lead.state.fit_rules == {"director": 10}
    assert engine.repository.load("anon:cookie-1").merged_into == "ann@acme.example"


def test_a_lead_moves_to_its_new_account(engine):
    service = engine.service(COUNTING)
    service.score([accepted("m1")])
    assert "ann@acme.example" in engine.repository.account_members("acme.example")[0]
    service.score([accepted("m2", type_="identify", profile={"company_id": "ACME-GROUP"}, at="2026-11-20T11:00:00Z")])
    assert engine.repository.account_members("acme.example")[0] == {}
    assert engine.repository.account_members("id:acme-group")[0] == {"ann@acme.example": 1}


def test_history_and_event_log_record_the_model_version_and_retention(engine):
    service = engine.service(COUNTING)
    before = time.time()
    service.score([accepted("h1", properties={"url": "https://x"})])
    # enough saves that the lead item writes its waiting history and log out as their own items
    for i in range(2, 40):
        service.score([accepted(f"h{i}", properties={"url": f"https://x/{i}"}, at=f"2026-11-20T10:{i:02d}:00Z")])
        if list(HistoryItem.query("ann@acme.example")):
            break
    history = list(HistoryItem.query("ann@acme.example"))[0]
    logged = list(EventLogItem.query("ann@acme.example"))[0]
    assert history.model_version == service.model.version
    first = json.loads(history.events)[0]
    assert first["changes"][0]["rule"] == "visit" and first["model_version"] == service.model.version
    assert history.expires_at is None  # history is kept (HistoryRetentionDays 0)
    assert json.loads(logged.events)[0]["payload"]["properties"] == {"url": "https://x"}
    assert before + 396 * 86400 - 5 <= logged.expires_at <= time.time() + 396 * 86400 + 5
    # what is read back is the same whether written out or still waiting in the lead item
    assert [entry["event_id"] for entry in engine.repository.history("ann@acme.example", 100)] == [
        f"h{i}" for i in range(LeadItem.get("ann@acme.example").version, 0, -1)
    ]
    lead = LeadItem.get("ann@acme.example")
    assert lead.model_version == service.model.version and lead.score == lead.version  # a point a visit


def test_throttling_fails_the_lead_messages_for_redelivery(engine):
    service = engine.service(COUNTING)
    client = LeadItem._get_connection().connection.client
    with Stubber(client) as stub:
        for _ in range(20):  # more than the SDK's own retries
            stub.add_client_error(
                "get_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
            )
        result = service.score([accepted("t1"), accepted("t2", email="bob@acme.example")])
    assert sorted(result.failed_message_ids) == ["m-t1", "m-t2"]
    with pytest.raises(RetryableStorageError), Stubber(client) as stub:
        for _ in range(20):
            stub.add_client_error("get_item", service_error_code="ThrottlingException", http_status_code=400)
        engine.repository.load("ann@acme.example")
    # and once the table answers again, the redelivered messages score normally
    assert service.score([accepted("t1"), accepted("t2", email="bob@acme.example")]).scored == 2


def test_dynamodb_calls_per_batch(engine):
    service = engine.service(COUNTING)
    clients = {
        id(client): client
        for client in (
            LeadItem._get_connection().connection.client,
            AccountItem._get_connection().connection.client,
            service.repository._connection.client,
        )
    }
    calls: list[str] = []

    def count(model, **_):
        calls.append(model.name)

    for client in clients.values():
        client.meta.events.register("before-call.dynamodb", count)
    try:
        service.score([accepted(f"c{i}", at=f"2026-11-20T10:0{i}:00Z") for i in range(10)])
        first = list(calls)
        calls.clear()
        service.score([accepted(f"d{i}", at=f"2026-11-20T11:0{i}:00Z") for i in range(10)])
    finally:
        for client in clients.values():
            client.meta.events.unregister("before-call.dynamodb", count)
    # one read of the lead, one of its account's summary (how the account keeps its members),
    # ONE transaction when it joins the account (lead, history item, event-log item, the member in
    # the summary), one read of the summary after it (whatever the account's size), and a second
    # transaction only when the account moves stage (here it enters its first one)
    assert first == ["GetItem", "GetItem", "TransactWriteItems", "GetItem", "TransactWriteItems"]
    # a member of a small account whose score moves: the lead alone (one PutItem), then its score
    # in the account's summary (one UpdateItem), no transaction doubling either
    assert calls == ["GetItem", "GetItem", "PutItem", "UpdateItem", "GetItem"]


def test_a_small_account_is_one_item_and_a_large_one_an_item_per_member(engine):
    service = engine.service(COUNTING)
    service.score([accepted("x1"), accepted("x2", email="bob@acme.example")])
    items = list(AccountItem.query("acme.example"))
    # a small account: its summary, holding its members' scores (and its counted stage)
    assert [item.sk for item in items] == ["#summary"]
    assert inline_scores(items[0]) == {"ann@acme.example": 1.0, "bob@acme.example": 1.0}
    # past INLINE_MEMBERS members, no item grows with the account: one item per member
    service.score([accepted(f"y{i}", email=f"m{i}@acme.example") for i in range(INLINE_MEMBERS)])
    keys = sorted(item.sk for item in AccountItem.query("acme.example"))
    assert keys == sorted(["#summary", "member#ann@acme.example", "member#bob@acme.example"] +
                          [f"member#m{i}@acme.example" for i in range(INLINE_MEMBERS)])  # fmt: skip


def test_a_late_event_is_not_scored_but_kept_in_the_event_log(engine):
    service = engine.service(COUNTING)
    service.score([accepted("new", at="2026-11-20T10:00:00Z")])
    result = service.score([accepted("old", at="2026-11-01T10:00:00Z")])  # 19 days behind, window 7d
    assert (result.scored, result.late, result.failed_message_ids) == (0, 1, [])
    assert engine.repository.load("ann@acme.example").state.engagement == 1
    assert sorted(logged_ids(engine.repository, "ann@acme.example")) == ["new", "old"]  # nothing valid is lost
