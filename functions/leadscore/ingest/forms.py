"""Public form submissions: field-by-field validation against the form declared in the model.

Forms are untrusted: every field is checked against its declared type, choices, range and
length; unknown fields are rejected (a typo in a landing page should not silently drop an
answer) unless the form says `extra_fields: ignore`; the usual hidden fields of a real page
(utm_*, click ids, page URL, referrer, the submit button) are kept as bounded event properties,
never profile fields, as the form's `capture:` allows; the honeypot catches naive bots, and is decided first, so a bot learns nothing from
which of its fields were wrong. Numbers follow the event format's bound (NUMBER_RULE) and
emails its one normalisation (parse_email), so a valid submission is always a scorable event.
An NPS field without its own bounds takes the model's scale (`nps_scale`) and names it when refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

from ..core.events import MAX_NUMBER, NUMBER_RULE, OutOfRange, anonymous_id_problem, number_problem, parse_email

if TYPE_CHECKING:
    from ..core.spec import FormFieldSpec, FormSpec  # the build stores the spec without pydantic (core/frozen.py)


class FormError(ValueError):
    """Bad fields: `problems` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in problems.items()))
        self.problems = problems


class FormBodyError(ValueError):
    """A body that is not a readable form (a broken multipart body, a file upload)."""


# Hidden fields any form may carry: the tracking cookie's visitor id links earlier visits
# (`visitor_id` is the name POST /visitors answers with; `anonymous_id` the event format's).
RESERVED_FIELDS = frozenset({"anonymous_id", "visitor_id"})

