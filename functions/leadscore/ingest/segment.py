"""Segment's tracking spec in this project's terms: calls become events, Segment names become types.

Pure: no HTTP, no AWS. The handler (handlers/segment.py) authenticates, decompresses and reads the
body; this module checks Segment's limits, picks each call's lead, maps its name to an event type
of the model and says, for every call, whether it is queued or ignored (and why).

Identity: the lead is an email (`traits.email`, `context.traits.email`, or a `userId` that is an
email); otherwise a `userId` becomes the visitor `uid:<userId>` (so a backend that only knows its
own user ids is scored, and one identify carrying that userId and an email merges it into the
lead); otherwise the `anonymousId` is the visitor. An email call links the visitor ids it carries
to the lead, but from a browser key only a visitor id this system signed (see ingest/visitors.py),
and never a userId: a web page cannot claim somebody else's browsing or account.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.events import (
    MAX_DOCUMENT_DEPTH,
    MAX_ID_LENGTH,
    EventError,
    anonymous_id_problem,
    check_values,
    parse_email,
    parse_event,
    parse_timestamp,
)
from .tracking import FUTURE_TOLERANCE, MAX_EVENT_BYTES, TrackedEvent

if TYPE_CHECKING:
    from ..core.spec import NpsSpec  # the build stores the spec without pydantic (core/frozen.py)

MAX_CALL_BYTES = 32 * 1024  # Segment: 32 KB per call
MAX_BATCH_BYTES = 500 * 1024  # Segment: 500 KB per batch request, measured decompressed
MAX_KEPT_BYTES = MAX_EVENT_BYTES  # what the event log keeps of a call, as for POST /events

# Event types a public browser key may send when the model does not say (no `public_event_types`).
DEFAULT_PUBLIC_TYPES = frozenset({"page_view", "video_play", "download"})

CALL_TYPES = ("track", "page", "screen", "identify", "group", "alias")
VIDEO_EVENTS = frozenset(
    {
        "video playback started",
        "video playback paused",
        "video playback resumed",
        "video playback seek completed",
        "video playback buffer completed",
        "video playback interrupted",
        "video playback completed",
        "video content started",
        "video content playing",
        "video content completed",
    }
)
COMPLETED_VIDEO = frozenset({"video playback completed", "video content completed"})

# Segment's specced track names (lower case) -> this project's event types. A name not here is
# snake_cased ("Pricing Calculator" -> pricing_calculator) and scored only if the model knows it.
TRACK_EVENTS: dict[str, str] = {
    # pages and e-commerce browsing: a product page is a page view
    "page viewed": "page_view",
    "product viewed": "page_view",
    "product list viewed": "page_view",
    # email
    "email opened": "email_open",
    "email link clicked": "email_click",
    "email clicked": "email_click",
    "unsubscribed": "email_unsubscribe",
    "email unsubscribed": "email_unsubscribe",
    "email marked as spam": "email_unsubscribe",
    # content
    "file downloaded": "download",
    "asset downloaded": "download",
    "webinar registered": "webinar_register",
    "webinar attended": "webinar_attend",
    "form submitted": "form_submit",
    # Segment's B2B SaaS spec, scored when the model declares these types
    "trial started": "trial_start",
    "demo requested": "demo_request",
    **dict.fromkeys(VIDEO_EVENTS, "video_play"),
}

# Why a call was answered 200 but not queued.
UNMAPPED = "unmapped_type"  # a track name the model has no type for
SERVER_ONLY = "server_key_only"  # a type a browser key may not send
UNSUPPORTED = "unsupported_call"  # alias: identities merge through identify instead


class SegmentError(ValueError):
    """A body Segment would answer 400: `code` is stable, `problems` lists (index, message)."""

    def __init__(self, code: str, message: str, problems: list[tuple[int | None, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems or []


@dataclass(frozen=True)
class Policy:
    """What the caller's key may do, and what the model knows."""

    known_types: frozenset[str]
    browser: bool = False  # a public browser key: public types only, no trusted traits, signed links only
    public_types: frozenset[str] = DEFAULT_PUBLIC_TYPES
    trusted_fields: frozenset[str] = frozenset()
    company_id_field: str = "company_id"
    signed_visitor: Callable[[str], bool] = lambda _visitor: False  # is this visitor id one we issued?
    nps: NpsSpec | None = None  # the model's NPS scale: answers off it are refused at the door


