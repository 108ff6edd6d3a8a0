"""Alert events on Amazon EventBridge: one PutEvents entry per alert, `source` "leadscore".

Other systems (CRM sync, chat, analytics) subscribe with rules on `source` and `detail-type`;
the `detail` of every alert event follows the versioned JSON Schema in SCHEMA_PATH, which is
the contract with them. Nothing above this module touches boto3: any EventBridge failure,
including an entry EventBridge reports as failed, is `BusUnavailable`; a detail that could
never be sent (NaN, over the size limit) is a `ValueError` before any call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

# The schema lives at the repository root (schemas/ is documentation and a test fixture, not
# part of the Lambda artifact): only tests and docs read it, never the deployed code.
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schemas" / "events" / "alert-v1.schema.json"
ALERT_SCHEMA_VERSION = "1"
ALERT_DETAIL_TYPES = {
    "lead_score": "LeadQualified",
    "lead_qualified": "LeadQualified",
    "account_score": "AccountQualified",
    "engaged_buyers": "AccountEngaged",
    "nps_detractor": "NpsDetractor",
    "lead_cold": "LeadCold",
}
MAX_ENTRY_BYTES = 256 * 1024  # PutEvents' limit on one entry (Source + DetailType + Detail + Resources)


class BusUnavailable(Exception):
    """EventBridge did not take the event (an SDK error or a failed entry): publish again later."""


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it: UTF-8 bytes of Source, DetailType, Detail and each resource."""
    size = 14 if "Time" in entry else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(entry.get(key, "").encode("utf-8"))
    return size + sum(len(resource.encode("utf-8")) for resource in entry.get("Resources", []))


class EventPublisher:
    def __init__(self, bus_name: str, region: str, source: str = "leadscore", client: Any | None = None) -> None:
        self.bus_name = bus_name
        self.region = region
        self.source = source
        self.client = client or boto3.client("events", region_name=region)

    def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        """Put one event on the bus; returns its EventId. Raises BusUnavailable when EventBridge fails or reports FailedEntryCount > 0."""
        if not detail_type:
            raise ValueError("a detail type is required")
        # allow_nan=False: NaN and Infinity are not JSON, and subscribers' parsers would refuse them.
        body = json.dumps(detail, allow_nan=False, separators=(",", ":"))
        entry: dict[str, Any] = {
            "Source": self.source,
            "DetailType": detail_type,
            "Detail": body,
            "EventBusName": self.bus_name,
        }
        if resources:
            entry["Resources"] = list(resources)
        size = entry_size(entry)
        if size > MAX_ENTRY_BYTES:
            raise ValueError(f"the event is {size} bytes; EventBridge takes at most {MAX_ENTRY_BYTES}")
        try:
            response = self.client.put_events(Entries=[entry])
        except ParamValidationError as error:  # a request botocore refuses to send is a caller's bug
            raise ValueError(str(error)) from error
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise BusUnavailable(f"{code}: {error.response.get('Error', {}).get('Message', '')}") from error
        except BotoCoreError as error:
            raise BusUnavailable(f"{type(error).__name__}: {error}") from error
        entries = response.get("Entries") or [{}]
        if response.get("FailedEntryCount", 0) > 0 or not entries[0].get("EventId"):
            failed = entries[0]
            raise BusUnavailable(
                f"EventBridge refused the event: {failed.get('ErrorCode', 'unknown')}: {failed.get('ErrorMessage', '')}"
            )
        return str(entries[0]["EventId"])
