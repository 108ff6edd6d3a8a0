"""Public form submissions: field-by-field validation against the form declared in the model.

Forms are untrusted: every field is checked against its declared type, choices, range and
length; unknown fields are rejected (a typo in a landing page should not silently drop an
answer); the honeypot catches naive bots, and is decided first, so a bot learns nothing from
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
from dataclasses import dataclass
from typing import Any

from ..core.events import MAX_NUMBER, NUMBER_RULE, OutOfRange, anonymous_id_problem, number_problem, parse_email
from ..core.spec import FormFieldSpec, FormSpec


class FormError(ValueError):
    """Bad fields: `problems` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in problems.items()))
        self.problems = problems


# Hidden fields any form may carry: the tracking cookie's visitor id links earlier visits.
RESERVED_FIELDS = frozenset({"anonymous_id"})


@dataclass(frozen=True)
class Submission:
    form_id: str
    email: str
    fields: dict[str, Any]  # typed values, without email, honeypot and reserved fields
    is_bot: bool
    anonymous_id: str | None = None


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
    for name in data:
        if name not in form.fields and name != form.honeypot and name not in RESERVED_FIELDS:
            problems[name] = "unknown field for this form"
    anonymous_id = data.get("anonymous_id")
    blank = anonymous_id is None or (isinstance(anonymous_id, str) and not anonymous_id.strip())
    if not blank:
        problem = anonymous_id_problem(anonymous_id)
        if problem is not None:
            problems["anonymous_id"] = problem
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
    visitor = anonymous_id.strip() if isinstance(anonymous_id, str) and not blank else None
    return Submission(form_id, email, values, is_bot=False, anonymous_id=visitor)


def submission_event(submission: Submission, received_at: float) -> dict[str, Any]:
    """The submission as a project event: a form_submit whose profile is the answers.

    Its id is derived from the form, the answers and the day, so a double-clicked or retried
    POST is scored once, while the same answers sent again another day count again.
    """
    day = int(received_at // 86400)
    digest_source = json.dumps([submission.form_id, submission.email, submission.fields, day], sort_keys=True)
    event_id = "form-" + hashlib.sha256(digest_source.encode()).hexdigest()[:24]
    properties: dict[str, Any] = {"form": submission.form_id}
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