@dataclass(frozen=True)
class Ignored:
    index: int
    reason: str
    name: str  # the call's type or track name, for the log


@dataclass
class Translation:
    accepted: list[TrackedEvent] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr).encode("utf-8"))


def calls(data: Any, route_type: str | None) -> tuple[list[Any], dict[str, Any]]:
    """The calls of a request and the batch's shared fields (context, sentAt).

    /v1/batch takes `{"batch": [...]}`; /v1/track, /page, /identify, /screen and /group take one
    call whose type is the route's.
    """
    if not isinstance(data, dict):
        raise SegmentError("not_an_object", "expected a JSON object")
    if route_type is None:
        batch = data.get("batch")
        if not isinstance(batch, list):
            raise SegmentError("invalid_events", 'expected {"batch": [...]}: a list of calls under `batch`')
        shared = {key: data[key] for key in ("context", "sentAt") if key in data}
        return [_without_key(call) for call in batch], shared
    return [{**_without_key(data), "type": route_type}], {}


def _without_key(call: Any) -> Any:
    """A call without the `writeKey` analytics.js puts in it: a key is never queued or logged."""
    return {key: value for key, value in call.items() if key != "writeKey"} if isinstance(call, dict) else call


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _object(call: dict[str, Any], key: str) -> dict[str, Any]:
    value = call.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(f"{key}: expected a JSON object")
    return value


def _time(value: Any, name: str) -> float:
    try:
        return parse_timestamp(value)
    except EventError as error:
        raise EventError(f"{name}:{str(error).removeprefix('timestamp:')}") from None


def event_time(call: dict[str, Any], shared: dict[str, Any], received_at: float) -> float:
    """`timestamp` as given; else Segment's clock-skew correction receivedAt - (sentAt - originalTimestamp);
    else originalTimestamp; else the time it was received."""
    if call.get("timestamp") is not None:
        return _time(call["timestamp"], "timestamp")
    if call.get("originalTimestamp") is None:
        return received_at
    original = _time(call["originalTimestamp"], "originalTimestamp")
    sent = call.get("sentAt", shared.get("sentAt"))
    if sent is None:
        return original
    return received_at - (_time(sent, "sentAt") - original)


def message_id(call: dict[str, Any]) -> str:
    """The event id: `messageId` (an SDK's retry sends the same), else a hash of the call itself."""
    given = call.get("messageId")
    if given is None:
        content = {key: value for key, value in call.items() if key not in {"sentAt", "receivedAt"}}
        return "segment-" + hashlib.sha256(json.dumps(content, sort_keys=True, default=repr).encode()).hexdigest()[:40]
    if not isinstance(given, str | int) or isinstance(given, bool):
        raise EventError("messageId: expected text")
    text = str(given)
    if not text.strip() or len(text) > MAX_ID_LENGTH:
        raise EventError(f"messageId: expected 1 to {MAX_ID_LENGTH} characters")
    return text


def _user_visitor(call: dict[str, Any]) -> str | None:
    """A userId that is not an email, as a visitor id `uid:<userId>`."""
    user_id = call.get("userId")
    if user_id is None or user_id == "" or isinstance(user_id, bool):
        return None
    if not isinstance(user_id, str | int):
        raise EventError("userId: expected text")
    text = str(user_id).strip()
    if parse_email(text) is not None:
        return None
    visitor = f"uid:{text}"
    if anonymous_id_problem(visitor) is not None:
        raise EventError("userId: expected an email, or at most 196 printable ASCII characters without spaces")
    return visitor


def _identity(call: dict[str, Any], traits: dict[str, Any], context_traits: dict[str, Any]) -> dict[str, Any]:
    """The lead (email, or a visitor) and the visitor ids an email call links."""
    email = traits.get("email") or context_traits.get("email")
    user_id = call.get("userId")
    if not email and isinstance(user_id, str) and parse_email(user_id) is not None:
        email = user_id
    user_visitor = _user_visitor(call)
    anonymous = call.get("anonymousId")
    anonymous = str(anonymous).strip() if isinstance(anonymous, str | int) and not isinstance(anonymous, bool) else None
    if email:
        links = [visitor for visitor in (anonymous, user_visitor) if visitor]
        return {"email": email, "links": links}
    if user_visitor:
        return {"anonymous_id": user_visitor, "links": []}
    if anonymous:
        return {"anonymous_id": anonymous, "links": []}
    raise EventError("userId or anonymousId: a Segment call needs one of them")


