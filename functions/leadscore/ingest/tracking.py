"""Tracking payloads: the project's event format, Segment-style calls, and their signature.

Why HMAC and not API keys: tracking is sent by servers (a tag manager's server container, a
backend, an email platform's webhook). An HMAC over the body proves both who sent it and that
the body was not changed, and the signed timestamp stops an old request being replayed later;
an API key in a header proves only who sent it, and is easily leaked from logs. Within the
five-minute tolerance a replay is harmless: event ids make scoring idempotent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.events import MAX_DOCUMENT_DEPTH, EventError, check_values, parse_event
from ..core.state import Event

if TYPE_CHECKING:
    from ..core.spec import NpsSpec  # the build stores the spec without pydantic (core/frozen.py)

MAX_BATCH = 100
MAX_EVENT_BYTES = 16 * 1024  # so a lead's batch of events fits one DynamoDB item in the event log
SIGNATURE_TOLERANCE = 300.0  # seconds
FUTURE_TOLERANCE = 300.0

# Segment's specced event names -> this project's event types.
SEGMENT_EVENTS = {
    "page viewed": "page_view",
    "email opened": "email_open",
    "email link clicked": "email_click",
    "email clicked": "email_click",
    "unsubscribed": "email_unsubscribe",
    "email unsubscribed": "email_unsubscribe",
    "file downloaded": "download",
    "asset downloaded": "download",
    "video playback completed": "video_play",
    "video content playing": "video_play",
    "webinar registered": "webinar_register",
    "webinar attended": "webinar_attend",
    "form submitted": "form_submit",
}


class SignatureError(ValueError):
    """A request whose signature cannot be trusted; `code` says why (missing, malformed, expired, bad)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PayloadError(ValueError):
    """A batch with bad items: `problems` lists (index, message)."""

    def __init__(self, problems: list[tuple[int | None, str]]):
        super().__init__("; ".join(f"[{i}] {m}" if i is not None else m for i, m in problems))
        self.problems = problems


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a client sends: t=<unix seconds>,v1=<hex HMAC-SHA256 of 't.body'>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


_MALFORMED = "malformed X-Leadscore-Signature header; expected t=<unix time>,v1=<hex sha256>"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() is true for '²', which int() refuses
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def _signature_parts(header: str) -> dict[str, str]:
    """The header's key=value pairs; a key given twice is malformed (which one would be checked?)."""
    if len(header) > 512:
        raise SignatureError("malformed_signature", _MALFORMED)
    parts: dict[str, str] = {}
    for part in header.split(","):
        if "=" not in part:
            continue
        key, value = part.split("=", 1)
        if key in parts:
            raise SignatureError("malformed_signature", f"{_MALFORMED}; {key[:20]!r} is given twice")
        parts[key] = value
    return parts


