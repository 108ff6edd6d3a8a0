"""Where rescore runs keep their place, in the metrics table: which model the stored leads are
being moved to (`rescore` / `model`), and one cursor per scan segment of each run
(`rescore#<run>` / `segment#NNNN`). Every change is a compare-and-set on the item's data, so a
repeated or concurrent worker can never move a cursor twice or back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import PynamoDBException

from ..settings import Settings
from .dynamodb import MetricsItem, VersionConflict, _translate, bind

MARKER = ("rescore", "model")


@dataclass
class Stored:
    raw: str  # the item's data as stored: the compare-and-set's expected value
    data: dict[str, Any]
    status: str | None


class RescoreRuns:
    def __init__(self, settings: Settings) -> None:
        bind(settings)

    def _get(self, pk: str, sk: str) -> Stored | None:
        try:
            item = MetricsItem.get(pk, sk, consistent_read=True)
        except MetricsItem.DoesNotExist:
            return None
        except PynamoDBException as error:
            raise _translate(error) from error
        return Stored(item.data, json.loads(item.data), item.status)

    def _put(self, pk: str, sk: str, data: dict[str, Any], status: str | None, expected: Stored | None) -> bool:
        """Write the item if it still holds `expected` (None: if it does not exist); False if not."""
        item = MetricsItem(pk, sk, data=json.dumps(data, sort_keys=True, separators=(",", ":")), status=status)
        condition = MetricsItem.sk.does_not_exist() if expected is None else MetricsItem.data == expected.raw
        try:
            item.save(condition=condition)
        except PynamoDBException as error:
            translated = _translate(error)
            if isinstance(translated, VersionConflict):
                return False
            raise translated from error
        return True

    def current(self) -> Stored | None:
        """The model the stored leads are being (or were) moved to, and the run that does it."""
        return self._get(*MARKER)

    def claim(self, expected: Stored | None, data: dict[str, Any]) -> bool:
        return self._put(*MARKER, data, "started", expected)

    def create_segment(self, run: str, segment: int) -> None:
        """A segment's cursor at the start of the scan; kept as it is if the run already made it."""
        self._put(f"rescore#{run}", f"segment#{segment:04d}", {"cursor": None, "pages": 0, "leads": 0}, "running", None)

    def segment(self, run: str, segment: int) -> Stored | None:
        return self._get(f"rescore#{run}", f"segment#{segment:04d}")

    def advance(self, run: str, segment: int, expected: Stored, data: dict[str, Any], done: bool) -> bool:
        """Move a segment's cursor on from what `expected` held; False if someone else moved it."""
        return self._put(f"rescore#{run}", f"segment#{segment:04d}", data, "done" if done else "running", expected)

    def segments(self, run: str) -> list[Stored]:
        try:
            return [
                Stored(item.data, json.loads(item.data), item.status)
                for item in MetricsItem.query(f"rescore#{run}", consistent_read=True)
            ]
        except PynamoDBException as error:
            raise _translate(error) from error
