"""A local HTTP gateway: API Gateway in front of the Lambda handlers, routed from template.yaml.

Each request becomes the event the deployed HTTP API sends (payload 2.0, as `http_event` builds
it), is routed by the `HttpApi` / `Api` events of template.yaml (path templates with {params},
method or ANY), and is answered with the function's status, headers and body. Routes come from
the template, so they cannot drift from what is deployed. The seed of `leadscore serve`:

    with Gateway() as gateway:          # inside a provisioned stack (local/stack.py)
        requests.post(gateway.url + "/v1/batch", ...)

Calls are serialised: a Lambda instance serves one request at a time, and moto in-process is
not thread-safe, so the threaded server only keeps slow clients from blocking each other's I/O.
"""

from __future__ import annotations

import base64
import importlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from .stack import TEMPLATE, LambdaContext, http_event, read_template

API_EVENT_TYPES = {"HttpApi", "Api"}
Answer = tuple[int, list[tuple[str, str]], bytes]
# (method, path, query, headers, body) -> an answer, or None to route the request to the template's functions
LocalRoutes = Callable[[str, str, str, dict[str, str], bytes], Answer | None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # as written in the template: /forms/{formId}
    pattern: re.Pattern[str]
    handler: str  # module.function, from the function's Handler

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in {"ANY", method}:
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else {name: unquote(value) for name, value in found.groupdict().items()}


def _pattern(path: str) -> re.Pattern[str]:
    """/forms/{formId} -> one segment per {param}; {proxy+} takes the rest of the path."""
    parts = re.split(r"(\{[^}]+\})", path)
    regex = ""
    for part in parts:
        if part.startswith("{") and part.endswith("+}"):
            regex += f"(?P<{part[1:-2]}>.+)"
        elif part.startswith("{"):
            regex += f"(?P<{part[1:-1]}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def routes(template: dict[str, Any]) -> list[Route]:
    """Every API route of the template's functions; literal paths before templated ones, as API Gateway picks."""
    found = []
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        for event in (properties.get("Events") or {}).values():
            if event.get("Type") not in API_EVENT_TYPES:
                continue
            path, method = event["Properties"]["Path"], str(event["Properties"]["Method"]).upper()
            found.append(Route(method, path, _pattern(path), properties["Handler"]))
    return sorted(found, key=lambda route: (route.path.count("{"), -len(route.path)))


def cors_configuration(template: dict[str, Any]) -> dict[str, Any] | None:
    """The HTTP API's CorsConfiguration (methods, headers, max age); its origins come from a parameter."""
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            return resource.get("Properties", {}).get("CorsConfiguration")
    return None


def _call(handler: str, event: dict[str, Any]) -> dict[str, Any]:
    module, _, function = handler.rpartition(".")
    return getattr(importlib.import_module(module), function)(event, LambdaContext())


class Gateway:
    """A threaded HTTP server on 127.0.0.1 calling the handlers; a context manager that starts and stops it."""

    def __init__(
        self,
        template: Path = TEMPLATE,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lock: threading.Lock | threading.RLock | None = None,
        local: LocalRoutes | None = None,
    ) -> None:
        """`lock`: shared with other callers of the handlers (serve's pollers); `local`: answers
        asked first (serve's /_local/* endpoints, which the template never declares)."""
        parsed = read_template(template)
        self.routes = routes(parsed)
        self.cors = cors_configuration(parsed)
        self.allowed_origins: tuple[str, ...] = ()  # what the AllowedOrigins parameter holds here
        self._lock = lock or threading.Lock()
        self._local = local
        self._server = ThreadingHTTPServer((host, port), self._request_handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> Answer:
        """(status, headers, body) for one request, as API Gateway would answer it, CORS included:
        API Gateway answers preflights itself and sets the CORS headers, ignoring the function's."""
        origin = headers.get("origin")
        allowed = self.cors is not None and origin is not None and origin in self.allowed_origins
        if method == "OPTIONS" and self.cors is not None and "access-control-request-method" in headers:
            return 204, self._cors_headers(origin, preflight=True) if allowed else [], b""
        status, answer_headers, data = self._answer(method, target, headers, body, source_ip)
        if self.cors is not None:
            answer_headers = [(n, v) for n, v in answer_headers if not n.lower().startswith("access-control-")]
            if allowed:
                answer_headers += self._cors_headers(origin)
        return status, answer_headers, data

    def _cors_headers(self, origin: str | None, preflight: bool = False) -> list[tuple[str, str]]:
        assert self.cors is not None and origin is not None
        found = [("access-control-allow-origin", origin), ("vary", "origin")]
        if preflight:
            found += [
                ("access-control-allow-methods", ",".join(self.cors.get("AllowMethods", []))),
                ("access-control-allow-headers", ",".join(self.cors.get("AllowHeaders", []))),
                ("access-control-max-age", str(self.cors.get("MaxAge", 0))),
            ]
        return found

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> Answer:
        path, _, query = target.partition("?")
        if self._local is not None:
            local = self._local(method, path, query, headers, body)
            if local is not None:
                return local
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                break
        else:  # API Gateway's own answer: no function is called
            return 404, [("content-type", "application/json")], b'{"message":"Not Found"}'
        try:
            body.decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            binary = True  # API Gateway base64-encodes a body that is not text
        event = http_event(method, path, body or None, headers, parameters, base64_body=binary)
        event["rawQueryString"] = query
        event["requestContext"]["http"]["sourceIp"] = source_ip
        try:
            with self._lock:
                result = _call(route.handler, event)
        except Exception:  # noqa: BLE001 - the function failed: API Gateway answers 500 for it
            log.exception("%s failed on %s %s", route.handler, method, path)
            return 500, [("content-type", "application/json")], b'{"message":"Internal Server Error"}'
        return _response(result)

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers: dict[str, str] = {}
                for name, value in self.headers.items():  # repeated headers joined, as API Gateway does
                    key = name.lower()
                    headers[key] = f"{headers[key]},{value}" if key in headers else value
                status, answer_headers, data = gateway.answer(
                    self.command, self.path, headers, body, self.client_address[0]
                )
                self.send_response(status)
                for name, value in answer_headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                return  # quiet: the handlers log

        return Handler

    def __enter__(self) -> Gateway:
        self._thread = threading.Thread(target=self._server.serve_forever, name="leadscore-gateway", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _response(result: dict[str, Any]) -> Answer:
    """A Lambda proxy result (payload 2.0) as the HTTP answer: status, headers, cookies, body."""
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    return int(result.get("statusCode", 200)), headers, data
