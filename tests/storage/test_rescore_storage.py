"""A rescore run racing live traffic, on both engines: workers walk the leads while other threads
score new events and redeliver old ones for the same leads under the new model. Every event counts
once, every lead ends equal to scoring all its events from scratch under the new model, each lead
records one model change, and the accounts' sums hold exactly their members."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_scoring_storage import accepted

from leadscore.adapters.dynamodb import LeadItem, LeadRepository, unpack_state
from leadscore.adapters.runs import RescoreRuns
from leadscore.core.compiler import compile_model
from leadscore.core.loader import load_text
from leadscore.core.simulation import simulate
from leadscore.service.rescoring import PageNotReady, Rescoring

OLD = """
accounts: {aggregate: sum}
stages:
  - {id: awareness, min: 0, max: 29}
  - {id: consideration, min: 30, max: 59}
  - {id: decision, min: 60}
rules:
  - {id: visit, when: {event: page_view}, points: 5}
  - {id: webinar, when: {event: webinar_attend}, points: 20}
"""
NEW = OLD.replace("points: 5}", "points: 12}").replace("points: 20}", "points: 15}")
NOW = 1_795_000_000.0


class ListQueue:
    """The run's FIFO queue as a list (the real one is SQS; the handler tests drive that)."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.lock = threading.Lock()

    def send(self, items) -> None:
        with self.lock:
            self.items.extend(json.loads(json.dumps(item)) for item in items)

    def take(self) -> dict | None:
        with self.lock:
            return self.items.pop(0) if self.items else None


def events_of(n: int, start: int, count: int) -> list:
    lead = f"buyer{n}@company{n % 3}.example"
    return [
        accepted(
            f"{n}-{k}",
            email=lead,
            type_="webinar_attend" if k % 3 == 2 else "page_view",
            at=f"2026-11-{10 + k % 9:02d}T{8 + n % 10:02d}:00:00Z",
        )
        for k in range(start, start + count)
    ]


@pytest.mark.parametrize("workers", [2])
def test_a_rescore_racing_live_events_and_redeliveries_counts_every_event_once(engine, workers):
    old = engine.service(OLD)
    leads = range(24)
    for n in leads:
        old.score(events_of(n, 0, 4))
    new_model = compile_model(load_text(NEW))
    queue = ListQueue()

    def rescoring() -> Rescoring:
        service = engine.service(NEW, max_attempts=50)
        return Rescoring(
            LeadRepository(engine.settings), RescoreRuns(engine.settings), queue, service, lambda: NOW, 4, 5
        )

    assert rescoring().start() is not None

    def worker() -> int:
        """A worker as SQS would drive it, minus the FIFO group order: any item, in any order."""
        runner, pages = rescoring(), 0
        while (item := queue.take()) is not None:
            try:
                runner.work(item)
            except PageNotReady:  # its page is still being worked: SQS brings it back later
                queue.send([item])
                time.sleep(0.01)
                continue
            pages += 1
        return pages

    def live(n: int) -> None:
        service = engine.service(NEW, max_attempts=50)
        for batch in (events_of(n, 4, 2), events_of(n, 0, 3), events_of(n, 6, 1)):  # new, redelivered, new
            result = service.score(batch)
            assert not result.failures, result.failures

    with ThreadPoolExecutor(max_workers=workers + 6) as pool:
        walks = [pool.submit(worker) for _ in range(workers)]
        traffic = list(pool.map(live, leads[::2]))
        assert sum(walk.result() for walk in walks) >= 4 and len(traffic) == 12
    while (item := queue.take()) is not None:  # pages the racing workers left queued
        rescoring().work(item)

    everything = [event.event for n in leads for event in events_of(n, 0, 7 if n % 2 == 0 else 4)]
    expected = simulate(new_model, everything, NOW)
    stored = {item.lead: item for item in LeadItem.scan(consistent_read=True) if item.state}
    assert set(stored) == set(expected.leads)
    for lead, item in stored.items():
        state = unpack_state(item.state)
        assert state["rule_points"] == pytest.approx(expected.leads[lead].rule_points), lead
        assert state["rule_fires"] == expected.leads[lead].rule_fires, lead  # every event once
        assert item.model_version == new_model.version
        changes = [
            entry for entry in engine.repository.history(lead, limit=100_000) if entry["event_type"] == "model_change"
        ]
        assert len(changes) == 1, lead  # replayed once, by whoever got there first
    for account, result in expected.accounts.items():
        members, _ = engine.repository.account_members(account)
        view = engine.repository.account(account)
        assert members == pytest.approx(result.members), account
        assert view.total == pytest.approx(sum(result.members.values())), account
        assert view.count == len(result.members), account
    assert rescoring().progress()["segments_done"] == 4


