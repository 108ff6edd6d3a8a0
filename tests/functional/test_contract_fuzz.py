"""The handlers against openapi.yaml, fuzzed by schemathesis: every answer is documented, none is a 5xx.

Requests reach the real Lambda entry points on moto through `LambdaGateway`, a WSGI app standing in
for API Gateway: it routes as template.yaml does and turns each request into an HTTP API (payload
2.0) event with `http_event` (path parameters, the source address, base64 for a body that is not
UTF-8). POST /events is sent twice per generated case: once as generated (no, malformed or wrong
signatures: the answer must be a documented 4xx), and once signed by the gateway with the stack's
secret, asked for with `SIGN` in the WSGI environ, so the body checks run past authentication. The
Segment-compatible /v1 routes likewise: once as generated, once with the stack's server write key as
HTTP Basic auth (`SIGN` again).
Bounded and derandomized: the same cases on every run, in well under a minute and a half.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.openapi.checks import (
    JsonSchemaError,
    MissingContentType,
    UndefinedContentType,
    UndefinedStatusCode,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leadscore.ingest.tracking import sign
from leadscore.local.stack import LambdaContext, Stack, basic_auth, http_event, local_aws, provision

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
SECRET = "contract-fuzz-secret"
SIGN = "leadscore.fuzz.sign"  # WSGI environ key: the gateway signs the body as a client holding the secret
CHECKS = [
    not_a_server_error,  # no 5xx at all (a queue outage's documented 503 has its own test)
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
CONFIG = schemathesis.Config.from_dict(
    {"seed": 20261123, "generation": {"max-examples": 50, "deterministic": True, "database": "none"}}
)
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)

Answer = tuple[int, dict[str, str], bytes]
Route = tuple[str, re.Pattern[str], Callable[[], Any], str | None]


def _function(name: str) -> Callable[[], Any]:
    """Imported at call time, inside the moto fixture, as Lambda imports it at cold start."""

    def load() -> Any:
        import importlib

        return importlib.import_module(f"leadscore.handlers.{name}")

    return load


# The API's routes as template.yaml declares them: method, path, function, path parameter.
ROUTES: list[Route] = [
    ("POST", re.compile(r"/forms/(?P<p>[^/]+)"), _function("forms"), "formId"),
    ("POST", re.compile(r"/visitors"), _function("forms"), None),
    ("POST", re.compile(r"/events"), _function("tracking"), None),
    ("GET", re.compile(r"/leads/(?P<p>[^/]+)"), _function("leads"), "email"),
    ("DELETE", re.compile(r"/leads/(?P<p>[^/]+)"), _function("forget"), "email"),
    ("POST", re.compile(r"/v1/(batch|track|page|identify|screen|group)"), _function("segment"), None),
]
SEGMENT_OPERATIONS = {f"POST /v1/{name}" for name in ("batch", "track", "page", "identify", "screen", "group")}
_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 404: "Not Found", 500: "Internal Server Error"}


class LambdaGateway:
    """API Gateway's HTTP API in front of the handlers, as a WSGI app.

    A route the template does not declare is answered as API Gateway answers it (404, no function
    called); a function that raises becomes API Gateway's 500, so a crash is a 5xx the checks see.
    """

    def __init__(self, secret: str, routes: list[Route] = ROUTES, write_key: str = "") -> None:
        self.secret = secret
        self.write_key = write_key
        self.routes = routes
        self.seen: Counter[tuple[bool, int]] = Counter()  # (signed, status) of every answer

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, headers, body = self.answer(environ)
        start_response(f"{status} {_REASONS.get(status, 'Status')}", list(headers.items()))
        return [body]

    def route(self, method: str, path: str) -> tuple[Callable[[], Any], dict[str, str]] | None:
        """The function for a request and its path parameters (decoded), or None: not an API route."""
        for route_method, pattern, function, parameter in self.routes:
            match = pattern.fullmatch(path)
            if method == route_method and match:
                return function, ({parameter: unquote(match["p"])} if parameter else {})
        return None

    def answer(self, environ: dict[str, Any]) -> Answer:
        method = environ["REQUEST_METHOD"]
        uri = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        path, _, query = uri.partition("?")  # as sent, still percent-encoded: the handlers decode
        routed = self.route(method, path)
        if routed is None:
            return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'
        function, path_parameters = routed
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = _headers(environ)
        signed = bool(environ.get(SIGN))
        if signed and path.startswith("/v1/"):
            headers.update(basic_auth(self.write_key))
        elif signed:
            headers["x-leadscore-signature"] = sign(self.secret, raw, int(time.time()))
        try:
            raw.decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            binary = True  # API Gateway base64-encodes a body that is not text
        event = http_event(method, path, raw or None, headers, path_parameters, base64_body=binary)
        event["rawQueryString"] = query
        event["requestContext"]["http"]["sourceIp"] = environ.get("REMOTE_ADDR", "127.0.0.1")
        try:
            result = function().handler(event, LambdaContext())
        except Exception:  # the function failed: API Gateway answers for it
            result = {
                "statusCode": 500,
                "headers": {"content-type": "application/json"},
                "body": '{"message":"Internal Server Error"}',
            }
        self.seen[(signed, result["statusCode"])] += 1
        return _answer(result)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """Request headers as API Gateway passes them: lower-case names (WSGI already joined repeats)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _answer(result: dict[str, Any]) -> Answer:
    """A Lambda proxy result as API Gateway sends it on: the function's status, headers and body."""
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    headers = {str(name).lower(): str(value) for name, value in (result.get("headers") or {}).items()}
    return int(result["statusCode"]), headers, data


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One stack on moto for the module, reset as tests/functional/conftest.py resets it."""
    saved = dict(os.environ)
    with local_aws():
        provisioned = provision(secret=SECRET)
        from aws_lambda_powertools.utilities import parameters

        from leadscore.handlers import consumer, leads, runtime

        runtime.reset()
        parameters.clear_caches()  # another stack's secret must not linger
        consumer.service.cache_clear()
        leads.service.cache_clear()
        yield provisioned
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> LambdaGateway:
    return LambdaGateway(stack.secret, write_key=stack.server_write_key)


_addresses = itertools.count()


def client(**environ: Any) -> dict[str, Any]:
    """A new source address per request, so the per-source throttle does not answer every later
    case with 429 (the per-email one still trips on repeated emails; its 429 is checked too)."""
    return {"REMOTE_ADDR": str(ipaddress.IPv4Address("198.18.0.0") + next(_addresses)), **environ}


# What the fuzzing of each operation must have reached (so a run that stops at a door fails):
# (signed, status) pairs that must appear, and for each signing the only statuses allowed.
REACHED: dict[str, tuple[set[tuple[bool, int]], dict[bool, set[int]]]] = {
    "POST /forms/{formId}": ({(False, 404)}, {}),
    "POST /forms/contact-sales": ({(False, 202), (False, 422), (False, 429)}, {}),
    "POST /forms/nps-survey": ({(False, 202), (False, 422), (False, 429)}, {}),
    "POST /visitors": ({(False, 201)}, {}),
    # Unsigned, nothing passes the signature; signed, everything does and the body is judged.
    "POST /events": (
        {(False, 401), (True, 422), (True, 400)},
        {False: {400, 401, 413, 415}, True: {400, 413, 415, 422}},
    ),
    "GET /leads/{email}": ({(False, 400), (False, 404)}, {}),
    "DELETE /leads/{email}": ({(False, 400), (False, 200)}, {}),  # forgetting an unknown lead is a no-op
    # Without a key nothing passes (a body that is not JSON is refused first); with the server key
    # the calls are judged: queued or ignored (200) or refused by index (400), never a 5xx.
    **{
        operation: ({(False, 401), (True, 400)}, {False: {400, 401}, True: {200, 400}})
        for operation in SEGMENT_OPERATIONS
    },
}


@pytest.fixture
def reached(request: pytest.FixtureRequest, gateway: LambdaGateway) -> Iterator[None]:
    """After all the examples of one operation: the answers show the fuzzing went past the doors."""
    before = gateway.seen.copy()
    yield
    label = request.node.name.partition("[")[2].rstrip("]")
    seen = gateway.seen - before
    required, allowed = REACHED[label]
    assert required <= set(seen), f"{label}: never answered {sorted(required - set(seen))}; answers: {dict(seen)}"
    for signed, statuses in allowed.items():
        assert {status for was, status in seen if was == signed} <= statuses, (label, signed, dict(seen))


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # `reached` spans all examples on purpose
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: schemathesis.Case, gateway: LambdaGateway, reached: None
) -> None:
    case.call_and_validate(app=gateway, checks=CHECKS, environ_overrides=client())
    if case.operation.label == "POST /events" or case.operation.label in SEGMENT_OPERATIONS:
        case.call_and_validate(app=gateway, checks=CHECKS, environ_overrides=client(**{SIGN: True}))


def test_the_answers_to_good_requests_conform_too(stack: Stack, gateway: LambdaGateway) -> None:
    """202 with a count, and a lead's 200 breakdown: generated events are almost never both current
    and valid, so these are sent as a client would, and checked the same way."""
    from leadscore.handlers import consumer

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    event = {"id": "fuzz-good-1", "type": "page_view", "email": "ann@acme.example", "timestamp": now}
    sent = schema["/events"]["POST"].Case(
        body=event, media_type="application/json", headers={"x-leadscore-signature": "t=0,v1=" + "0" * 64}
    )
    response = sent.call_and_validate(app=gateway, checks=CHECKS, environ_overrides=client(**{SIGN: True}))
    assert response.status_code == 202 and response.json() == {"status": "accepted", "accepted": 1}
    drained = stack.drain(consumer.handler)  # with every form the fuzzing got accepted: all must score
    assert drained["delivered"] >= 1 and drained["failed"] == 0, drained
    read = schema["/leads/{email}"]["GET"].Case(path_parameters={"email": "Ann@ACME.example"})
    response = read.call_and_validate(app=gateway, checks=CHECKS, environ_overrides=client())
    assert response.status_code == 200 and response.json()["lead"] == "ann@acme.example"


JSON = {"content-type": "application/json"}


def _broken(result: dict[str, Any] | None) -> list[Route]:
    """Every route answered by one stand-in function: `result`, or a crash when None."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if result is None:
            raise RuntimeError("boom")
        return result

    function = SimpleNamespace(handler=handler)
    return [(method, pattern, lambda: function, parameter) for method, pattern, _, parameter in ROUTES]


