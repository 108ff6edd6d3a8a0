"""What one save costs DynamoDB, on both engines, priced by DynamoDB's rules (write units from the
sizes of the items a request writes, 1 KB each, doubled inside a transaction; read units from
what comes back, 4 KB each): the calls of a save, and its write units per event for the common
case (one event of a lived-in lead per batch) and for ten events of one lead in a batch.
Secondary-index writes are counted too (DueIndex, the accounts' ByScore, the alerts' BySubject):
one to add or remove an entry, two to change it. `benchmarks/write_units.py` prints the same
figures over hundreds of leads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from leadscore.adapters.dynamodb import EventLogItem, HistoryItem, packed_json
from leadscore.core.events import parse_event
from leadscore.service.scoring import AcceptedEvent

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from write_units import Meter  # noqa: E402 - the benchmark's pricing, so test and figures agree

START = 1_796_000_000.0
KINDS = [
    ("page_view", {"url": "https://fjordline.example/blog/data-mesh"}),
    ("email_click", {"email_kind": "newsletter", "url": "https://fjordline.example/x"}),
    ("download", {"asset": "whitepaper-data-governance"}),
    ("video_play", {"video": "security-suite", "percent": 40}),
]


def event(n: int, lead: str, profile: dict | None = None) -> AcceptedEvent:
    kind, properties = ("identify", {}) if profile else KINDS[n % len(KINDS)]
    raw = {"id": f"e{n}", "type": kind, "email": lead, "timestamp": START + n, "properties": properties}
    if profile:
        raw["profile"] = profile
    return AcceptedEvent(parse_event(raw), raw, f"m{n}")


@pytest.fixture
def metered(engine):
    """The shipped model's service, with every DynamoDB request it makes priced and counted."""
    service = engine.service()
    meter = Meter().attach(service)
    yield service, meter
    meter.detach()


def lived_in(service, lead: str, first: int) -> int:
    """A lead with a profile and 20 events of history, as most leads that matter are; the next id."""
    profile = {"job_title": "Head of Data", "employees": 2500, "country": "NO"}
    service.score([event(first, lead, profile), *(event(first + 1 + k, lead) for k in range(10))])
    service.score([event(first + 11 + k, lead) for k in range(10)])
    return first + 21


def test_single_events_of_a_lived_in_lead_cost_one_put_of_two_units_until_it_writes_its_history_out(metered):
    service, meter = metered
    per_save: list[tuple[str, int]] = []
    n = 0
    for i in range(3):
        lead = f"buyer{i}@co{i}.example"
        n = lived_in(service, lead, n)
        for _ in range(24):  # one event per batch, as events spread over many leads arrive; enough to write out
            meter.reset()
            result = service.score([event(n, lead)])
            n += 1
            assert not result.failures
            # one read of the lead, one of its account's summary after the save (a small account's
            # members are in it: no query), one more before a save that moves the member, and one
            # write: nothing else
            moved = meter.by_table["AccountsTable"] > 0
            assert meter.calls["GetItem"] == (3 if moved else 2) and meter.calls["Query"] == 0, meter.calls
            assert meter.calls["PutItem"] + meter.calls["TransactWriteItems"] == 1, meter.calls
            kind = "put" if meter.calls["PutItem"] else "transaction"
            per_save.append((kind, meter.priced["write"]))
            # the event postpones the lead's decay, but its DueIndex entry (a lower bound) stays
            assert meter.priced["index"] == 0, meter.by_table
    # the lead alone, with the history and log waiting in it (at most 2 KB): no transaction; a
    # member whose score did not move writes nothing to its account
    assert max(units for kind, units in per_save if kind == "put") <= 2, per_save
    # once they would fill it past 2 KB: the lead, one history item and one event-log item, in a
    # transaction (billed twice), each 1 KB, or 2 for the one that holds a few events more
    written_out = [units for kind, units in per_save if kind == "transaction"]
    assert written_out and max(written_out) <= 8, per_save
    assert sum(units for _, units in per_save) / len(per_save) <= 4, per_save  # the target: 4 an event
    # every event is in the history and the log as read back, written out or still waiting
    history = service.repository.history("buyer0@co0.example", limit=100)
    logged = service.repository.logged_entries("buyer0@co0.example")
    assert [entry["event_id"] for entry in history[:8]] == [f"e{k}" for k in range(44, 36, -1)]
    assert [entry["id"] for entry in logged] == [f"e{k}" for k in range(45)]
    assert logged[21]["payload"]["properties"] == dict(KINDS[21 % 4][1])
    assert HistoryItem.query("buyer0@co0.example", consistent_read=True).next()  # some written out


