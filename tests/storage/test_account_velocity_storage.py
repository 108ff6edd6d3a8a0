"""Accounts' stage moves on both engines: counted once per move into the day's figures, in the
same write that moves the account's summary, however many of its members save at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

from test_scoring_storage import accepted

from leadscore.adapters.dynamodb import AccountItem, LeadItem
from leadscore.adapters.metrics import MetricsRepository
from leadscore.core.velocity import DayAggregate, Snapshot, roll_up
from leadscore.service.scoring import AcceptedEvent, ScoringService, schedule_tick

STAGED = """
accounts: {aggregate: sum}
stages:
  - {id: awareness, min: 0, max: 9}
  - {id: consideration, min: 10, max: 29}
  - {id: decision, min: 30}
rules:
  - {id: visit, when: {event: page_view}, points: 1}
  - {id: unsubscribed, when: {event: email_unsubscribe}, points: -5}
"""
DAY = date(2026, 11, 20)


def figures(engine) -> tuple[DayAggregate, Snapshot]:
    return roll_up(Snapshot(), MetricsRepository(engine.settings).day_deltas(DAY))


def test_an_account_that_grows_and_shrinks_moves_through_its_stages_once_each(engine):
    service = engine.service(STAGED)
    # Given one buyer of acme visiting (the account enters awareness), then 29 more buyers
    service.score([accepted("first", email="b0@acme.example", at="2026-11-20T09:00:00Z")])
    for i in range(1, 30):
        service.score([accepted(f"v{i}", email=f"b{i}@acme.example", at="2026-11-20T10:00:00Z")])
    # When one buyer unsubscribes (his 1 point goes, the score floor is 0: 29, back to consideration)
    service.score([accepted("u", email="b1@acme.example", type_="email_unsubscribe", at="2026-11-20T11:00:00Z")])
    # Then the account entered awareness, moved on twice, fell back once, each counted once
    aggregate, snapshot = figures(engine)
    awareness, consideration, decision = (aggregate.get("account", s) for s in ("awareness", "consideration", "decision"))
    assert (awareness.entered, awareness.new, awareness.left_forward) == (1, 1, 1)
    assert (consideration.entered, consideration.left_forward, consideration.causes_in) == (2, 1, {"visit": 1, "unsubscribed": 1})
    assert (decision.entered, decision.left_back, decision.causes_out) == (1, 1, {"unsubscribed": 1})
    assert decision.time_count == 1 and decision.time_sum == 3600  # in decision from 10:00 to 11:00
    assert snapshot.accounts == {"consideration": 1}
    summary = AccountItem.get("acme.example", "#summary", consistent_read=True)
    assert summary.stage == "consideration"


def test_fifty_members_saving_at_once_count_each_account_move_exactly_once(engine):
    service = engine.service(STAGED, max_attempts=50)
    items = [accepted(f"a{i}", email=f"buyer{i}@bigco.example") for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda item: service.score([item]), items))
    assert all(not r.failed_message_ids for r in results), [r.failures for r in results if r.failures]
    aggregate, snapshot = figures(engine)
    # However the saves interleaved, the moves chain: one entry, and every exit matches an entry
    entered = {s: aggregate.get("account", s).entered for s in ("awareness", "consideration", "decision")}
    left = {s: aggregate.get("account", s).left for s in ("awareness", "consideration", "decision")}
    assert aggregate.get("account", "awareness").new + aggregate.get("account", "consideration").new + aggregate.get(
        "account", "decision"
    ).new == 1
    assert {s: entered[s] - left[s] for s in entered} == {"awareness": 0, "consideration": 0, "decision": 1}
    assert snapshot.accounts == {"decision": 1}  # 50 points: decision, counted once
    assert AccountItem.get("bigco.example", "#summary", consistent_read=True).stage == "decision"


def test_a_redelivered_batch_moves_the_account_no_further(engine):
    service = engine.service(STAGED)
    batch = [accepted(f"r{i}", email=f"r{i}@init.example") for i in range(10)]
    service.score(batch)
    first = figures(engine)[0].to_dict()
    service.score(batch)  # SQS delivers the same messages again
    assert figures(engine)[0].to_dict() == first


DECAYING = STAGED.replace(
    "accounts: {aggregate: sum}", "accounts: {aggregate: sum}\ndecay: {after_inactive: 14d, every: 7d, percent: 50%, floor: 0}"
).replace("points: 1}", "points: 4}")


def test_a_tick_redelivered_after_its_decay_was_saved_still_moves_the_account(engine, monkeypatch):
    service = engine.service(DECAYING)
    # Given one buyer whose three visits put acme in consideration (12 points)
    service.score([accepted(f"v{i}", email="b0@acme.example", at=f"2026-10-01T1{i}:00:00Z") for i in range(3)])
    assert AccountItem.get("acme.example", "#summary", consistent_read=True).stage == "consideration"
    # When the schedule's tick decays her (12 -> 6) and the Lambda dies after her save, before the
    # account's stage move; SQS delivers the tick again, and it finds her decay done
    at = datetime.fromisoformat("2026-10-22T05:00:00+00:00").timestamp()
    tick = AcceptedEvent(schedule_tick("b0@acme.example", at), {}, "t1", "schedule")

    def dies(*_args, **_kwargs):
        raise RuntimeError("the Lambda timed out")

    with monkeypatch.context() as patch:
        patch.setattr(ScoringService, "_follow_account", dies)
        assert service.score([tick]).failures
    assert float(LeadItem.get("b0@acme.example", consistent_read=True).score) == 6.0
    assert not service.score([tick]).failures
    # Then the account moved back to awareness, counted once
    assert AccountItem.get("acme.example", "#summary", consistent_read=True).stage == "awareness"
    assert not service.score([tick]).failures  # and a third delivery moves nothing
    day = roll_up(Snapshot(), MetricsRepository(engine.settings).day_deltas(date(2026, 10, 22)))[0]
    assert day.get("account", "consideration").left_back == 1 and day.get("account", "awareness").entered == 1
