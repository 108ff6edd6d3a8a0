"""History and event log that wait in the lead's item (`pending`) until they fill it, on both
engines: every reader sees them as if they were written out, a visitor's wait for it is written
out when it becomes an alias, the export finds them, and what is written out is never lost."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace

from test_scoring_storage import COUNTING, accepted

from leadscore.adapters.dynamodb import EventLogItem, HistoryItem, LeadItem, LeadRepository, _merged, unpack_pending
from leadscore.cli.export import Progress, read_log
from leadscore.core.events import parse_event
from leadscore.service.scoring import AcceptedEvent, ScoringService

ANN = "ann@acme.example"


def visit(event_id: str, visitor: str, at: str) -> AcceptedEvent:
    raw = {"id": event_id, "type": "page_view", "anonymous_id": visitor, "timestamp": at, "properties": {}}
    return AcceptedEvent(parse_event(raw), raw, f"m-{event_id}")


def items(table, lead: str) -> list:
    return list(table.query(lead, consistent_read=True))


def test_a_lead_keeps_its_latest_saves_waiting_and_every_reader_sees_them(engine):
    service = engine.service(COUNTING)
    for i in range(3):
        service.score([accepted(f"v{i}", at=f"2026-11-20T10:0{i}:00Z")])
    # nothing written out yet: three saves, each one PutItem of the lead item
    assert items(HistoryItem, ANN) == [] and items(EventLogItem, ANN) == []
    waiting = unpack_pending(LeadItem.get(ANN, consistent_read=True).pending)
    assert [len(waiting["history"]), len(waiting["log"])] == [3, 3]
    repository = engine.repository
    history = repository.history(ANN, limit=10)
    assert [entry["event_id"] for entry in history] == ["v2", "v1", "v0"]  # newest first
    assert {entry["model_version"] for entry in history} == {service.model.version}
    assert [entry["id"] for entry in repository.logged_entries(ANN)] == ["v0", "v1", "v2"]
    assert [event["id"] for event in repository.logged_events(ANN, newest=2)] == ["v1", "v2"]
    assert repository.history_times(ANN) == [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:01:00Z",
        "2026-11-20T10:02:00Z",
    ]


def test_waiting_saves_are_written_out_once_they_would_fill_the_item_and_read_the_same(engine):
    service = engine.service(COUNTING)
    repository = engine.repository
    seen_out = 0
    for i in range(60):
        service.score([accepted(f"v{i:02d}", at=f"2026-11-20T10:{i:02d}:00Z", properties={"url": f"https://x/{i}"})])
        # read back the same whatever is written out and whatever still waits
        ids = [entry["event_id"] for entry in repository.history(ANN, limit=1000)]
        assert ids == [f"v{k:02d}" for k in range(i, -1, -1)], i
        assert [entry["id"] for entry in repository.logged_entries(ANN)] == [f"v{k:02d}" for k in range(i + 1)]
        seen_out = max(seen_out, len(items(HistoryItem, ANN)))
        assert LeadItem.get(ANN, consistent_read=True).version == i + 1
    assert seen_out >= 2  # written out more than once, each time as one history and one event-log item
    assert len(items(HistoryItem, ANN)) == len(items(EventLogItem, ANN))
    written = [entry["event_id"] for item in items(HistoryItem, ANN) for entry in json.loads(item.events)]
    waiting = [e["event_id"] for r in unpack_pending(LeadItem.get(ANN).pending)["history"] for e in r["entries"]]
    assert sorted(written + waiting) == [f"v{k:02d}" for k in range(60)]  # each event once, nowhere twice
    # the limit reads the newest only, in order
    assert [entry["event_id"] for entry in repository.history(ANN, limit=5)] == [f"v{k}" for k in range(59, 54, -1)]


def test_an_identified_visitor_has_its_waiting_log_written_out_as_it_becomes_an_alias(engine):
    service = engine.service(COUNTING)
    for i in range(3):
        service.score([visit(f"b{i}", "cookie-7", f"2026-11-20T09:0{i}:00Z")])
    assert items(EventLogItem, "anon:cookie-7") == []  # waiting in the visitor's item
    service.score(
        [accepted("i1", type_="identify", at="2026-11-20T10:00:00Z", properties={"anonymous_id": "cookie-7"})]
    )
    alias = LeadItem.get("anon:cookie-7", consistent_read=True)
    assert alias.merged_into == ANN and alias.pending is None
    # the visitor's own log is kept under its id (replay and erasure read it there)
    assert [entry["id"] for entry in engine.repository.logged_entries("anon:cookie-7")] == ["b0", "b1", "b2"]
    assert [entry["id"] for item in items(EventLogItem, "anon:cookie-7") for entry in json.loads(item.events)] == [
        "b0",
        "b1",
        "b2",
    ]
    # and the lead was credited with the browsing
    assert engine.repository.load(ANN).state.engagement == 3


def test_the_export_reads_the_log_still_waiting_in_lead_items(engine):
    service = engine.service(COUNTING)
    service.score([accepted("w1"), accepted("w2", email="bob@acme.example")])
    service.score([accepted(f"x{i}", at=f"2026-11-20T11:{i:02d}:00Z") for i in range(40)])  # written out
    entries = read_log(engine.repository.scan_event_log, 0.0, None, Progress(io.StringIO()), segments=3)
    ids = sorted(entry["id"] for entry in entries)
    assert ids == sorted(["w1", "w2", *(f"x{i}" for i in range(40))])
    assert {entry["lead"] for entry in entries if entry["id"] == "w2"} == {"bob@acme.example"}
    # the save-time window applies to each entry: none saved a minute from now, none an hour ago
    assert read_log(engine.repository.scan_event_log, time.time() + 60, None, Progress(io.StringIO()), 3) == []
    assert read_log(engine.repository.scan_event_log, 0.0, time.time() - 3600, Progress(io.StringIO()), 3) == []


def test_reading_stops_early_without_misplacing_older_waiting_records():
    written = [("2026-11-20T10:05:00Z#0000000005", ["e5"]), ("2026-11-20T10:03:00Z#0000000003", ["e3"])]
    waiting = [("2026-11-20T10:06:00Z#0000000006", ["e6"]), ("2026-11-20T10:01:00Z#0000000007", ["late"])]
    # enough after two items: the late record (older than the last item read) may sort after items
    # not read, so it is left out rather than shown out of place
    assert _merged(iter(written), waiting, 2, 7) == [["e6"], ["e5"], ["e3"]]
    assert _merged(iter(written), waiting, None, 7) == [["e6"], ["e5"], ["e3"], ["late"]]
    # an item written out by a version after the lead item read: what was read as waiting is stale
    assert _merged(iter([("2026-11-20T10:01:00Z#0000000008", ["late"]), *written]), waiting, None, 7) is None


def test_waiting_records_older_than_their_retention_are_dropped_at_the_next_save(engine):
    now = [time.time()]
    settings = replace(engine.settings, event_retention_days=30, history_retention_days=30)
    model = engine.service(COUNTING).model
    service = ScoringService(LeadRepository(settings, clock=lambda: now[0]), model)
    service.score([accepted("old", at="2026-11-20T10:00:00Z")])
    now[0] += 31 * 86400  # as a TTL would have removed an item of that age
    service.score([accepted("new", at="2026-12-21T10:00:00Z")])
    assert [entry["id"] for entry in engine.repository.logged_entries(ANN)] == ["new"]
    assert [entry["event_id"] for entry in engine.repository.history(ANN)] == ["new"]
    assert engine.repository.load(ANN).state.engagement == 2  # the score keeps what it was given