# Undeclared hidden fields a form keeps, as sent -> (capture group, event property, most characters).
# Untrusted page data: stored as properties of the form_submit event, cut to the bound, never profile.
CAPTURED_FIELDS: dict[str, tuple[str, str, int]] = {
    **{name: ("utm", name, 200) for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")},
    **{name: ("click_ids", name, 500) for name in ("gclid", "fbclid", "msclkid")},
    "page_url": ("page", "page_url", 2000),
    "page": ("page", "page_url", 2000),  # page_url wins when both are sent
    "referrer": ("page", "referrer", 2000),
    **{name: ("submit", "submit", 100) for name in ("submit", "send", "button")},
}


@dataclass(frozen=True)
class Submission:
    form_id: str
    email: str
    fields: dict[str, Any]  # typed values, without email, honeypot and reserved fields
    is_bot: bool
    anonymous_id: str | None = None
    captured: dict[str, str] = field(default_factory=dict)  # page data for the event's properties
    ignored: tuple[str, ...] = ()  # undeclared fields dropped (extra_fields: ignore, or capture off)


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHOLE = re.compile(r"[+-]?[0-9]{1,19}")


def _number(value: Any, whole: bool) -> int | float:
    """A number field's value, within NUMBER_RULE; text is read as decimal digits (NFKC: １２ is 12)."""
    if isinstance(value, bool):
        raise ValueError("expected a number")
    number: int | float
    if isinstance(value, int | float):
        problem = number_problem(value)
        if problem is not None:
            raise ValueError(problem)
        number = value
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if not _DECIMAL.fullmatch(text):
            raise ValueError(f"{str(value)[:40]!r} is not a number")
        number = int(text) if _WHOLE.fullmatch(text) else float(text)  # no int() of thousands of digits
        if not math.isfinite(number) or abs(number) > MAX_NUMBER:
            raise ValueError(f"{text[:40]!r} is out of range; {NUMBER_RULE}")
    if whole:
        if isinstance(number, float):
            if not number.is_integer():
                raise ValueError("expected a whole number")
            number = int(number)
    else:
        number = float(number)
    return number


def _coerce(name: str, spec: FormFieldSpec, value: Any) -> Any:
    if isinstance(value, list | dict):
        raise ValueError("expected a single value")
    if isinstance(value, OutOfRange):  # NaN, 1e400, 10**400 as the strict JSON reader left them
        raise ValueError(number_problem(value) or NUMBER_RULE)
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "on", "yes", "1"}:
            return True
        if text in {"false", "off", "no", "0"}:
            return False
        raise ValueError("expected true or false")
    if spec.type in {"integer", "number"}:
        number = _number(value, whole=spec.type == "integer")
        if spec.nps_scale is not None and not spec.nps_scale[0] <= number <= spec.nps_scale[1]:
            low, high = spec.nps_scale  # the model's scale, named: the form did not set its own bounds
            raise ValueError(f"{_plain(number)} is outside the NPS scale {low} to {high}")
        if spec.min is not None and number < spec.min:
            raise ValueError(f"must be at least {_plain(spec.min)}")
        if spec.max is not None and number > spec.max:
            raise ValueError(f"must be at most {_plain(spec.max)}")
        return number
    problem = number_problem(value)  # a JSON number in a text field is read as its text, if in range
    if problem is not None:
        raise ValueError(problem)
    text = value if isinstance(value, str) else str(value)
    text = text.strip()
    if len(text) > spec.max_length:
        raise ValueError(f"longer than {spec.max_length} characters")
    if spec.type == "email":
        address = parse_email(text)  # normalised first, then checked: folding can lengthen it
        if address is None:
            raise ValueError(f"{text[:60]!r} is not an email address")
        return address
    if spec.type == "choice":
        choices = spec.choices or []
        if text not in choices:
            raise ValueError(f"{text[:40]!r} is not one of: {', '.join(choices)}")
    return text


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def validate_submission(form_id: str, form: FormSpec, data: dict[str, Any]) -> Submission:
    """The typed answers, or FormError naming each bad field; a filled honeypot is a bot, whatever else."""
    if form.honeypot and data.get(form.honeypot):
        return Submission(form_id, "", {}, is_bot=True)
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    groups = form.captured_groups()
    captured: dict[str, str] = {}
    ignored: list[str] = []
    for name in data:
        if name in form.fields or name == form.honeypot or name in RESERVED_FIELDS:
            continue
        kept = CAPTURED_FIELDS.get(name)
        if kept is not None and kept[0] in groups:
            group, prop, limit = kept
            value = _captured_text(data[name], limit)
            if value is not None and (prop not in captured or name == prop):  # page_url over page
                captured[prop] = value
        elif form.extra_fields == "ignore":
            ignored.append(name)
        else:
            problems[name] = "unknown field for this form"
    anonymous_id, problem = _visitor(data)
    if problem is not None:
        problems["anonymous_id" if "anonymous_id" in data else "visitor_id"] = problem
    for name, spec in form.fields.items():
        raw = data.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                problems[name] = "required"
            continue
        try:
            values[name] = _coerce(name, spec, raw)
        except ValueError as error:
            problems[name] = str(error)
    if problems:
        raise FormError(problems)
    email = values.pop("email")
    return Submission(
        form_id, email, values, is_bot=False, anonymous_id=anonymous_id, captured=captured, ignored=tuple(ignored)
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _visitor(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the visitor id sent as anonymous_id or visitor_id, None) or (None, why it is refused)."""
    given = [data[name] for name in ("anonymous_id", "visitor_id") if not _blank(data.get(name))]
    if not given:
        return None, None
    for value in given:
        problem = anonymous_id_problem(value)
        if problem is not None:
            return None, problem
    ids = {value.strip() for value in given}
    if len(ids) > 1:
        return None, "anonymous_id and visitor_id differ: send the visitor id once"
    return ids.pop(), None


def _captured_text(value: Any, limit: int) -> str | None:
    """A captured hidden field as text: control and invisible characters removed, cut to `limit`.

    The first of repeated values; numbers as written; anything else (objects, out-of-range numbers)
    is not page data and is dropped, as is a blank value: a lead is never refused for attribution.
    """
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str) and item.strip()), None)
    if isinstance(value, bool) or not isinstance(value, str | int | float) or number_problem(value) is not None:
        return None
    text = "".join(char for char in str(value) if unicodedata.category(char) not in {"Cc", "Cf"}).strip()
    return text[:limit] or None


def parse_multipart(body: bytes, content_type_header: str) -> dict[str, Any]:
    """The fields of a multipart/form-data body (as parse_qs gives them: a list when repeated).

    Text fields only: a file part is refused (a lead form has no use for uploads), as is a body
    without its boundary or a part without a name. Bodies are small (the route's size limit).
    """
    header = content_type_header.replace("\r", " ").replace("\n", " ")
    if "boundary=" not in header.lower():
        raise FormBodyError("a multipart/form-data body needs the boundary in its Content-Type")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + header.encode("latin-1", errors="replace") + b"\r\n\r\n" + body
    )
    if not message.is_multipart() or message.defects:
        raise FormBodyError("the multipart/form-data body is malformed (no parts, or the boundary never closes)")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name or part.get_content_disposition() != "form-data":
            raise FormBodyError("a multipart part without Content-Disposition: form-data and a name")
        if part.get_filename() is not None or part.is_multipart():
            raise FormBodyError(f"the part {name[:60]!r} is a file: forms take text fields only")
        payload = part.get_payload(decode=True)
        try:
            text = payload.decode(part.get_content_charset() or "utf-8") if isinstance(payload, bytes) else ""
        except (LookupError, UnicodeDecodeError):
            raise FormBodyError(f"the part {name[:60]!r} is not UTF-8 text") from None
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, text] if isinstance(previous, list) else [previous, text]
        else:
            fields[name] = text
    return fields


def submission_event(submission: Submission, received_at: float) -> dict[str, Any]:
    """The submission as a project event: a form_submit whose profile is the answers.

    Its id is derived from the form, the answers and the day, so a double-clicked or retried
    POST is scored once, while the same answers sent again another day count again.
    """
    day = int(received_at // 86400)
    digest_source = json.dumps([submission.form_id, submission.email, submission.fields, day], sort_keys=True)
    event_id = "form-" + hashlib.sha256(digest_source.encode()).hexdigest()[:24]
    properties: dict[str, Any] = {**submission.captured, "form": submission.form_id}
    if submission.anonymous_id:
        properties["anonymous_id"] = submission.anonymous_id
    return {
        "id": event_id,
        "type": "form_submit",
        "email": submission.email,
        "timestamp": received_at,
        "properties": properties,
        "profile": dict(submission.fields),
    }
