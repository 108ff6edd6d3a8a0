"""POST /forms/{formId}: a public form, validated against the model, queued for scoring.

A browser's plain HTML post (a form body, `Accept` preferring text/html) is answered for a person:
a 303 to the form's `thank_you` page, or to its `error_url` with the problem in the query, or a
small HTML page; everything else (JSON, scripts, SDKs) gets the JSON answers of openapi.yaml.
"""

from __future__ import annotations

import hashlib
import html
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.queue import QueueUnavailable
from ..adapters.ratelimit import RateLimitUnavailable
from ..core.events import EventError, parse_event
from ..ingest.forms import FormBodyError, FormError, parse_multipart, submission_event, validate_submission
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

if TYPE_CHECKING:
    from ..core.spec import FormSpec  # the build stores the spec without pydantic (core/frozen.py)

MAX_FORM_BYTES = 16 * 1024
FORM_KINDS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_PAGE_HEADERS = {  # the pages carry no script and load nothing: nothing a posted value could abuse
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
# Throttles on the public form route (README, "Security and limits"): (requests, window in seconds)
PER_EMAIL = (5, 3600)  # posts naming one email on one form: a person does not need more
PER_SOURCE = (60, 600)  # posts from one source address: an office behind one NAT still fits
app = APIGatewayHttpResolver()
register_error_handlers(app)
_json_error = app.exception_handler_manager.lookup_exception_handler(RequestError)  # logs, counts, JSON


def prefers_html(accept: str) -> bool:
    """True when an Accept header ranks text/html (or XHTML) above JSON, as a browser navigating does."""
    quality: dict[str, float] = {}
    for item in accept.split(","):
        media, _, parameters = item.partition(";")
        q = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        name = media.strip().lower()
        quality[name] = max(quality.get(name, 0.0), q if 0 <= q <= 1 else 0.0)
    page = max(quality.get("text/html", 0.0), quality.get("application/xhtml+xml", 0.0))
    return page > quality.get("application/json", 0.0)


def _for_a_person() -> bool:
    """A browser's HTML form post: not a JSON body, and an Accept header that prefers a page."""
    if app.current_event.path_parameters is None or "formId" not in app.current_event.path_parameters:
        return False
    return content_type(app) != "application/json" and prefers_html(app.current_event.headers.get("accept") or "")


def _on_the_site(address: str) -> str:
    """A path is on the site that posted the form: its Origin, when that is one of ALLOWED_ORIGINS.

    Otherwise the path is answered as written: right when the API is served under the site's own
    domain. An absolute https address is answered as written.
    """
    if not address.startswith("/"):
        return address
    origin = (app.current_event.headers.get("origin") or "").rstrip("/")
    allowed = runtime.settings().allowed_origins
    if _ORIGIN.fullmatch(origin) and (origin in allowed or "*" in allowed):
        return origin + address
    return address


def _with_query(address: str, pairs: list[tuple[str, str]]) -> str:
    base, hash_mark, fragment = address.partition("#")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode(pairs)}{hash_mark}{fragment}"


def _page(
    status: int,
    title: str,
    paragraphs: list[str],
    items: list[str] | None = None,
    link: str | None = None,
    link_text: str = "Back to the form",
) -> Response:
    """A small, self-contained HTML page; every piece of text is escaped here."""
    escape = html.escape
    body = "".join(f"<p>{escape(text)}</p>" for text in paragraphs)
    if items:
        body += "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"
    if link is not None:
        body += f'<p><a href="{escape(link, quote=True)}">{escape(link_text)}</a></p>'
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
        "line-height:1.5}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )
    return Response(
        status_code=status, content_type="text/html; charset=utf-8", body=document, headers=dict(_PAGE_HEADERS)
    )


def _see_other(address: str, extra: dict[str, str] | None = None) -> Response:
    """303 See Other: the browser fetches `address` with GET; the body is a link for the rare one that does not."""
    response = _page(303, "Sent", [], link=address, link_text="Continue")
    response.headers["Location"] = address
    response.headers.update(extra or {})
    return response


