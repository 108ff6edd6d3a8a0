"""The project's event format: plain JSON in, a typed `Event` out, or a message naming the problem.

{"id": "evt-1", "type": "download", "email": "ann@acme.com" | "anonymous_id": "a-1",
 "timestamp": "2026-11-02T10:00:00Z", "properties": {...}, "profile": {...}}

Everything that becomes a lead key goes through here, whichever door it came in by (forms,
tracking, Segment, GET /leads/{email}), and `parse_event` is also what the consumer runs, so
what a door accepts the consumer can score, and a message that bypassed the door is refused:

- emails: see `parse_email` (one normalisation; the result never contains ':', so an email can
  never land in the `anon:<id>` namespace);
- anonymous ids: 1 to 200 printable ASCII characters, no whitespace;
- numbers in `properties` and `profile`: finite and at most 2**63 in magnitude (NUMBER_RULE),
  nested at most MAX_NESTING levels;
- timestamps: from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z;
- video: `percent` watched is derived from seconds (see `video_percent`) when the sender gives
  `position` and `duration` (or Segment's `total_length`) but no `percent`;
- NPS answers (the model's `nps.field`, in `profile` or `properties`), when the caller passes the
  model's `nps` settings: whole numbers on its scale (see `nps_problem`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import idna

from .state import Event

if TYPE_CHECKING:  # annotations only: the validated spec (pydantic) stays off the scoring import path
    from .spec import NpsSpec

_ALLOWED_KEYS = frozenset({"id", "type", "email", "anonymous_id", "timestamp", "properties", "profile"})
MAX_ID_LENGTH = 200

# Numbers: one bound wherever they enter (event properties and profile, Segment calls, form
# fields). 2**63 fits every client's 64-bit integer and any float arithmetic on scores.
MAX_NUMBER = 2**63
NUMBER_RULE = "numbers must be finite and at most 2**63 (9223372036854775808) in magnitude"
MAX_NESTING = 5  # objects/arrays in properties and profile, counting `properties` itself
MAX_DOCUMENT_DEPTH = 32  # objects/arrays in a whole request body

# Timestamps: years 1970 to 9999 (UTC), so every accepted time can be formatted back.
MIN_TS = 0.0
END_TS = 253402300800.0  # 10000-01-01T00:00:00Z, excluded
TIME_RANGE = "expected a time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"
ISO_HINT = "expected an ISO 8601 time like 2026-11-02T10:00:00Z"

# Identity.
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_LENGTH = 64
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_LOCAL_SYMBOLS = frozenset("!#$%&'*+/=?^_`{|}~.-")
_ANONYMOUS_ID = re.compile(r"[\x21-\x7e]{1,200}")
ANONYMOUS_ID_RULE = "expected a visitor id of 1 to 200 printable ASCII characters without spaces"


class EventError(ValueError):
    """An event that cannot be scored; the message names the field and the problem."""


class OutOfRange:
    """A JSON number outside NUMBER_RULE, as written (`1e400`, `NaN`, 5,000 digits).

    The strict JSON reader puts one in the number's place instead of refusing the whole body,
    so the check that knows the field (a form field, `properties.percent`, `timestamp`) can
    name it. Every check refuses it; nothing can store or score it.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        digits = sum(ch.isdigit() for ch in self.text)
        if digits > 30:
            return (
                f"an integer of {digits} digits" if self.text.lstrip("-").isdigit() else f"a number of {digits} digits"
            )
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutOfRange) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


# --- identity -------------------------------------------------------------------------------------