def test_a_work_item_taken_before_its_run_is_claimed_comes_back_instead_of_being_dropped(engine, monkeypatch):
    from leadscore.service import rescoring as module

    old = engine.service(OLD)
    for n in range(10):
        old.score(events_of(n, 0, 2))
    queue = ListQueue()

    def rescoring() -> Rescoring:
        return Rescoring(
            LeadRepository(engine.settings), RescoreRuns(engine.settings), queue, engine.service(NEW), lambda: NOW, 2, 5
        )

    # Given a start that dies after queueing its work, before it claims the marker
    claim = module.RescoreRuns.claim
    monkeypatch.setattr(module.RescoreRuns, "claim", lambda self, *a: (_ for _ in ()).throw(RuntimeError("died")))
    with pytest.raises(RuntimeError):
        rescoring().start()
    # When a worker takes a work item first, it is refused (SQS brings it back), not dropped as superseded
    early = queue.take()
    with pytest.raises(module.RunNotStarted):
        rescoring().work(early)
    queue.send([early])
    # Then the next check starts the same run, and its work completes it
    monkeypatch.setattr(module.RescoreRuns, "claim", claim)
    run = rescoring().start()
    assert run is not None and run.startswith("00001-")
    while (item := queue.take()) is not None:
        rescoring().work(item)  # the start's items again: one walk, the rest stale
    progress = rescoring().progress()
    assert progress["segments_done"] == 2 and progress["leads_scanned"] == 10
    assert {item.model_version for item in LeadItem.scan(consistent_read=True) if item.state} == {
        compile_model(load_text(NEW)).version
    }


def test_a_next_page_taken_before_its_cursor_moved_comes_back_instead_of_ending_the_walk(engine, monkeypatch):
    """A slow page outliving its visibility timeout lets SQS hand out the page it queued while it
    still works: that page must be refused and retried, or the segment's walk stops for good."""
    from leadscore.service import rescoring as module

    old = engine.service(OLD)
    for n in range(12):
        old.score(events_of(n, 0, 2))
    queue = ListQueue()

    def rescoring() -> Rescoring:
        return Rescoring(
            LeadRepository(engine.settings), RescoreRuns(engine.settings), queue, engine.service(NEW), lambda: NOW, 1, 3
        )

    assert rescoring().start() is not None
    refused = []
    advance = module.RescoreRuns.advance

    def early_delivery(self, run, segment, expected, data, done):
        if not refused and queue.items:  # the next page is queued, this page has not moved the cursor
            early = queue.items[-1]
            with pytest.raises(PageNotReady):
                rescoring().work(early)
            refused.append(early)
        return advance(self, run, segment, expected, data, done)

    monkeypatch.setattr(module.RescoreRuns, "advance", early_delivery)
    worked = []
    while (item := queue.take()) is not None:
        worked.append(rescoring().work(item).status)
    # 12 leads in pages of 3: 4 pages, none lost (DynamoDB may end on an empty fifth page)
    assert refused and set(worked) == {"worked"} and len(worked) in (4, 5)
    progress = rescoring().progress()
    assert progress["segments_done"] == 1 and progress["leads_scanned"] == 12
    assert {item.model_version for item in LeadItem.scan(consistent_read=True) if item.state} == {
        compile_model(load_text(NEW)).version
    }