@pytest.mark.parametrize(
    ("result", "failure"),
    [
        (None, ServerError),  # the function crashed: API Gateway's 500
        ({"statusCode": 503, "headers": JSON, "body": '{"error": "down", "code": "unavailable"}'}, ServerError),
        ({"statusCode": 418, "headers": JSON, "body": '{"error": "teapot", "code": "teapot"}'}, UndefinedStatusCode),
        ({"statusCode": 201, "headers": JSON, "body": '{"visitor_id": "not-signed"}'}, JsonSchemaError),
        (
            {"statusCode": 201, "body": '{"visitor_id": "v1.mX2bS0u4yQ7m1o2nV3pLkA.Q9d8x1M0vZ2rT5wJ7yH3eA"}'},
            MissingContentType,
        ),
        ({"statusCode": 201, "headers": {"content-type": "text/plain"}, "body": "v1.x.y"}, UndefinedContentType),
    ],
    ids=["crash", "503", "undocumented-status", "body-off-schema", "no-content-type", "undocumented-content-type"],
)
def test_the_checks_fail_on_a_5xx_or_an_undocumented_answer(stack: Stack, result: dict | None, failure: type) -> None:
    case = schema["/visitors"]["POST"].Case()
    with pytest.raises(FailureGroup) as failed:
        case.call_and_validate(app=LambdaGateway(stack.secret, _broken(result)), checks=CHECKS)
    assert failure in {type(found) for found in failed.value.exceptions}
