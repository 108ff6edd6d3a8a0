"""The velocity figures in DynamoDB (MetricsTable): per-save deltas, daily aggregates, snapshots,
and the daily report's delivery record. The report reads only aggregates and snapshots, so its
cost does not grow with the number of leads.

Partitions: `velocity#<day>#<shard>` (one item per save that moved a stage, written right after
the lead's save and keyed by its version, see `dynamodb.LeadRepository.send_figures`), `aggregate` and `snapshot` (one item per day, sorted by day), `report` (one
item per day: who is sending it, and whether it went).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from pynamodb.exceptions import PynamoDBException

from ..core.velocity import DayAggregate, Snapshot
from ..settings import Settings
from .dynamodb import METRIC_SHARDS, MetricsItem, RetryableStorageError, VersionConflict, _translate, bind


class MetricsRepository:
    def __init__(self, settings: Settings) -> None:
        bind(settings)

    def day_deltas(self, day: date) -> Iterable[dict[str, Any]]:
        """Everything the saves of `day` added, shard by shard (a query each, paginated)."""
        for shard in range(METRIC_SHARDS):
            try:
                for item in MetricsItem.query(f"velocity#{day.isoformat()}#{shard:02d}", consistent_read=True):
                    yield json.loads(item.data)
            except PynamoDBException as error:
                raise _translate(error) from error

    def put_day(self, day: date, aggregate: DayAggregate, snapshot_next_morning: Snapshot, next_day: date) -> None:
        """A day's aggregate and the next morning's snapshot; rewriting them gives the same items."""
        try:
            MetricsItem("aggregate", day.isoformat(), data=json.dumps(aggregate.to_dict())).save()
            MetricsItem("snapshot", next_day.isoformat(), data=json.dumps(snapshot_next_morning.to_dict())).save()
        except PynamoDBException as error:
            raise _translate(error) from error

    def aggregates(self, start: date, end: date) -> dict[date, DayAggregate]:
        return {day: DayAggregate.from_dict(data) for day, data in self._range("aggregate", start, end)}

    def snapshots(self, start: date, end: date) -> dict[date, Snapshot]:
        return {day: Snapshot.from_dict(data) for day, data in self._range("snapshot", start, end)}

    def latest_snapshot(self, until: date) -> tuple[date, Snapshot] | None:
        """The most recent snapshot on or before `until`."""
        try:
            for item in MetricsItem.query(
                "snapshot", MetricsItem.sk <= until.isoformat(), scan_index_forward=False, limit=1
            ):
                return date.fromisoformat(item.sk), Snapshot.from_dict(json.loads(item.data))
        except PynamoDBException as error:
            raise _translate(error) from error
        return None

    def _range(self, partition: str, start: date, end: date) -> Iterable[tuple[date, dict[str, Any]]]:
        try:
            for item in MetricsItem.query(partition, MetricsItem.sk.between(start.isoformat(), end.isoformat())):
                yield date.fromisoformat(item.sk), json.loads(item.data)
        except PynamoDBException as error:
            raise _translate(error) from error

    def claim_report(self, day: date, now: float, lease_seconds: float) -> bool:
        """Take the sending of `day`'s report; False when it was sent, or someone else is sending it."""
        item = MetricsItem("report", day.isoformat(), data="{}", status="sending", lease_until=now + lease_seconds)
        try:
            item.save(
                condition=MetricsItem.sk.does_not_exist()
                | ((MetricsItem.status == "sending") & (MetricsItem.lease_until < now))
            )
        except PynamoDBException as error:
            translated = _translate(error)
            if isinstance(translated, VersionConflict):
                return False
            raise translated from error
        return True

    def report_sent(self, day: date, message_id: str) -> None:
        try:
            MetricsItem("report", day.isoformat()).update(
                actions=[MetricsItem.status.set("sent"), MetricsItem.message_id.set(message_id)]
            )
        except PynamoDBException as error:
            raise _translate(error) from error

    def release_report(self, day: date) -> None:
        """Sending failed: let the next run (or a retry) take it again."""
        try:
            MetricsItem("report", day.isoformat()).delete(condition=MetricsItem.status == "sending")
        except PynamoDBException as error:
            translated = _translate(error)
            if not isinstance(translated, VersionConflict):
                raise translated from error


__all__ = ["MetricsRepository", "RetryableStorageError"]