def test_an_event_that_moves_the_score_writes_the_account_and_figures_after_the_lead_for_four_write_units(metered):
    service, meter = metered
    units = []
    for i in range(5):
        lead = f"early{i}@co{i}.example"
        profile = {"job_title": "Head of Data", "employees": 2500, "country": "NO"}
        service.score([event(1000 + 8 * i, lead, profile), event(1001 + 8 * i, lead)])
        meter.reset()
        result = service.score([event(1002 + 8 * i, lead)])  # ids 2 mod 4: a whitepaper download, points
        assert not result.failures
        # the lead, its account's summary, the last save's velocity figures (that they are there: it
        # entered a stage), the summary after; written: the lead, then the member's score in the
        # summary and the save's own figures, and a transaction when the account's stage moved with it
        assert meter.calls["GetItem"] == 4 and meter.calls["Query"] == 0, meter.calls
        assert meter.calls["PutItem"] == 2 and meter.calls["UpdateItem"] == 1, meter.calls
        assert meter.calls["TransactWriteItems"] in (0, 1), meter.calls
        assert meter.by_table["AccountsTable"] > 0 and meter.by_table["MetricsTable"] > 0  # score and stage moved
        units.append(meter.priced["write"] - (4 if meter.calls["TransactWriteItems"] == 1 else 0))
        # a small account's members are in its summary: no member item, no ByScore entry to move;
        # the lead's DueIndex entry does not move either
        assert meter.by_table["AccountsTable index"] == 0 and meter.by_table["LeadsTable index"] == 0, meter.by_table
    # the lead (its history and log waiting in it, at most 2 KB), the account's summary and the
    # stage's velocity figures, each once: no transaction; when the account's stage moved too, its
    # summary and velocity figures in one (4 units, left out)
    assert max(units) <= 4, units  # 7 with the figures in the lead's transaction, 8 with the summary too


def test_ten_events_of_one_lead_in_a_batch_cost_at_most_one_and_a_half_write_units_each(metered):
    service, meter = metered
    n, per_event, writes = 0, [], []
    for i in range(5):
        lead = f"buyer{i}@co{i}.example"
        n = lived_in(service, lead, n)
        meter.reset()
        for _ in range(3):  # a few batches, so those that write the history out are counted
            result = service.score([event(n + k, lead) for k in range(10)])
            n += 10
            assert not result.failures
        writes.append(meter.calls["PutItem"] + meter.calls["TransactWriteItems"])
        per_event.append(meter.priced["write"] / 30)
    assert writes == [3] * 5, writes  # one write a batch
    assert max(per_event) <= 1.5, per_event


def test_history_and_event_log_bodies_are_stored_compressed_and_text_written_before_still_reads(engine):
    service = engine.service()
    service.score([event(k, "ann@acme.example") for k in range(30)])  # more than a lead item keeps waiting
    client = service.repository._connection.client
    raw = client.query(
        TableName=EventLogItem.Meta.table_name,
        KeyConditionExpression="#lead = :lead",
        ExpressionAttributeNames={"#lead": "lead"},
        ExpressionAttributeValues={":lead": {"S": "ann@acme.example"}},
        ConsistentRead=True,
    )["Items"][0]
    text = packed_json(raw["events"])
    assert "B" in raw["events"] and len(raw["events"]["B"]) * 3 < len(text.encode())  # at least 3x smaller
    # an item written as plain JSON text (before compression) is read the same way
    client.put_item(
        TableName=HistoryItem.Meta.table_name,
        Item={
            "lead": {"S": "old@acme.example"},
            "sk": {"S": "2026-01-01T00:00:00Z#0000000001"},
            "version": {"N": "1"},
            "events": {"S": json.dumps([{"event_id": "x", "changes": []}])},
            "model_version": {"S": "m"},
            "recorded_at": {"N": "0"},
        },
    )
    (old,) = HistoryItem.query("old@acme.example", consistent_read=True)
    assert json.loads(old.events) == [{"event_id": "x", "changes": []}]


