"""POST /v1/batch, /v1/track, /v1/page, /v1/identify, /v1/screen, /v1/group: Segment's tracking API.

So segment-analytics-python, rudder-sdk-python and analytics.js work by changing only their host.
The write key is HTTP Basic's user name (or, as analytics.js sends it, `writeKey` in the body),
compared in constant time with the keys in SSM. A server key sends every event type and profile
traits; a browser key only the model's public types, never trusted traits, only from allowed
origins (CORS), and under its own per-source throttle. Answers are Segment's: 200
`{"success": true}`, 400 for bad JSON or a limit passed, 401 for a bad key; errors also carry
`code` and `message`, which the SDKs read.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
import zlib
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.queue import QueueUnavailable
from ..adapters.ratelimit import RateLimitUnavailable
from ..ingest.segment import DEFAULT_PUBLIC_TYPES, MAX_BATCH_BYTES, Policy, SegmentError, calls, translate
from ..ingest.visitors import is_signed, visitor_key
from . import runtime
from .common import RequestError, json_response, logger, metrics, parse_json, request_bytes, request_text

MAX_WIRE_BYTES = 10 * 1024 * 1024  # API Gateway's own limit; the 500 KB is checked decompressed
BROWSER_PER_SOURCE = (600, 600)  # browser-key requests from one source address per 10 minutes
app = APIGatewayHttpResolver()


@app.exception_handler(RequestError)
def _client_error(error: RequestError) -> Response:
    """The project's error body, plus Segment's `success` and `message` (the SDKs read code and message)."""
    metrics.add_metric(name=f"Rejected{error.status}", unit=MetricUnit.Count, value=1)
    logger.info("segment request rejected", extra={"status": error.status, "code": error.code, "reason": error.message})
    body = {"success": False, "error": error.message, "message": error.message, "code": error.code, **error.details}
    response = json_response(error.status, body)
    if "retry_after" in error.details:
        response.headers["Retry-After"] = str(error.details["retry_after"])
    return response


@app.not_found
def _not_found(_: Exception) -> Response:
    message = "no such route"
    return json_response(404, {"success": False, "error": message, "message": message, "code": "no_such_route"})


def basic_auth_user(header: str | None) -> str | None:
    """The user name of an HTTP Basic Authorization header (the write key), or None if there is none."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise RequestError(401, "bad_write_key", "send the write key with HTTP Basic auth (the key as user name)")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise RequestError(401, "bad_write_key", "the Authorization header is not valid Basic credentials") from None
    return decoded.partition(":")[0]


def key_kind(write_key: str) -> str | None:
    """The key's kind, server or browser, or None; every key is compared in constant time, whatever matches."""
    given = write_key.encode("utf-8", errors="surrogatepass")
    try:
        kinds = runtime.segment_write_keys()
    except GetParameterError:
        logger.exception("the Segment write keys could not be read from SSM")
        raise RequestError(
            503, "unavailable", "temporarily unable to check the write key; please retry", retry_after=5
        ) from None
    found = None
    for kind, keys in kinds.items():
        for key in keys:
            if hmac.compare_digest(key.encode("utf-8"), given) and found is None:
                found = kind
    return found


def _authenticate(write_key: str) -> str:
    """The key's kind; 401 for an empty or unknown key (an empty one is never compared, never valid)."""
    kind = key_kind(write_key) if write_key else None
    if kind is None:
        raise RequestError(401, "bad_write_key", "the write key is not valid")
    return kind


def _decompressed(raw: bytes) -> bytes:
    encoding = (app.current_event.headers.get("content-encoding") or "").strip().lower()
    if encoding in {"", "identity"}:
        data = raw
    elif encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(raw, MAX_BATCH_BYTES + 1)
        except zlib.error:
            raise RequestError(400, "bad_gzip", "the body is not valid gzip") from None
        if len(data) <= MAX_BATCH_BYTES and not inflater.eof:
            raise RequestError(400, "bad_gzip", "the gzip body is truncated")
    else:
        raise RequestError(400, "unsupported_encoding", f"Content-Encoding {encoding[:40]!r}: send gzip or nothing")
    if len(data) > MAX_BATCH_BYTES:
        raise RequestError(400, "batch_too_large", "the batch is larger than 500 KB (decompressed)")
    return data


def _allowed_origin(origin: str | None) -> bool:
    return origin is not None and origin in runtime.settings().allowed_origins