def _fold(text: str) -> str | None:
    """NFKC and case folding until stable, so normalising a normalised address changes nothing."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).strip()
    for _ in range(4):
        folded = unicodedata.normalize("NFKC", text.casefold())
        if folded == text:
            return text
        text = folded
    return None


def _local_part_ok(local: str) -> bool:
    """The unquoted RFC 5322 set, with non-ASCII letters (RFC 6532): never ':', space or '@'."""
    if not local or len(local) > MAX_LOCAL_LENGTH:
        return False
    for index, ch in enumerate(local):
        if ch.isascii():
            if not (ch.isalnum() or ch in _LOCAL_SYMBOLS):
                return False
            continue
        category = unicodedata.category(ch)
        if category[0] == "L" or category == "Nd":
            continue
        if category[0] == "M" and index > 0:  # combining marks, as in many scripts' letters
            continue
        return False
    return True


def _ascii_domain(domain: str) -> str | None:
    """The domain in its ASCII (IDNA, UTS #46) form; None for IP literals, bare IPs and non-hosts."""
    if not domain or domain.startswith("["):
        return None
    try:
        ascii_domain = idna.encode(domain, uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or any(not label for label in labels) or labels[-1].isdigit():
        return None  # trailing dot, or a numeric top-level label: a bare IP address (1.2.3.4)
    return ascii_domain


def parse_email(value: Any) -> str | None:
    """The lead key for an email address, or None if it is not one.

    One normalisation for every door: Unicode NFKC; zero-width and invisible characters
    (U+200B..U+200D, U+2060, U+FEFF, U+00AD) removed; surrounding whitespace stripped; case
    folded (so `ß` becomes `ss`); the domain in its ASCII IDNA form (`exämple.com` ->
    `xn--exmple-cua.com`). Only then are lengths checked (254 in all, 64 before the @), since
    folding can grow the text. Refused: control characters, whitespace inside, quoted or
    commented local parts, anything outside the unquoted RFC 5322 set (so never ':'), IP
    literals and bare IP addresses, domains without a dot.
    """
    if not isinstance(value, str) or len(value) > 4 * MAX_EMAIL_LENGTH:
        return None
    text = _fold(value)
    if text is None or text.count("@") != 1:
        return None
    local, domain = text.split("@")
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None or not _local_part_ok(local):
        return None
    address = f"{local}@{ascii_domain}"
    return address if len(address) <= MAX_EMAIL_LENGTH else None


def normalise_email(value: str) -> str:
    """The normalised form of an address (see parse_email); text that is not one is returned folded."""
    address = parse_email(value)
    if address is not None:
        return address
    return _fold(value) or value.strip()


def is_email(value: str) -> bool:
    """True if `value` is an email address once normalised (see parse_email)."""
    return parse_email(value) is not None


def anonymous_id_problem(value: Any) -> str | None:
    """Why `value` is not a visitor id, or None (surrounding whitespace is ignored)."""
    if isinstance(value, str) and _ANONYMOUS_ID.fullmatch(value.strip()):
        return None
    return ANONYMOUS_ID_RULE


def anonymous_lead(anonymous_id: str) -> str:
    return f"anon:{anonymous_id}"


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value[:limit] if isinstance(value, str) else value)
    return text if len(text) <= limit + 2 else text[:limit] + "..."


# --- numbers and nesting --------------------------------------------------------------------------


def _integer_text(value: int) -> str:
    magnitude = abs(value)
    if magnitude.bit_length() <= 256:
        return str(value)
    digits = int(math.log10(magnitude)) + 1  # str() refuses integers over 4,300 digits
    if magnitude < 10 ** (digits - 1):
        digits -= 1
    elif magnitude >= 10**digits:
        digits += 1
    return f"an integer of {digits} digits"


def number_problem(value: Any) -> str | None:
    """Why `value` breaks NUMBER_RULE, or None (values that are not numbers are not its concern)."""
    if isinstance(value, OutOfRange):
        if value.text.lstrip("-") in {"NaN", "Infinity"}:
            return f"{value!r} is not a finite number; {NUMBER_RULE}"
        return f"{value!r} is out of range; {NUMBER_RULE}"
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -MAX_NUMBER <= value <= MAX_NUMBER else f"{_integer_text(value)} is out of range; {NUMBER_RULE}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"{value!r} is not a finite number; {NUMBER_RULE}"
        return None if abs(value) <= MAX_NUMBER else f"{value!r} is out of range; {NUMBER_RULE}"
    return None


def _key(path: str, key: Any) -> str:
    name = str(key)
    name = name if len(name) <= 40 else name[:40] + "..."
    return f"{path}.{name}" if path else name


def check_values(value: Any, path: str, max_depth: int, depth: int = 0) -> None:
    """Refuse, naming the path, a number outside NUMBER_RULE or nesting deeper than `max_depth`."""
    if isinstance(value, dict | list):
        depth += 1
        if depth > max_depth:
            raise EventError(f"{path or 'the event'}: nested deeper than {max_depth} levels")
        pairs = value.items() if isinstance(value, dict) else ((f"[{i}]", v) for i, v in enumerate(value))
        for key, item in pairs:
            where = f"{path}{key}" if isinstance(value, list) else _key(path, key)
            check_values(item, where, max_depth, depth)
        return
    problem = number_problem(value)
    if problem is not None:
        raise EventError(f"{path}: {problem}")


# --- NPS answers and video progress --------------------------------------------------------------


def nps_problem(value: Any, nps: NpsSpec) -> str | None:
    """Why `value` is not an answer on the model's NPS scale, or None.

    A number (or text that reads as one: "9", "1e1") must be whole and on the scale: off it, or
    between two bands (8.5), it would be stored with no category and still match `{min: 9}`.
    Other text ("n/a") is kept as written: it has no category and matches no min or max.
    """
    low, high = nps.scale
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
    else:
        problem = number_problem(value)
        if problem is not None:
            return problem
        number = float(value)
    if not number.is_integer():
        return f"{_shown(value, 40)} is not a whole number; expected a whole number on the NPS scale {low} to {high}"
    if not low <= number <= high:
        return f"{_shown(value, 40)} is outside the NPS scale {low} to {high}"
    return None


VIDEO_DURATION_KEYS = ("duration", "total_length")  # ours, then Segment's Video Spec


def video_percent(position: Any, duration: Any) -> float | None:
    """Share of a video watched, 0 to 100, rounded to one decimal (as the Segment mapping does).

    None unless both are finite numbers of seconds and the duration is positive: a percent
    that cannot be known is left out, so `percent` conditions simply do not match.
    """
    numbers = (position, duration)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and number_problem(v) is None for v in numbers):
        return None
    if duration <= 0:
        return None
    if position >= duration:
        return 100.0
    if position <= 0:
        return 0.0
    return round(min(100.0, max(0.0, 100.0 * position / duration)), 1)