def _back_link() -> str | None:
    """The page the form was on (Referer), when it is a web address; never anything a browser would run."""
    referer = app.current_event.headers.get("referer") or ""
    return referer if re.match(r"^https?://[^\s]+$", referer) and len(referer) <= 2000 else None


def _form_of_request() -> FormSpec | None:
    form_id = (app.current_event.path_parameters or {}).get("formId", "")
    try:
        return runtime.model().spec.forms.get(form_id)
    except Exception:  # the model itself failed: the JSON answer's 500 path says so, not this page
        return None


_TITLES = {
    400: "The form could not be read",
    404: "This form does not exist",
    413: "The form is too large",
    415: "The form could not be read",
    422: "Some answers need another look",
    429: "Too many submissions",
    503: "Please try again in a moment",
}


@app.exception_handler(RequestError)
def form_error(error: RequestError) -> Response:
    """The JSON answer (logged and counted as every route's); for a person, a redirect or a page."""
    response = _json_error(error)
    if not _for_a_person():
        return response
    extra = {"Retry-After": response.headers["Retry-After"]} if "Retry-After" in response.headers else {}
    fields: dict[str, str] = error.details.get("fields") or {}
    form = _form_of_request()
    if form is not None and form.error_url is not None:
        pairs = [("error", error.code)] + [("field", name) for name in list(fields)[:10] if len(name) <= 64]
        return _see_other(_on_the_site(_with_query(form.error_url, pairs)), extra)
    items = [f"{name}: {problem}" for name, problem in fields.items()]
    paragraphs = [error.message[:1].upper() + error.message[1:] + "."]
    if error.status == 429:
        paragraphs.append(f"Please wait {error.details.get('retry_after', 60)} seconds, then send the form again.")
    elif error.status in {422, 400, 413, 415}:
        paragraphs.append("Go back to the form, correct what is listed, and send it again.")
    page = _page(error.status, _TITLES.get(error.status, "The form was not sent"), paragraphs, items, _back_link())
    page.headers.update(extra)
    return page


def _accepted(form: FormSpec) -> Response:
    """202 JSON for scripts; for a person the thank-you page (303), or a small page saying it arrived."""
    if not _for_a_person():
        return json_response(202, {"status": "accepted"})
    if form.thank_you is not None:
        return _see_other(_on_the_site(form.thank_you))
    return _page(202, "Thank you", ["Your answers were received."], link=_back_link())


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
            raise RequestError(429, "throttled", "too many submissions; try again later", retry_after=retry_after)


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


def _fields(raw: bytes, kind: str) -> dict[str, Any]:
    if kind == "multipart/form-data":
        try:
            return parse_multipart(raw, app.current_event.headers.get("content-type") or "")
        except FormBodyError as error:
            raise RequestError(400, "malformed_multipart", str(error)) from None
    text = request_text(raw)
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
    if kind not in {"application/json", *FORM_KINDS}:
        raise RequestError(
            415,
            "unsupported_media_type",
            "send the form as application/x-www-form-urlencoded, multipart/form-data or application/json",
        )
    data = _fields(request_bytes(app, MAX_FORM_BYTES), kind)
    try:
        submission = validate_submission(form_id, form, data)  # decides the honeypot first
    except FormError as error:
        raise RequestError(422, "invalid_fields", "some fields are not valid", fields=error.problems) from None
    if submission.is_bot:
        metrics.add_metric(name="HoneypotCaught", unit=MetricUnit.Count, value=1)
        return _accepted(form)  # a bot learns nothing
    now = time.time()
    _throttle(form_id, submission.email, now)
    submission = replace(submission, anonymous_id=_signed_visitor(submission.anonymous_id, form_id))
    kept = {name: value for name, value in data.items() if name not in submission.ignored}  # ignored: never stored
    raw = {"form": form_id, "fields": kept, "received_at": now}
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
    logger.info(
        "form accepted",
        extra={"form": form_id, "lead": mask_email(submission.email), "ignored_fields": len(submission.ignored)},
    )
    return _accepted(form)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
