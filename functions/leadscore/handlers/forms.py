"""POST /forms/{formId}: a public form, validated against the model, queued for scoring."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.queue import QueueUnavailable
from ..core.events import EventError, parse_event
from ..ingest.forms import FormError, submission_event, validate_submission
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
app = APIGatewayHttpResolver()
register_error_handlers(app)


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
    raw = {"form": form_id, "fields": data, "received_at": time.time()}
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