def test_a_lead_saved_under_an_older_model_is_replayed_from_one_read_of_its_item(engine):
    """The replay a model change needs reads the lead's event log, whose newest records wait in
    the lead item the save loaded already: the item is read once, not twice."""
    before = "rules:\n  - {id: visit, when: {event: page_view}, points: 5}\n"
    after = "rules:\n  - {id: visit, when: {event: page_view}, points: 7}\n"
    old, new = engine.service(before), engine.service(after)
    for n in range(3):
        old.score([event(4 * n, "ann@acme.example")])  # ids 0 mod 4: page views
    meter = Meter().attach(new)
    result = new.score([event(12, "ann@acme.example")])
    meter.detach()
    assert not result.failures
    # the lead item (once: the replay takes the log waiting in it from that read) and its account
    # summary before the save and after it (acme.example keeps its members inline: no member
    # query); the event log's written-out items (none yet)
    assert meter.calls["GetItem"] == 3 and meter.calls["Query"] == 1, meter.calls
    stored = new.repository.load("ann@acme.example")
    assert stored.score == 4 * 7 and stored.model_version == new.model.version  # replayed, then scored


def test_a_lead_item_compressed_before_the_preset_dictionary_still_loads_and_saves(engine):
    """Items written before the dictionary (plain zlib) read as before; the next save repacks them."""
    import zlib

    from leadscore.adapters.dynamodb import LeadItem
    from leadscore.adapters.packing import unpack

    service = engine.service()
    for n in range(3):
        service.score([event(n, "ann@acme.example")])
    client = service.repository._connection.client
    key = {"lead": {"S": "ann@acme.example"}}
    item = client.get_item(TableName=LeadItem.Meta.table_name, Key=key, ConsistentRead=True)["Item"]
    for name in ("state", "pending"):
        item[name] = {"B": zlib.compress(unpack(item[name]["B"]), 6)}  # as stored before
    client.put_item(TableName=LeadItem.Meta.table_name, Item=item)
    before = service.repository.load("ann@acme.example")
    assert before.version == 3 and [e["event_id"] for e in service.repository.history("ann@acme.example")] == [
        "e2",
        "e1",
        "e0",
    ]
    assert not service.score([event(3, "ann@acme.example")]).failures
    after = service.repository.load("ann@acme.example")
    assert after.version == 4 and after.state.newest_ts > before.state.newest_ts  # the new event applied
    assert [e["id"] for e in service.repository.logged_entries("ann@acme.example")] == ["e0", "e1", "e2", "e3"]


def test_a_deployment_set_to_write_plain_zlib_stores_what_code_before_the_dictionary_reads(engine):
    import dataclasses
    import zlib

    from leadscore.adapters.dynamodb import LeadItem, LeadRepository
    from leadscore.adapters.packing import write_with

    try:
        plain = dataclasses.replace(engine.settings, stored_json_dictionary="none")
        service = engine.service()
        service.repository = LeadRepository(plain)  # binds the tables and the format, as a cold start does
        for n in range(3):
            assert not service.score([event(n, "ann@acme.example")]).failures
        client = service.repository._connection.client
        key = {"lead": {"S": "ann@acme.example"}}
        item = client.get_item(TableName=LeadItem.Meta.table_name, Key=key, ConsistentRead=True)["Item"]
        state = json.loads(zlib.decompress(item["state"]["B"]))  # as the code before it reads
        pending = json.loads(zlib.decompress(item["pending"]["B"]))
        assert state["lead"] == "ann@acme.example" and len(pending["log"]) == 3
    finally:
        write_with("v1")
