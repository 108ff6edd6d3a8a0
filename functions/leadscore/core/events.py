"""The project's event format: plain JSON in, a typed `Event` out, or a message naming the problem.

{"id": "evt-1", "type": "download", "email": "ann@acme.com" | "anonymous_id": "a-1",
 "timestamp": "2026-11-02T10:00:00Z", "properties": {...}, "profile": {...}}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .state import Event

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_ALLOWED_KEYS = frozenset({"id", "type", "email", "anonymous_id", "timestamp", "properties", "profile"})
MAX_ID_LENGTH = 200


class EventError(ValueError):
    """An event that cannot be scored; the message names the field and the problem."""


def normalise_email(value: str) -> str:
    return value.strip().casefold()


def is_email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL.match(value) is not None


def anonymous_lead(anonymous_id: str) -> str:
    return f"anon:{anonymous_id}"


def parse_timestamp(value: Any) -> float:
    if isinstance(value, bool):
        raise EventError("timestamp: expected an ISO 8601 time like 2026-11-02T10:00:00Z")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise EventError("timestamp: expected an ISO 8601 time like 2026-11-02T10:00:00Z")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise EventError(f"timestamp: {value!r} is not an ISO 8601 time like 2026-11-02T10:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_timestamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_event(data: Any, known_types: Iterable[str] | None = None) -> Event:
    if not isinstance(data, dict):
        raise EventError("an event is a JSON object with id, type, email or anonymous_id, timestamp")
    unknown = sorted(set(data) - _ALLOWED_KEYS)
    if unknown:
        raise EventError(f"unknown field(s): {', '.join(unknown)}; put event details under `properties`")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_ID_LENGTH:
        raise EventError(f"id: expected a non-empty text of at most {MAX_ID_LENGTH} characters")
    event_type = data.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("type: expected an event type such as page_view or download")
    if known_types is not None and event_type not in set(known_types):
        raise EventError(f"type: unknown event type {event_type!r}")
    email = data.get("email")
    anonymous_id = data.get("anonymous_id")
    if email is not None:
        if not isinstance(email, str) or not is_email(email.strip()):
            raise EventError(f"email: {email!r} is not an email address")
        lead = normalise_email(email)
    elif isinstance(anonymous_id, str) and anonymous_id.strip():
        lead = anonymous_lead(anonymous_id.strip())
    else:
        raise EventError("email or anonymous_id: one of them is needed to know whose event it is")
    if "timestamp" not in data:
        raise EventError("timestamp: missing; when did it happen?")
    ts = parse_timestamp(data["timestamp"])
    properties = data.get("properties", {})
    if not isinstance(properties, dict):
        raise EventError("properties: expected a JSON object")
    profile = data.get("profile")
    if profile is not None and not isinstance(profile, dict):
        raise EventError("profile: expected a JSON object")
    return Event(event_id, event_type, lead, ts, properties, profile)


def event_to_json(event: Event) -> dict[str, Any]:
    """The inverse of parse_event (for logs and replays)."""
    data: dict[str, Any] = {"id": event.id, "type": event.type, "timestamp": format_timestamp(event.ts)}
    if event.lead.startswith("anon:"):
        data["anonymous_id"] = event.lead[5:]
    else:
        data["email"] = event.lead
    data["properties"] = event.properties
    if event.profile is not None:
        data["profile"] = event.profile
    return data
