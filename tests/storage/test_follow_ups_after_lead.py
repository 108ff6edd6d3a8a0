"""A stage move's velocity figures and the alerts a save fires are written after the lead's save,
not in one transaction with it (which bills the lead twice): these tests kill the save between
the writes and check the day's figures still count the move exactly once and the alert is
recorded once. The redelivery writes them (from what the lead item keeps until its next save); so does the next save of the lead, whatever brings it (an
event, the schedule's tick, a rescore visit); a delivery that finds them written writes
nothing; an erasure leaves none behind, even one that lands after it looked; and a rescore visit,
which nothing delivers again, writes them in the lead's transaction. (Anonymous visitors count in
no figures: they enter the funnel when identified.)"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from test_account_velocity_storage import STAGED
from test_scoring_storage import accepted

from leadscore.adapters.dynamodb import AlertItem, LeadItem, MetricsItem, RetryableStorageError
from leadscore.adapters.metrics import MetricsRepository
from leadscore.core.events import parse_event
from leadscore.core.velocity import DayAggregate, Snapshot, roll_up
from leadscore.service.forgetting import Forgetting
from leadscore.service.replaying import model_change_event
from leadscore.service.reporting import VelocityReporting
from leadscore.service.scoring import AcceptedEvent, schedule_tick

ANN = "ann@gmail.com"  # no account: only her own figures move
# her 10th visit moves her to consideration and fires the lead alert, in the same save
STAGED = STAGED.replace("rules:", "alerts:\n  lead: {threshold: 10, rearm_below: 5}\nrules:")
DAY = date(2026, 11, 20)


def day_figures(engine) -> DayAggregate:
    return roll_up(Snapshot(), MetricsRepository(engine.settings).day_deltas(DAY))[0]


def lead_moves(engine) -> dict[str, tuple[int, int, int]]:
    """(entered, new, left) per stage, for leads, on DAY."""
    aggregate = day_figures(engine)
    stages = ("awareness", "consideration", "decision")
    return {s: (aggregate.get("lead", s).entered, aggregate.get("lead", s).new, aggregate.get("lead", s).left) for s in stages}


def velocity_items_of(lead: str) -> list[str]:
    return [item.sk for item in MetricsItem.scan() if item.pk.startswith("velocity#") and item.sk.startswith(lead)]


def alerts_of(lead: str) -> list[str]:
    return sorted(item.alert_id for item in AlertItem.scan() if item.subject == lead)


def dies(*_args, **_kwargs):
    raise RetryableStorageError("the Lambda timed out")


def visits(n: int, start: int = 0, hour: int = 10) -> list[AcceptedEvent]:
    return [accepted(f"v{i}", email=ANN, at=f"2026-11-20T{hour}:{i:02d}:00Z") for i in range(start, start + n)]


@pytest.fixture
def crashed(engine, monkeypatch):
    """Ann's 9 visits keep her in awareness; her 10th moves her to consideration, and the Lambda
    dies after her lead's save, before the move reaches the day's figures."""
    service = engine.service(STAGED)
    assert not service.score(visits(9)).failures
    assert lead_moves(engine)["awareness"] == (1, 1, 0)
    with monkeypatch.context() as patch:  # the Lambda dies right after the lead's save
        patch.setattr(AlertItem, "save", dies)
        patch.setattr(MetricsItem, "save", dies)
        result = service.score(visits(1, start=9))
    assert result.failures  # not acknowledged: SQS delivers it again
    stored = LeadItem.get(ANN, consistent_read=True)
    assert stored.stage == "consideration" and stored.follow_ups is not None
    assert lead_moves(engine)["consideration"] == (0, 0, 0)  # lost, for now
    assert alerts_of(ANN) == []  # and the alert
    return service


EXACT = {"awareness": (1, 1, 1), "consideration": (1, 0, 0), "decision": (0, 0, 0)}
ALERT = [f"lead#{ANN}#v9"]  # the lead alert, fired by her 10th visit (event v9)


def test_a_stage_move_writes_the_lead_then_its_figures_without_a_transaction(engine):
    service = engine.service(STAGED)
    assert not service.score(visits(9)).failures
    calls: list[str] = []

    def count(model, **_):
        calls.append(model.name)

    client = LeadItem._get_connection().connection.client
    clients = {
        id(c): c
        for c in (client, MetricsItem._get_connection().connection.client, AlertItem._get_connection().connection.client)
    }
    for each in clients.values():
        each.meta.events.register("before-call.dynamodb", count)
    try:
        assert not service.score(visits(1, start=9)).failures
        moved = list(calls)
        calls.clear()
        assert not service.score(visits(1, start=10)).failures
    finally:
        for each in clients.values():
            each.meta.events.unregister("before-call.dynamodb", count)
    # the lead read, the last save's figures found there (it entered awareness), the lead written
    # (its waiting history and log in it), then its figures and its alert: no transaction doubling the lead
    assert moved == ["GetItem", "GetItem", "PutItem", "PutItem", "PutItem"]
    # the next save reads that they are there (half a read unit each) and writes them no more
    assert calls == ["GetItem", "GetItem", "GetItem", "PutItem"]
    assert LeadItem.get(ANN, consistent_read=True).follow_ups is None  # this save moved no stage
    assert lead_moves(engine) == EXACT and alerts_of(ANN) == ALERT


def test_the_redelivery_writes_the_figures_the_first_delivery_did_not(engine, crashed):
    result = crashed.score(visits(1, start=9))
    assert not result.failures and result.duplicates == 1 and result.scored == 0
    assert lead_moves(engine) == EXACT and alerts_of(ANN) == ALERT
    assert not crashed.score(visits(1, start=9)).failures  # a third delivery: written already
    assert lead_moves(engine) == EXACT and alerts_of(ANN) == ALERT


def test_the_next_event_writes_them_first_when_the_message_never_comes_back(engine, crashed):
    assert not crashed.score(visits(1, start=10)).failures  # the message went to the dead-letter queue
    assert lead_moves(engine) == EXACT and alerts_of(ANN) == ALERT
    assert LeadItem.get(ANN, consistent_read=True).follow_ups is None


def test_the_schedules_tick_writes_them_too(engine, crashed):
    at = datetime.fromisoformat("2026-11-20T23:00:00+00:00").timestamp()
    tick = AcceptedEvent(schedule_tick(ANN, at), {}, "t1", "schedule")
    assert not crashed.score([tick]).failures
    assert lead_moves(engine) == EXACT and alerts_of(ANN) == ALERT


def test_a_rescore_visit_writes_them_first_and_its_own_in_the_transaction(engine, crashed):
    rescoring = engine.service(STAGED.replace("points: 1}", "points: 2}", 1))  # visits now worth 2
    at = datetime.fromisoformat("2026-11-20T12:00:00+00:00").timestamp()
    visit = AcceptedEvent(model_change_event(ANN, at, rescoring.model.version), {}, f"rescore:{ANN}", "rescore")
    assert not rescoring.score([visit]).failures
    stored = LeadItem.get(ANN, consistent_read=True)
    assert stored.stage == "consideration" and stored.follow_ups is None  # its own went in the transaction
    assert lead_moves(engine)["consideration"][0] == 1  # the lost move is counted, once
    assert alerts_of(ANN) == ALERT


def test_an_erasure_leaves_no_figures_even_one_written_after_it_looked(engine, crashed, monkeypatch):
    repository = engine.repository
    stored = repository.load(ANN)
    looked = repository.velocity_keys_of

    def late_write_after_the_query(lead, days):
        keys = looked(lead, days)
        repository.send_follow_ups(ANN, stored.version, stored.follow_ups)  # the stalled Lambda's write lands
        return keys

    monkeypatch.setattr(repository, "velocity_keys_of", late_write_after_the_query)
    report = Forgetting(repository, b"key").forget(ANN, "tester")
    assert report.leads == 1
    assert velocity_items_of(ANN) == [] and alerts_of(ANN) == []
    assert LeadItem.count(ANN) == 0


def test_a_redelivery_racing_an_erasure_leaves_no_figures_and_one_after_it_writes_none(engine, crashed, monkeypatch):
    repository = engine.repository
    stored = repository.load(ANN)
    deleted = repository.delete_keys

    def redelivered_after_the_figures_went(table, keys):
        count = deleted(table, keys)
        if table is MetricsItem and keys:  # the redelivery finds them gone and writes them again
            assert not crashed.score(visits(1, start=9)).failures
            assert velocity_items_of(ANN)
        return count

    monkeypatch.setattr(repository, "delete_keys", redelivered_after_the_figures_went)
    assert Forgetting(repository, b"key").forget(ANN, "tester").leads == 1
    assert velocity_items_of(ANN) == [] and alerts_of(ANN) == []
    # a redelivery's repair once the lead is gone: the lead is not at that version, nothing is written
    repository.send_follow_ups(ANN, stored.version, stored.follow_ups)
    assert velocity_items_of(ANN) == [] and alerts_of(ANN) == []


def test_figures_written_after_their_day_was_rolled_up_are_counted_the_next_morning(engine, crashed):
    reporting = VelocityReporting(MetricsRepository(engine.settings), crashed.model)
    metrics = reporting.metrics
    reporting.roll_up(DAY + timedelta(days=1))  # the morning after, before the message comes back
    assert metrics.snapshots(DAY + timedelta(days=1), DAY + timedelta(days=1))[DAY + timedelta(days=1)].leads == {
        "awareness": 1
    }
    assert not crashed.score(visits(1, start=9)).failures  # the redelivery writes Ann's move, dated DAY
    reporting.roll_up(DAY + timedelta(days=2))  # the next morning rolls DAY up again
    aggregate = metrics.aggregates(DAY, DAY)[DAY]
    assert aggregate.get("lead", "consideration").entered == 1
    assert metrics.snapshots(DAY + timedelta(days=2), DAY + timedelta(days=2))[DAY + timedelta(days=2)].leads == {
        "consideration": 1
    }


def test_a_visitor_identified_before_the_redelivery_keeps_the_alert_its_browsing_fired(engine, monkeypatch):
    service = engine.service(STAGED)
    raws = [
        {"id": f"w{i}", "type": "page_view", "anonymous_id": "cookie-1", "timestamp": f"2026-11-20T09:{i:02d}:00Z"}
        for i in range(10)
    ]
    browsing = [AcceptedEvent(parse_event({"properties": {}, **raw}), raw, f"m-{raw['id']}") for raw in raws]
    with monkeypatch.context() as patch:
        patch.setattr(AlertItem, "save", dies)
        assert service.score(browsing).failures  # its 10th visit crossed; the alert was not written
    assert alerts_of("anon:cookie-1") == []
    # she identifies before the message comes back: the visitor's item becomes an alias of hers
    identify = accepted("id1", email=ANN, type_="identify", profile={"anonymous_id": "cookie-1"}, at="2026-11-20T09:30:00Z")
    assert not service.score([identify]).failures
    assert LeadItem.get("anon:cookie-1", consistent_read=True).merged_into == ANN
    assert alerts_of("anon:cookie-1") == ["lead#anon:cookie-1#w9"]  # written before the alias replaced it
    assert not service.score(browsing).failures  # the redelivery: duplicates, on her lead
    assert alerts_of("anon:cookie-1") == ["lead#anon:cookie-1#w9"]
