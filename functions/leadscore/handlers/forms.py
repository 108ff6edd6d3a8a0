"""POST /forms/{formId}: a public form, validated against the model, queued for scoring."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.queue import QueueUnavailable
from ..adapters.ratelimit import RateLimitUnavailable
from ..core.events import EventError, parse_event
from ..ingest.forms import FormError, submission_event, validate_submission
from ..ingest.visitors import is_signed, issue, visitor_key
from . import runtime
from .common import (
    RequestError,
    content_type,
    json_response,
    logger,
    mask_email,
    metrics,
    parse_json,
    register_error_handlers,
    request_bytes,
    request_text,
)

MAX_FORM_BYTES = 16 * 1024
# Throttles on the public form route (README, "Security and limits"): (requests, window in seconds)
PER_EMAIL = (5, 3600)  # posts naming one email on one form: a person does not need more
PER_SOURCE = (60, 600)  # posts from one source address: an office behind one NAT still fits
app = APIGatewayHttpResolver()
register_error_handlers(app)


def _throttle(form_id: str, email: str, now: float) -> None:
    """429 past the limits; if the limiter itself is unavailable, let the form through (and log)."""
    limiter = runtime.rate_limiter()
    if limiter is None:
        return
    source = app.current_event.request_context.http.source_ip or "unknown"
    email_key = hashlib.sha256(email.encode()).hexdigest()[:32]  # no address in the counters table
    checks = [(f"form-source#{source}", *PER_SOURCE), (f"form-email#{form_id}#{email_key}", *PER_EMAIL)]
    for key, limit, window in checks:
        try:
            allowed = limiter.allow(key, limit, window, now)
        except RateLimitUnavailable:
            logger.warning("rate limiter unavailable; form accepted unthrottled", extra={"form": form_id})
            return
        if not allowed:
            metrics.add_metric(name="FormThrottled", unit=MetricUnit.Count, value=1)
            retry_after = int(window - now % window) + 1
            raise RequestError(
                429, "throttled", "too many submissions; try again later", retry_after=retry_after
            )


def _signed_visitor(visitor: str | None, form_id: str) -> str | None:
    """The visitor id if this system issued it; an unsigned or forged one links nothing."""
    if visitor is None:
        return None
    keys = [visitor_key(secret) for secret in runtime.tracking_secrets()]
    if is_signed(visitor, keys):
        return visitor
    metrics.add_metric(name="UnsignedVisitorIds", unit=MetricUnit.Count, value=1)
    logger.info("unsigned visitor id on a form: not linked", extra={"form": form_id})
    return None


@app.post("/visitors")
def new_visitor() -> Response:
    """A signed visitor id for a browser's first-party cookie: the only kind a public form may link."""
    keys = [visitor_key(secret) for secret in runtime.tracking_secrets()]
    return json_response(201, {"visitor_id": issue(keys[0])})


def _fields(text: str, kind: str) -> dict[str, Any]:
    if kind == "application/json":
        data = parse_json(text)
        if not isinstance(data, dict):
            raise RequestError(400, "not_an_object", "expected a JSON object of form fields")
        return data
    pairs = parse_qs(text, keep_blank_values=True)
    return {name: values if len(values) > 1 else values[0] for name, values in pairs.items()}


@app.post("/forms/<form_id>")
def submit(form_id: str) -> Response:
    form = runtime.model().spec.forms.get(form_id)
    if form is None:
        raise RequestError(404, "unknown_form", f"unknown form {form_id[:80]!r}")
    kind = content_type(app)
    if kind not in {"application/json", "application/x-www-form-urlencoded"}:
        raise RequestError(
            415, "unsupported_media_type", "send the form as application/x-www-form-urlencoded or application/json"
        )
    data = _fields(request_text(request_bytes(app, MAX_FORM_BYTES)), kind)
    try:
        submission = validate_submission(form_id, form, data)  # decides the honeypot first
    except FormError as error:
        raise RequestError(422, "invalid_fields", "some fields are not valid", fields=error.problems) from None
    if submission.is_bot:
        metrics.add_metric(name="HoneypotCaught", unit=MetricUnit.Count, value=1)
        return json_response(202, {"status": "accepted"})  # a bot learns nothing
    now = time.time()
    _throttle(form_id, submission.email, now)
    submission = replace(submission, anonymous_id=_signed_visitor(submission.anonymous_id, form_id))
    raw = {"form": form_id, "fields": data, "received_at": now}
    try:  # the event the consumer will parse again: accepted means scorable
        event = parse_event(submission_event(submission, raw["received_at"]))
    except EventError as error:
        raise RequestError(422, "invalid_fields", "some fields are not valid", fields={"form": str(error)}) from None
    try:
        runtime.queue().send([(event, raw)], source="form")
    except QueueUnavailable:
        logger.exception("queue refused a form submission")
        raise RequestError(503, "unavailable", "temporarily unable to accept submissions; please retry") from None
    metrics.add_metric(name="FormAccepted", unit=MetricUnit.Count, value=1)
    logger.info("form accepted", extra={"form": form_id, "lead": mask_email(submission.email)})
    return json_response(202, {"status": "accepted"})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
