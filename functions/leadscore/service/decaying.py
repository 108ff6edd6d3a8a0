"""The daily schedule's walk over the leads that have something due: a decay step, or turning cold.

Each lead's item holds `due_at` in the DueIndex, sharded sixteen ways: its next decay step or
cold mark, or an earlier time (a lower bound, so that events, which mostly postpone it, do not
rewrite the index entry; a visit that finds nothing due yet writes the exact time); a run reads
only the index entries due by its time, never a scan. It fans out:
the scheduled start queues one work item per shard, and each work item reads one page of its
shard, queues a tick per lead onto the scoring queue, and queues the next page, so 1,000,000
due leads are a thousand short invocations, not one long one. The consumer applies each tick
(decay, cold marking) through the same conditional per-lead save as events: a concurrent event is
neither lost nor decayed twice, and a rerun the same day, or after a crash halfway, changes
nothing more (decay and cold marking are idempotent for a given time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..adapters.dynamodb import DUE_SHARDS, LeadRepository
from ..adapters.queue import ScoringQueue

PAGE = 1000  # leads per work item: about 100 SendMessageBatch calls, a few seconds


@dataclass(frozen=True)
class WorkItem:
    shard: str
    at: float  # the run's time: decay and cold marking as of this instant, for every lead
    start: dict[str, Any] | None = None  # where the previous page of this shard stopped

    def to_json(self) -> str:
        return json.dumps({"shard": self.shard, "at": self.at, "start": self.start})

    @classmethod
    def from_json(cls, text: str) -> WorkItem:
        data = json.loads(text)
        return cls(str(data["shard"]), float(data["at"]), data.get("start"))


class WorkQueue:
    """Where the run's work items wait (an SQS standard queue feeding the same function)."""

    def __init__(self, queue_url: str, client: Any) -> None:
        self.queue_url = queue_url
        self.client = client

    def put(self, items: list[WorkItem]) -> None:
        for start in range(0, len(items), 10):
            entries = [{"Id": str(i), "MessageBody": item.to_json()} for i, item in enumerate(items[start : start + 10])]
            response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"the work queue refused {len(response['Failed'])} item(s)")


class DueLeadsWalker:
    def __init__(self, repository: LeadRepository, scoring: ScoringQueue, work: WorkQueue, page: int = PAGE) -> None:
        self.repository = repository
        self.scoring = scoring
        self.work = work
        self.page = page

    def start(self, at: float) -> int:
        """Queue one work item per shard; returns how many."""
        items = [WorkItem(f"due#{shard:02d}", at) for shard in range(DUE_SHARDS)]
        self.work.put(items)
        return len(items)

    def walk(self, item: WorkItem) -> int:
        """One page of one shard: a tick per due lead, then the next page queued; returns the ticks."""
        leads, next_start = self.repository.due_leads(item.shard, item.at, item.start, self.page)
        if leads:
            self.scoring.send_ticks(leads, item.at)
        if next_start:
            self.work.put([WorkItem(item.shard, item.at, next_start)])
        return len(leads)