def _percent(properties: dict[str, Any], completed: bool) -> float | None:
    """Percent watched from position / total_length (seconds), as the model scores video."""
    given = properties.get("percent")
    if isinstance(given, int | float) and not isinstance(given, bool):
        return None  # the sender's own figure stands
    position, total = properties.get("position"), properties.get("total_length")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (position, total))
    if numbers and total > 0:
        return round(min(100.0, max(0.0, 100.0 * position / total)), 1)
    return 100.0 if completed else None


def _properties(call: dict[str, Any], kind: str, name: str | None, context: dict[str, Any]) -> dict[str, Any]:
    properties = dict(_object(call, "properties"))
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    for key in ("url", "referrer", "title"):
        if properties.get(key) is None and page.get(key) is not None:
            properties[key] = page[key]
    campaign = context.get("campaign") if isinstance(context.get("campaign"), dict) else {}
    for key, utm in (
        ("name", "utm_campaign"),
        ("source", "utm_source"),
        ("medium", "utm_medium"),
        ("term", "utm_term"),
        ("content", "utm_content"),
    ):
        if campaign.get(key) is not None:
            properties.setdefault(utm, campaign[key])
    if kind in {"page", "screen"} and call.get("name") is not None:
        properties.setdefault("name", call["name"])
    lowered = (name or "").strip().lower()
    if lowered in VIDEO_EVENTS:
        percent = _percent(properties, lowered in COMPLETED_VIDEO)
        if percent is not None:
            properties["percent"] = percent
    elif lowered in {"file downloaded", "asset downloaded"}:
        for source in ("file_name", "asset_id", "name"):
            if properties.get("asset") is None and properties.get(source) is not None:
                properties["asset"] = properties[source]
    elif lowered == "form submitted":
        for source in ("form_id", "form_name"):
            if properties.get("form") is None and properties.get(source) is not None:
                properties["form"] = properties[source]
    elif lowered == "email link clicked" and properties.get("link_url") is not None:
        properties.setdefault("url", properties["link_url"])
    return {key: value for key, value in properties.items() if value is not None}


def event_type(call: dict[str, Any], known: frozenset[str]) -> tuple[str | None, str]:
    """(the project type or None if unmapped, the name to log)."""
    kind = call["type"]
    if kind == "track":
        name = call.get("event")
        if not isinstance(name, str) or not name.strip():
            raise EventError("event: a track call needs an event name")
        mapped = TRACK_EVENTS.get(name.strip().lower()) or snake(name)
        return (mapped if mapped in known else None), name[:80]
    if kind in {"page", "screen"}:
        return "page_view", kind
    if kind in {"identify", "group"}:
        return "identify", kind
    return None, kind


def _kept(call: dict[str, Any]) -> dict[str, Any]:
    """The call as the event log keeps it: whole if small, else without its bulky parts."""
    if _size(call) <= MAX_KEPT_BYTES:
        return call
    context = call.get("context") if isinstance(call.get("context"), dict) else {}
    slim = {key: value for key, value in call.items() if key not in {"context", "integrations", "properties", "traits"}}
    slim["context"] = {key: context[key] for key in ("ip", "userAgent", "page", "campaign") if key in context}
    if _size(slim) > MAX_KEPT_BYTES:
        slim = {key: call[key] for key in ("type", "event", "messageId", "userId", "anonymousId") if key in call}
    slim["trimmed"] = "larger than 16 KB: properties and traits are in the event"
    return slim


