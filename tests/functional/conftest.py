"""The stack on moto: tables from template.yaml, FIFO queue, SSM secret; handlers called for real."""

from __future__ import annotations

import base64
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from leadscore.local.stack import LambdaContext, Stack, http_event, local_aws, provision, signed_headers

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


class Api:
    """Calls the Lambda entry points the way API Gateway and SQS do."""

    def __init__(self, stack: Stack) -> None:
        from leadscore.handlers import consumer, forms, leads, tracking

        self.stack = stack
        self.forms, self.tracking, self.leads, self.consumer = forms, tracking, leads, consumer

    def call(self, handler: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = handler.handler(event, LambdaContext())
        body = json.loads(response["body"]) if response.get("body") else {}
        return response["statusCode"], body

    def post_events(
        self, payload: Any, *, secret: str | None = None, at: int | None = None, headers: dict | None = None
    ) -> tuple[int, dict]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        signed = signed_headers(secret or self.stack.secret, body, at if at is not None else int(time.time()))
        try:
            body.decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            binary = True  # API Gateway base64-encodes bodies that are not text
        event = http_event("POST", "/events", body, {**signed, **(headers or {})}, base64_body=binary)
        return self.call(self.tracking, event)

    def post_form(
        self, form_id: str, body: bytes | str, kind: str = "application/x-www-form-urlencoded"
    ) -> tuple[int, dict]:
        event = http_event("POST", f"/forms/{form_id}", body, {"content-type": kind}, {"formId": form_id})
        return self.call(self.forms, event)

    def get_lead(self, email: str) -> tuple[int, dict]:
        return self.call(self.leads, http_event("GET", f"/leads/{email}", None, {}, {"email": email}))

    def drain(self) -> dict[str, int]:
        return self.stack.drain(self.consumer.handler)

    def queued(self) -> int:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def api():
    saved = dict(os.environ)
    with local_aws():
        stack = provision(secret="test-secret")
        from aws_lambda_powertools.utilities import parameters

        from leadscore.handlers import consumer, leads, notifier, runtime

        runtime.reset()
        parameters.clear_caches()  # another stack's secret (the demo's, say) must not linger
        consumer.service.cache_clear()
        leads.service.cache_clear()
        notifier.notifier.cache_clear()
        yield Api(stack)
    os.environ.clear()
    os.environ.update(saved)


def resigned(event: dict[str, Any], secret: str, at: int | None = None) -> dict[str, Any]:
    """A sample API event with a fresh signature over its body."""
    event = copy.deepcopy(event)
    body = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"].encode()
    event["headers"].update(signed_headers(secret, body, at if at is not None else int(time.time())))
    return event


def clear_of_window_edges(*windows: int, margin: float = 30.0) -> None:
    """Wait, if need be, until no rate-limit window of these lengths (seconds) ends within `margin`
    seconds: the limits count in fixed windows of the real clock, so posts that straddle a
    window's end are rightly counted in two windows, and a test of one window's limit would fail."""
    left = min(window - time.time() % window for window in windows)
    if left < margin:
        time.sleep(left + 0.2)
