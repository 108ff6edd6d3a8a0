"""SQS FIFO producer: accepted events go to the one scoring queue, grouped by lead."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..core.events import event_to_json
from ..core.state import Event


class QueueUnavailable(Exception):
    """The queue did not take every message; the client should retry (503)."""


def message_body(event: Event, raw: dict[str, Any], source: str) -> str:
    return json.dumps({"event": event_to_json(event), "raw": raw, "source": source}, separators=(",", ":"), default=str)


def group_id(lead: str) -> str:
    """One FIFO group per lead: its events and schedule ticks are scored in order, one at a time."""
    return hashlib.sha256(lead.encode()).hexdigest()[:64]


class ScoringQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self.client = client or boto3.client("sqs")

    def send(self, items: Sequence[tuple[Event, dict[str, Any]]], source: str) -> None:
        """Send every event (10 per call); FIFO groups keep each lead's events in order."""
        self._send_all(
            [
                {
                    "MessageBody": message_body(event, raw, source),
                    "MessageGroupId": group_id(event.lead),
                    "MessageDeduplicationId": hashlib.sha256(event.id.encode()).hexdigest()[:64],
                }
                for event, raw in items
            ]
        )

    def send_ticks(self, leads: Sequence[str], at: float) -> None:
        """A schedule tick per lead: decay and cold marking at `at`, through the scoring path.

        Deduplicated per lead and run (the same `at`), and harmless if repeated: decay and cold
        marking are idempotent for a given time.
        """
        self._send_all(
            [
                {
                    "MessageBody": json.dumps({"tick": {"lead": lead, "at": at}, "source": "schedule"}),
                    "MessageGroupId": group_id(lead),
                    "MessageDeduplicationId": hashlib.sha256(f"tick|{lead}|{at!r}".encode()).hexdigest()[:64],
                }
                for lead in leads
            ]
        )

    def _send_all(self, messages: list[dict[str, str]]) -> None:
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(start + i), **message} for i, message in enumerate(messages[start : start + 10])]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                raise QueueUnavailable(str(error)) from error
            self._check(response)

    @staticmethod
    def _check(response: dict[str, Any]) -> None:
        if response.get("Failed"):
            failed = ", ".join(f"{f.get('Id')}: {f.get('Code')}" for f in response["Failed"])
            raise QueueUnavailable(f"the queue refused {len(response['Failed'])} message(s): {failed}")


class RescoreQueue:
    """SQS FIFO producer of a rescore run's work items: one message group per scan segment, so a
    segment's pages are worked one at a time, in order; deduplicated by run, segment and cursor."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self.client = client or boto3.client("sqs")

    def send(self, items: Sequence[dict[str, Any]]) -> None:
        messages = []
        for item in items:
            body = json.dumps(item, sort_keys=True, separators=(",", ":"))
            messages.append(
                {
                    "MessageBody": body,
                    "MessageGroupId": f"{item['run']}-{item['segment']}"[:128],
                    "MessageDeduplicationId": hashlib.sha256(body.encode()).hexdigest()[:64],
                }
            )
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(i), **message} for i, message in enumerate(messages[start : start + 10])]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                raise QueueUnavailable(str(error)) from error
            ScoringQueue._check(response)