def verify_signature(secret: str, body: bytes, header: str | None, now: float) -> None:
    """Authenticate the body before anything reads it: only ASCII digits and hex are parsed."""
    if not header:
        raise SignatureError("missing_signature", "missing X-Leadscore-Signature header")
    parts = _signature_parts(header)
    timestamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        raise SignatureError("malformed_signature", _MALFORMED)
    if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE:
        raise SignatureError(
            "expired_signature", "signature expired: its timestamp is more than 5 minutes from now (replayed?)"
        )
    expected = sign(secret, body, int(timestamp)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("bad_signature", "signature does not match the body")


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def from_segment(call: dict[str, Any]) -> dict[str, Any]:
    """A Segment track / page / identify call in the project's event format."""
    kind = call.get("type")
    if not isinstance(kind, str):
        raise EventError("type: a Segment call's type is text: track, page or identify")
    context = call.get("context") if isinstance(call.get("context"), dict) else {}
    traits = call.get("traits") if isinstance(call.get("traits"), dict) else {}
    context_traits = context.get("traits") if isinstance(context.get("traits"), dict) else {}
    written = call.get("properties")
    if written is not None and not isinstance(written, dict):
        raise EventError("properties: expected a JSON object")
    properties = dict(written or {})
    email = traits.get("email") or context_traits.get("email")
    user_id = call.get("userId")
    if not email and isinstance(user_id, str) and "@" in user_id:
        email = user_id
    anonymous_id = call.get("anonymousId")
    if kind == "track":
        name = call.get("event")
        if not isinstance(name, str) or not name.strip():
            raise EventError("event: a Segment track call needs an event name")
        event_type = SEGMENT_EVENTS.get(name.strip().lower(), _snake(name))
    elif kind == "page":
        event_type = "page_view"
        page = context.get("page") if isinstance(context.get("page"), dict) else {}
        properties.setdefault("url", page.get("url"))
        if call.get("name"):
            properties.setdefault("name", call.get("name"))
    elif kind == "identify":
        event_type = "identify"
    else:
        raise EventError(f"type: Segment call type {kind!r} is not supported (track, page, identify)")
    event: dict[str, Any] = {
        "id": call.get("messageId"),
        "type": event_type,
        "timestamp": call.get("timestamp") or call.get("originalTimestamp"),
        "properties": {k: v for k, v in properties.items() if v is not None},
    }
    if email:
        event["email"] = email
        if anonymous_id:  # the visits before this call belong to this lead
            event["properties"]["anonymous_id"] = anonymous_id
    elif anonymous_id:
        event["anonymous_id"] = anonymous_id
    if kind == "identify":
        event["profile"] = {k: v for k, v in {**context_traits, **traits}.items() if k != "email"}
    return event


SEGMENT_CALL_TYPES = frozenset({"track", "page", "identify", "screen", "group", "alias"})
SEGMENT_KEYS = ("messageId", "anonymousId", "userId")


def is_segment(item: dict[str, Any]) -> bool:
    """A Segment call: one of its keys, and a Segment call type (or a type that is not text at all,
    which from_segment then refuses by name)."""
    if not any(key in item for key in SEGMENT_KEYS):
        return False
    kind = item.get("type")
    return not isinstance(kind, str) or kind in SEGMENT_CALL_TYPES


@dataclass(frozen=True)
class TrackedEvent:
    event: Event
    raw: dict[str, Any]


def parse_tracking_body(
    data: Any, known_types: Iterable[str], now: float, retention_days: int, nps: NpsSpec | None = None
) -> list[TrackedEvent]:
    """A single event, `{"batch": [...]}` or a JSON array, all valid or none (each problem listed)."""
    if isinstance(data, list):
        items, batched = data, True
    elif isinstance(data, dict) and "batch" in data:
        items, batched = data["batch"], True
        if not isinstance(items, list):
            raise PayloadError([(None, "batch: expected a list of events")])
    elif isinstance(data, dict):
        items, batched = [data], False
    else:
        raise PayloadError([(None, 'expected an event object, a list of events, or {"batch": [...]}')])
    if not items:
        raise PayloadError([(None, "the batch is empty")])
    if len(items) > MAX_BATCH:
        raise PayloadError([(None, f"at most {MAX_BATCH} events per request, got {len(items)}")])
    known = set(known_types)
    oldest = now - retention_days * 86400.0
    accepted: list[TrackedEvent] = []
    problems: list[tuple[int | None, str]] = []
    for index, item in enumerate(items):
        where = index if batched else None
        try:
            if not isinstance(item, dict):
                raise EventError("an event is a JSON object")
            if len(json.dumps(item, separators=(",", ":"), default=repr)) > MAX_EVENT_BYTES:
                raise EventError(f"the event is larger than {MAX_EVENT_BYTES} bytes")
            if is_segment(item):  # queued as received: check all of it, in the sender's terms (context.x)
                check_values(item, "", MAX_DOCUMENT_DEPTH)
                event = parse_event(from_segment(item), known, nps)
            else:  # parse_event checks every field a project event may have
                event = parse_event(item, known, nps)
            if event.ts > now + FUTURE_TOLERANCE:
                raise EventError("timestamp: in the future")
            if event.ts < oldest:
                raise EventError(f"timestamp: older than the {retention_days}-day retention")
            accepted.append(TrackedEvent(event, item))
        except EventError as error:
            problems.append((where, str(error)))
    if problems:
        raise PayloadError(problems)
    return accepted