def _with_video_percent(event_type: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Video events: `percent` from `position` and `duration` unless the sender gave its own."""
    if not event_type.startswith("video") or properties.get("percent") is not None or "position" not in properties:
        return properties
    duration = next((properties[key] for key in VIDEO_DURATION_KEYS if properties.get(key) is not None), None)
    percent = video_percent(properties["position"], duration)
    return properties if percent is None else {**properties, "percent": percent}


# --- timestamps -----------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> float:
    """Seconds since the epoch from ISO 8601 (UTC if no offset) or epoch seconds, years 1970..9999."""
    if isinstance(value, OutOfRange):
        raise EventError(f"timestamp: {value!r} is out of range; {TIME_RANGE}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EventError(f"timestamp: {ISO_HINT}")
    if isinstance(value, int):
        if not MIN_TS <= value < END_TS:  # compared as an int: float() of 10**400 overflows
            raise EventError(f"timestamp: {_integer_text(value)} is out of range; {TIME_RANGE}")
        return float(value)
    if isinstance(value, float):
        if not math.isfinite(value) or not MIN_TS <= value < END_TS:
            raise EventError(f"timestamp: {value!r} is out of range; {TIME_RANGE}")
        return value
    if len(value) > 64:
        raise EventError(f"timestamp: {_shown(value, 40)} is not an ISO 8601 time like 2026-11-02T10:00:00Z")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ts = moment.timestamp()
    except (ValueError, OverflowError):
        raise EventError(f"timestamp: {value!r} is not an ISO 8601 time like 2026-11-02T10:00:00Z") from None
    if not MIN_TS <= ts < END_TS:
        raise EventError(f"timestamp: {value!r} is out of range; {TIME_RANGE}")
    return ts


def format_timestamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- events ---------------------------------------------------------------------------------------


def _id_ok(value: str) -> bool:
    """Text a queue and a log can carry: no control characters, no lone surrogates (not UTF-8)."""
    return all(unicodedata.category(ch) not in {"Cc", "Cs"} for ch in value)


def _lead(data: dict[str, Any]) -> str:
    email = data.get("email")
    anonymous_id = data.get("anonymous_id")
    if anonymous_id is not None and not (isinstance(anonymous_id, str) and not anonymous_id.strip()):
        problem = anonymous_id_problem(anonymous_id)
        if problem is not None:
            raise EventError(f"anonymous_id: {_shown(anonymous_id, 40)}: {problem}")
    if email is not None:
        address = parse_email(email)
        if address is None:
            raise EventError(f"email: {_shown(email)} is not an email address")
        return address
    if isinstance(anonymous_id, str) and anonymous_id.strip():
        return anonymous_lead(anonymous_id.strip())
    raise EventError("email or anonymous_id: one of them is needed to know whose event it is")


def _check_details(lead: str, properties: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, Any] | None:
    """Numbers and nesting in properties and profile; a linked visitor id; the profile's email."""
    check_values(properties, "properties", MAX_NESTING)
    if profile is not None:
        check_values(profile, "profile", MAX_NESTING)
    for name, source in (("properties", properties), ("profile", profile or {})):
        linked = source.get("anonymous_id")
        if linked is not None and linked != "":
            problem = anonymous_id_problem(linked)
            if problem is not None:
                raise EventError(f"{name}.anonymous_id: {_shown(linked, 40)}: {problem}")
    if profile is not None and "email" in profile:
        if parse_email(profile["email"]) != lead:
            raise EventError("profile.email: the lead's email is the event's `email`; the profile cannot change it")
        profile = {**profile, "email": lead}
    return profile


def parse_event(data: Any, known_types: Iterable[str] | None = None, nps: NpsSpec | None = None) -> Event:
    """A typed event, or EventError naming the field; with the model's `nps`, answers off its scale are refused."""
    if not isinstance(data, dict):
        raise EventError("an event is a JSON object with id, type, email or anonymous_id, timestamp")
    unknown = sorted(str(key) for key in set(data) - _ALLOWED_KEYS)
    if unknown:
        raise EventError(f"unknown field(s): {', '.join(unknown)}; put event details under `properties`")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_ID_LENGTH:
        raise EventError(f"id: expected a non-empty text of at most {MAX_ID_LENGTH} characters")
    if not _id_ok(event_id):
        raise EventError(f"id: {_shown(event_id, 40)} has control characters or lone surrogates; use printable text")
    event_type = data.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("type: expected an event type such as page_view or download")
    if known_types is not None and event_type not in set(known_types):
        raise EventError(f"type: unknown event type {_shown(event_type, 60)}")
    lead = _lead(data)
    if "timestamp" not in data:
        raise EventError("timestamp: missing; when did it happen?")
    ts = parse_timestamp(data["timestamp"])
    properties = data.get("properties", {})
    if not isinstance(properties, dict):
        raise EventError("properties: expected a JSON object")
    profile = data.get("profile")
    if profile is not None and not isinstance(profile, dict):
        raise EventError("profile: expected a JSON object")
    profile = _check_details(lead, properties, profile)
    if nps is not None:
        for name, source in (("properties", properties), ("profile", profile or {})):
            answer = source.get(nps.field)
            problem = None if answer is None or answer == "" else nps_problem(answer, nps)
            if problem is not None:
                raise EventError(f"{name}.{nps.field}: {problem}")
    properties = _with_video_percent(event_type, properties)
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
