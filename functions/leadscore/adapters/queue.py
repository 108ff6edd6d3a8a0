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


class ScoringQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self.client = client or boto3.client("sqs")

    def send(self, items: Sequence[tuple[Event, dict[str, Any]]], source: str) -> None:
        """Send every event (10 per call); FIFO groups keep each lead's events in order."""
        for start in range(0, len(items), 10):
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": message_body(event, raw, source),
                    "MessageGroupId": hashlib.sha256(event.lead.encode()).hexdigest()[:64],
                    "MessageDeduplicationId": hashlib.sha256(event.id.encode()).hexdigest()[:64],
                }
                for index, (event, raw) in enumerate(items[start : start + 10], start=start)
            ]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                raise QueueUnavailable(str(error)) from error
            if response.get("Failed"):
                failed = ", ".join(f"{f.get('Id')}: {f.get('Code')}" for f in response["Failed"])
                raise QueueUnavailable(f"the queue refused {len(response['Failed'])} message(s): {failed}")