def _translate_one(
    call: dict[str, Any], shared: dict[str, Any], policy: Policy, received_at: float
) -> tuple[list[dict[str, Any]], str | None, str]:
    """The project events for one call, or ([], why it is ignored, name)."""
    kind = call.get("type")
    if kind not in CALL_TYPES:
        raise EventError(f"type: expected one of {', '.join(CALL_TYPES)}")
    if kind == "alias":
        return [], UNSUPPORTED, kind
    mapped, name = event_type(call, policy.known_types)
    if mapped is None:
        return [], UNMAPPED, name
    if policy.browser and mapped not in policy.public_types | {"identify"}:
        return [], SERVER_ONLY, name
    if policy.browser and kind == "group":
        return [], SERVER_ONLY, name  # a group call sets the account: a trusted field
    shared_context = shared.get("context") if isinstance(shared.get("context"), dict) else {}
    context = {**shared_context, **_object(call, "context")}
    traits = _object(call, "traits")
    profile: dict[str, Any] = {}
    context_traits = context.get("traits") if isinstance(context.get("traits"), dict) else {}
    if kind == "group":  # the group's traits describe the company, not the person
        group_id = call.get("groupId")
        if not isinstance(group_id, str | int) or isinstance(group_id, bool) or not str(group_id).strip():
            raise EventError("groupId: a group call needs the account's id")
        traits, profile = {}, {policy.company_id_field: str(group_id).strip()}
    identity = _identity(call, traits, context_traits)
    event_id = message_id(call)
    event: dict[str, Any] = {
        "id": event_id,
        "type": mapped,
        "timestamp": event_time(call, shared, received_at),
        "properties": _properties(call, kind, call.get("event") if kind == "track" else None, context),
    }
    if kind == "identify":
        profile = {key: value for key, value in {**context_traits, **traits}.items() if key != "email"}
    if kind in {"identify", "group"}:
        if policy.browser:
            profile = {key: value for key, value in profile.items() if key not in policy.trusted_fields}
        event["profile"] = profile
    links = identity.pop("links")
    event.update(identity)
    if policy.browser:  # a page may link only a visitor id this system signed, never a userId
        links = [visitor for visitor in links if not visitor.startswith("uid:") and policy.signed_visitor(visitor)]
    events = [event]
    if links:
        event["properties"]["anonymous_id"] = links[0]
    for extra in links[1:]:  # one link per event: the userId's visitor gets its own, with a derived id
        events.append(
            {
                "id": f"{event_id}#link",
                "type": "identify",
                "timestamp": event["timestamp"],
                "properties": {"anonymous_id": extra},
                "email": event["email"],
            }
        )
    return events, None, name


def translate(
    calls_: Iterable[Any], shared: dict[str, Any], policy: Policy, received_at: float, retention_days: int
) -> Translation:
    """Every call queued or ignored, or a SegmentError listing each bad call (then nothing is queued)."""
    items = list(calls_)
    if not items:
        raise SegmentError("invalid_events", "the batch is empty")
    try:
        check_values(shared, "", MAX_DOCUMENT_DEPTH)
    except EventError as error:
        raise SegmentError("invalid_events", "the batch's shared fields are not valid", [(None, str(error))]) from None
    oldest = received_at - retention_days * 86400.0
    result = Translation()
    problems: list[tuple[int | None, str]] = []
    for index, call in enumerate(items):
        try:
            if not isinstance(call, dict):
                raise EventError("a call is a JSON object")
            if _size(call) > MAX_CALL_BYTES:
                raise SegmentError(
                    "event_too_large", f"call {index} is larger than 32 KB", [(index, "larger than 32 KB")]
                )
            check_values(call, "", MAX_DOCUMENT_DEPTH)
            events, reason, name = _translate_one(call, shared, policy, received_at)
            if reason is not None:
                result.ignored.append(Ignored(index, reason, name))
                continue
            kept = _kept(call)
            for data in events:
                event = parse_event(data, policy.known_types, policy.nps)
                if event.ts > received_at + FUTURE_TOLERANCE:
                    raise EventError("timestamp: in the future (more than 5 minutes ahead)")
                if event.ts < oldest:
                    raise EventError(f"timestamp: older than the {retention_days}-day retention")
                if _size(data) > MAX_KEPT_BYTES:
                    raise EventError("properties and traits: more than 16 KB, the most an event keeps for scoring")
                result.accepted.append(TrackedEvent(event, kept))
        except EventError as error:
            problems.append((index, str(error)))
    if problems:
        raise SegmentError("invalid_events", "no call was accepted: fix these and send again", problems)
    return result
