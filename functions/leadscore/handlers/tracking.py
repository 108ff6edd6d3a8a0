"""POST /events: signed behaviour events (project format or Segment calls), queued for scoring."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.queue import QueueUnavailable
from ..ingest.tracking import PayloadError, SignatureError, parse_tracking_body, verify_signature
from ..settings import Settings
from . import runtime
from .common import (
    RequestError,
    content_type,
    json_response,
    logger,
    metrics,
    parse_json,
    register_error_handlers,
    request_bytes,
    request_text,
)

MAX_EVENTS_BYTES = 256 * 1024  # one SQS message per event keeps each far below SQS's 256 KiB
SIGNATURE_HEADER = "x-leadscore-signature"
app = APIGatewayHttpResolver()
register_error_handlers(app)


def _secret() -> str:
    name = Settings.from_env(required=["tracking_secret_parameter"]).tracking_secret_parameter
    value = parameters.get_parameter(name, decrypt=True, max_age=300)  # cached between invocations
    return str(value)


@app.post("/events")
def track() -> Response:
    if content_type(app) != "application/json":
        raise RequestError(415, "unsupported_media_type", "send events as application/json")
    raw = request_bytes(app, MAX_EVENTS_BYTES)
    now = time.time()
    header = app.current_event.headers.get(SIGNATURE_HEADER)
    try:
        verify_signature(_secret(), raw, header, now)
    except SignatureError as error:
        raise RequestError(401, error.code, str(error)) from None
    data = parse_json(request_text(raw))
    try:
        accepted = parse_tracking_body(
            data, runtime.known_event_types(), now, runtime.settings().event_retention_days, runtime.nps_scale()
        )
    except PayloadError as error:
        details = [{"index": index, "error": message} for index, message in error.problems]
        raise RequestError(
            422, "invalid_events", "no event was accepted: fix these and send again", problems=details
        ) from None
    try:
        runtime.queue().send([(item.event, item.raw) for item in accepted], source="tracking")
    except QueueUnavailable:
        logger.exception("queue refused tracking events")
        raise RequestError(503, "unavailable", "temporarily unable to accept events; please retry") from None
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=len(accepted))
    return json_response(202, {"status": "accepted", "accepted": len(accepted)})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