def _throttle(now: float) -> None:
    """429 past the browser key's per-source limit; if the limiter is down, let it through (and log)."""
    limiter = runtime.rate_limiter()
    if limiter is None:
        return
    source = app.current_event.request_context.http.source_ip or "unknown"
    limit, window = BROWSER_PER_SOURCE
    try:
        allowed = limiter.allow(f"segment-browser#{source}", limit, window, now)
    except RateLimitUnavailable:
        logger.warning("rate limiter unavailable; browser calls accepted unthrottled")
        return
    if not allowed:
        metrics.add_metric(name="SegmentThrottled", unit=MetricUnit.Count, value=1)
        raise RequestError(
            429, "throttled", "too many requests; try again later", retry_after=int(window - now % window) + 1
        )


def _policy(browser: bool) -> Policy:
    spec = runtime.model().spec
    public = spec.public_event_types
    keys = [visitor_key(secret) for secret in runtime.tracking_secrets()] if browser else []
    return Policy(
        known_types=runtime.known_event_types(),
        browser=browser,
        public_types=frozenset(public) if public else DEFAULT_PUBLIC_TYPES,
        trusted_fields=spec.trusted(),
        company_id_field=spec.accounts.company_id_field,
        signed_visitor=lambda visitor: is_signed(visitor, keys),
        nps=runtime.nps_scale(),
    )


def _ingest(route_type: str | None) -> Response:
    now = time.time()
    raw = request_bytes(app, MAX_WIRE_BYTES)
    write_key = basic_auth_user(app.current_event.headers.get("authorization"))
    if write_key is not None:  # authenticated before the body is even decompressed
        kind = _authenticate(write_key)
    data = parse_json(request_text(_decompressed(raw)))
    if write_key is None:  # analytics.js sends the key in the body, to spare browsers a preflight
        body_key = data.get("writeKey") if isinstance(data, dict) else None
        if not isinstance(body_key, str):
            raise RequestError(401, "missing_write_key", "send the write key as the Basic auth user name")
        kind = _authenticate(body_key)
    browser = kind == "browser"
    origin = app.current_event.headers.get("origin")
    if browser and origin is not None and not _allowed_origin(origin):
        raise RequestError(403, "origin_not_allowed", "this origin may not send events with a browser key")
    if browser:
        _throttle(now)
    try:
        batch, shared = calls(data, route_type)
        result = translate(batch, shared, _policy(browser), now, runtime.settings().event_retention_days)
    except SegmentError as error:
        details = [{"index": index, "error": message} for index, message in error.problems]
        raise RequestError(400, error.code, error.message, **({"problems": details} if details else {})) from None
    if result.accepted:
        try:
            source = "segment-browser" if browser else "segment"
            runtime.queue().send([(item.event, item.raw) for item in result.accepted], source=source)
        except QueueUnavailable:
            logger.exception("queue refused segment calls")
            raise RequestError(
                503, "unavailable", "temporarily unable to accept events; please retry", retry_after=5
            ) from None
    if result.ignored:  # answered 200 as Segment does, never silently: counted and logged
        metrics.add_metric(name="SegmentCallsIgnored", unit=MetricUnit.Count, value=len(result.ignored))
        logger.info(
            "segment calls ignored",
            extra={
                "key": kind,
                "ignored": [{"index": i.index, "reason": i.reason, "name": i.name} for i in result.ignored[:20]],
            },
        )
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=len(result.accepted))
    return json_response(200, {"success": True, "accepted": len(result.accepted), "ignored": len(result.ignored)})


@app.post("/v1/batch")
def batch() -> Response:
    return _ingest(None)


@app.post("/v1/track")
def track() -> Response:
    return _ingest("track")


@app.post("/v1/page")
def page() -> Response:
    return _ingest("page")


@app.post("/v1/identify")
def identify() -> Response:
    return _ingest("identify")


@app.post("/v1/screen")
def screen() -> Response:
    return _ingest("screen")


@app.post("/v1/group")
def group() -> Response:
    return _ingest("group")


def _with_cors(event: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """Every answer to an allowed origin carries CORS headers, errors included, so pages can read them."""
    headers = event.get("headers") or {}
    origin = next((value for name, value in headers.items() if name.lower() == "origin"), None)
    if _allowed_origin(origin):
        response.setdefault("headers", {})
        response["headers"].update({"Access-Control-Allow-Origin": str(origin), "Vary": "Origin"})
    return response


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _with_cors(event, app.resolve(event, context))
