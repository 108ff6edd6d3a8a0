"""What the HTTP handlers share: request body decoding, errors as JSON, masked logging.

Every expected failure maps to a 4xx with a message naming the problem, in one place; an
unexpected one becomes a logged 500 without internals (and an alarm), never a stack trace.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ..core.events import MAX_DOCUMENT_DEPTH, MAX_NUMBER, OutOfRange

if TYPE_CHECKING:  # the HTTP handlers import the resolver themselves; the queue consumer never needs it
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

logger = Logger(service="leadscore")
metrics = Metrics(namespace="leadscore", service="leadscore")


class RequestError(Exception):
    """A client mistake: becomes `status` with a JSON body {"error": message, "code": code, **details}.

    `code` is stable and machine-readable (openapi.yaml lists every one); `message` is for people.
    """

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def json_response(status: int, body: dict[str, Any]) -> Response:
    from aws_lambda_powertools.event_handler import Response  # here, so the queue consumer never loads it

    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(RequestError)
    def client_error(error: RequestError) -> Response:
        metrics.add_metric(name=f"Rejected{error.status}", unit=MetricUnit.Count, value=1)
        logger.info("request rejected", extra={"status": error.status, "code": error.code, "reason": error.message})
        response = json_response(error.status, {"error": error.message, "code": error.code, **error.details})
        if "retry_after" in error.details:  # 429: tell clients (and browsers) when to come back
            response.headers["Retry-After"] = str(error.details["retry_after"])
        return response

    @app.not_found
    def not_found(_: Exception) -> Response:
        return json_response(404, {"error": "no such route", "code": "no_such_route"})


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
            raise RequestError(400, "bad_base64", "the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > limit:
        raise RequestError(413, "body_too_large", f"the body is larger than {limit} bytes")
    if not raw.strip():
        raise RequestError(400, "body_empty", "the body is empty")
    return raw


def request_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "not_utf8", "the body is not UTF-8 text") from None


def content_type(app: APIGatewayHttpResolver) -> str:
    value = app.current_event.headers.get("content-type") or ""
    return value.split(";", 1)[0].strip().lower()


class _Refused(Exception):
    """Raised from inside json.loads by the strict hooks below."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a key given twice is refused (parsers disagree on which one wins)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused("duplicate_key", f"duplicate key {key[:60]!r} in a JSON object: send each key once")
            seen.add(key)
    return data


def _integer(text: str) -> int | OutOfRange:
    """Integers within the bound; beyond it (or past int()'s 4,300 digits) a placeholder a check names."""
    if len(text.lstrip("-")) > 19:  # 2**63 has 19 digits; JSON allows no leading zeros
        return OutOfRange(text)
    value = int(text)
    return value if -MAX_NUMBER <= value <= MAX_NUMBER else OutOfRange(text)


def _real(text: str) -> float | OutOfRange:
    value = float(text)
    return value if math.isfinite(value) and abs(value) <= MAX_NUMBER else OutOfRange(text)


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Without recursion: deeper documents than this are refused, so later code never recurses far."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(text: str) -> Any:
    """The one strict JSON reader for every route.

    Refused with a 400: syntax errors, a key twice in an object, nesting deeper than
    MAX_DOCUMENT_DEPTH. A number outside NUMBER_RULE (NaN, Infinity, 1e400, more than 2**63 in
    magnitude, thousands of digits) is not refused here but read as an OutOfRange placeholder,
    so the check that knows where it sits answers 422 naming the field.
    """
    if not isinstance(text, str):
        raise RequestError(400, "malformed_json", "malformed JSON: expected text")
    try:
        data = json.loads(
            text, object_pairs_hook=_object, parse_constant=OutOfRange, parse_int=_integer, parse_float=_real
        )
    except _Refused as refused:
        raise RequestError(400, refused.code, refused.message) from None
    except json.JSONDecodeError as error:
        raise RequestError(
            400, "malformed_json", f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise RequestError(400, "json_too_deep", _TOO_DEEP) from None
    except ValueError as error:  # a number the reader cannot convert, or anything else it refuses
        raise RequestError(400, "malformed_json", f"malformed JSON: {str(error)[:120]}") from None
    if isinstance(data, dict | list) and _depth_exceeds(data, MAX_DOCUMENT_DEPTH):
        raise RequestError(400, "json_too_deep", _TOO_DEEP)
    return data


_TOO_DEEP = f"the JSON is nested deeper than {MAX_DOCUMENT_DEPTH} levels"
