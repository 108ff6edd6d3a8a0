"""What the HTTP handlers share: request body decoding, errors as JSON, masked logging.

Every expected failure maps to a 4xx with a message naming the problem, in one place; an
unexpected one becomes a logged 500 without internals (and an alarm), never a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="leadscore")
metrics = Metrics(namespace="leadscore", service="leadscore")


class RequestError(Exception):
    """A client mistake: becomes `status` with a JSON body {"error": message, **details}."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(RequestError)
    def client_error(error: RequestError) -> Response:
        metrics.add_metric(name=f"Rejected{error.status}", unit=MetricUnit.Count, value=1)
        logger.info("request rejected", extra={"status": error.status, "reason": error.message})
        return json_response(error.status, {"error": error.message, **error.details})

    @app.not_found
    def not_found(_: Exception) -> Response:
        return json_response(404, {"error": "no such route"})


def mask_email(email: str) -> str:
    """Logs name the lead without exposing the address: a***@acme.com."""
    if "@" not in email:
        return email[:8] + "..."
    name, domain = email.rsplit("@", 1)
    return f"{name[:1]}***@{domain}"


def request_bytes(app: APIGatewayHttpResolver, limit: int) -> bytes:
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > limit:
        raise RequestError(413, f"the body is larger than {limit} bytes")
    if not raw.strip():
        raise RequestError(400, "the body is empty")
    return raw


def request_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8 text") from None


def content_type(app: APIGatewayHttpResolver) -> str:
    value = app.current_event.headers.get("content-type") or ""
    return value.split(";", 1)[0].strip().lower()


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(400, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
