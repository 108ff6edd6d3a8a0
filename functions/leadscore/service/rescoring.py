"""Rescore on deploy: every lead moved to the newly deployed model, in minutes, exactly once.

A check (every few minutes, and by hand after a deploy) compares the deployed model's version
with the one the stored leads are being moved to. When they differ it starts a run: one cursor
per segment of a parallel scan of the leads table and one SQS FIFO message per segment. A
worker takes a segment's message, scans one page of leads, sends each lead whose state was built
under another model through the scoring path as a `model_change` visit (which replays its
logged events under the new model and saves it in one transaction, see service/scoring.py),
queues the segment's next page and only then moves the segment's cursor on (compare-and-set).

Why that is exact: a lead is only ever rewritten by the scoring path, conditional on its
version, and skipped once it is under the new model, so a page worked twice (a crash, a
redelivery) changes nothing the second time. Each message numbers its page: one behind the
segment's count of pages done is stale and dropped; one ahead (queued by a page that has not
moved the cursor yet) is refused and comes back. The next page's message exists before the
cursor names it, so a crash at any point neither loses a page nor starts a second walk, whatever
order the queue delivers in. A live event that reaches a lead before the run does replays it the
same way, so the run then skips it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..adapters.dynamodb import LeadRepository
from ..adapters.queue import RescoreQueue
from ..adapters.runs import RescoreRuns
from .replaying import model_change_event
from .scoring import AcceptedEvent, ScoringService

SEGMENTS = 64  # parallel walks; 50 workers rescore 1,000,000 leads in about 12-21 minutes (extrapolated)
PAGE = 100  # leads scanned per work item: well inside the worker's timeout


class RunNotStarted(RuntimeError):
    """A work item of a run whose start has not claimed the marker yet: retried later, never dropped."""


def _sequence(run: str) -> int:
    return int(run.split("-", 1)[0])


class PageNotReady(RuntimeError):
    """A segment's next page, taken before the page that queued it moved the cursor: retried later.

    SQS FIFO delivers a segment's pages one at a time, but not if a slow page outlives its
    visibility timeout (its redelivery and the next page then run at once); dropping it would stop
    the segment's walk for good."""


class RescoreFailed(RuntimeError):
    """Some leads of a page could not be saved: the work item is retried (the page is redone)."""


@dataclass
class PageResult:
    status: str  # worked | stale (another delivery moved on) | superseded (a newer deploy's run)
    scanned: int = 0
    rescored: int = 0
    done: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)


class Rescoring:
    def __init__(
        self,
        repository: LeadRepository,
        runs: RescoreRuns,
        queue: RescoreQueue,
        scoring: ScoringService,
        clock: Callable[[], float] = time.time,
        segments: int = SEGMENTS,
        page: int = PAGE,
    ) -> None:
        self.repository = repository
        self.runs = runs
        self.queue = queue
        self.scoring = scoring
        self.clock = clock
        self.segments = segments
        self.page = page

    @property
    def version(self) -> str:
        return self.scoring.model.version

    def start(self) -> str | None:
        """Start a run if the deployed model is not the one the leads were moved to; its id, or None.

        The run id follows from the marker it replaces, so a start repeated after a crash makes
        the same segments and the same (deduplicated) messages; the marker is claimed last."""
        current = self.runs.current()
        if current is not None and current.data.get("version") == self.version:
            return None
        sequence = int(current.data.get("sequence", 0)) + 1 if current is not None else 1
        run = f"{sequence:05d}-{self.version}"
        for segment in range(self.segments):
            self.runs.create_segment(run, segment)
        self.queue.send([self._work(run, segment, None, 0) for segment in range(self.segments)])
        claimed = self.runs.claim(
            current,
            {
                "version": self.version,
                "from": current.data.get("version") if current is not None else None,
                "run": run,
                "sequence": sequence,
                "segments": self.segments,
                "started_at": self.clock(),
            },
        )
        return run if claimed else None

    def _work(self, run: str, segment: int, cursor: dict[str, Any] | None, page: int) -> dict[str, Any]:
        return {"run": run, "segment": segment, "segments": self.segments, "cursor": cursor, "page": page}

    def work(self, item: dict[str, Any]) -> PageResult:
        """One page of one segment (see the module's docstring)."""
        run, segment, segments = str(item["run"]), int(item["segment"]), int(item["segments"])
        current = self.runs.current()
        if current is None or current.data.get("run") != run:
            if current is not None and int(current.data.get("sequence", 0)) >= _sequence(run):
                return PageResult("superseded")  # a newer deploy started its own run: it does this work
            # the run's start has queued its work but not yet claimed the marker (or died just
            # before): not ours to drop; SQS brings the item back once the next check has claimed it
            raise RunNotStarted(f"run {run} is not the current one yet")
        position = self.runs.segment(run, segment)
        if position is None or position.status == "done":
            return PageResult("stale")
        page, done = int(item.get("page", 0)), int(position.data.get("pages", 0))
        if page > done:
            raise PageNotReady(f"run {run} segment {segment}: page {page} queued, the cursor is still at page {done}")
        if page < done or position.data.get("cursor") != item.get("cursor"):
            return PageResult("stale")
        leads, next_cursor = self.repository.scan_leads(segment, segments, item.get("cursor"), self.page)
        now = self.clock()
        visits = [
            AcceptedEvent(model_change_event(lead, now, self.version), {}, f"rescore:{lead}", "rescore")
            for lead, version in leads
            if version != self.version
        ]
        result = self.scoring.score(visits) if visits else None
        if result is not None and result.failures:
            raise RescoreFailed(f"{len(result.failures)} lead(s) not saved, e.g. {result.failures[0][1]}")
        if next_cursor is not None:
            self.queue.send([{**item, "cursor": next_cursor, "page": page + 1}])  # before the cursor moves: never lost
        data = {
            "cursor": next_cursor,
            "pages": done + 1,
            "leads": int(position.data.get("leads", 0)) + len(leads),
            "rescored": int(position.data.get("rescored", 0)) + len(visits),
        }
        self.runs.advance(run, segment, position, data, done=next_cursor is None)
        return PageResult("worked", len(leads), len(visits), next_cursor is None)

    def progress(self) -> dict[str, Any]:
        """The current run: its model versions, segments done, leads scanned and rescored."""
        current = self.runs.current()
        if current is None:
            return {"run": None}
        segments = self.runs.segments(str(current.data["run"]))
        return {
            **current.data,
            "segments_done": sum(1 for s in segments if s.status == "done"),
            "leads_scanned": sum(int(s.data.get("leads", 0)) for s in segments),
            "leads_rescored": sum(int(s.data.get("rescored", 0)) for s in segments),
            "deployed_version": self.version,
        }
