"""The Segment-compatible API (/v1/*) driven by the real SDKs from PyPI through `leadscore serve`.

segment-analytics-python and rudder-sdk-python (which gzips) post to `leadscore serve`
(local/serve.py: moto's server, routes and functions read from template.yaml) started in this
process on free ports; its queue consumer scores what they sent in the background, and the lead is
read back over HTTP, so "accepted" is shown to mean "scored". What reached the scoring queue is
read from serve's record of what its consumer received (GET /_local/received).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import clear_of_window_edges
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import APIError

from leadscore.ingest.visitors import issue, visitor_key
from leadscore.local.serve import Serve, ServeOptions
from leadscore.local.stack import Stack, basic_auth

SITE = "https://www.fjordline.example"


class Served:
    """What the tests ask of the running stack, through serve's HTTP port (routes and /_local/*)."""

    def __init__(self, served: Serve) -> None:
        self.served = served
        self.url = served.url
        self.stack: Stack = served.stack  # type: ignore[assignment]
        self.mark = requests.get(self.url + "/_local/received", params={"since": 10**9}, timeout=10).json()["next"]

    def _quiet(self, deadline: float = 30.0) -> None:
        """Until the scoring queue is empty: whatever was sent is then in serve's record of it."""
        until = time.monotonic() + deadline
        while time.monotonic() < until:
            queues = requests.get(self.url + "/_local/status", timeout=10).json()["queues"]
            if queues["ScoringFunction.Queue"]["depth"] == 0:
                return
            time.sleep(0.05)
        raise AssertionError("the scoring queue did not empty")

    def received(self) -> list[dict[str, Any]]:
        self._quiet()
        return requests.get(self.url + "/_local/received", params={"since": self.mark}, timeout=10).json()["bodies"]

    def queued(self) -> int:
        """How many messages reached the scoring queue during this test."""
        return len(self.received())

    def drain(self) -> dict[str, int]:
        """Until the consumer has scored everything: what it delivered and failed since the last drain."""
        answer = requests.post(self.url + "/_local/drain", timeout=90).json()
        assert answer.pop("idle") is True
        return answer

    def get_lead(self, email: str, deadline: float = 20.0) -> tuple[int, dict[str, Any]]:
        """GET /leads/{email}, polled until the lead exists (the consumer scores asynchronously)."""
        until = time.monotonic() + deadline
        while True:
            response = requests.get(f"{self.url}/leads/{email}", timeout=10)
            if response.status_code != 404 or time.monotonic() > until:
                return response.status_code, response.json()
            time.sleep(0.1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Serve]:
    options = ServeOptions(
        port=0, outbox=tmp_path / "outbox", allow_origins=(SITE, "https://fjordline.example"), poll_wait_seconds=0
    )
    with Serve(options) as running:
        yield running


@pytest.fixture
def api(served: Serve) -> Served:
    return Served(served)


@pytest.fixture
def gateway(served: Serve) -> Serve:
    return served


def segment(gateway: Serve, key: str) -> SegmentClient:
    return SegmentClient(write_key=key, host=gateway.url, sync_mode=True, max_retries=0)


def queued_bodies(api: Served) -> list[dict[str, Any]]:
    """What reached the scoring queue during this test (serve's consumer has it, or will)."""
    return api.received()


def post(gateway: Serve, path: str, body: Any, key: str, **headers: str) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(gateway.url + path, data=data, headers={**basic_auth(key), **headers}, timeout=10)


def now_iso(offset: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def test_the_segment_sdk_sends_a_download_that_is_scored(api, gateway):
    # Given the real Segment SDK pointed at the gateway with the server key
    client = segment(gateway, api.stack.server_write_key)
    # When it tracks a white paper download for a lead identified by email
    client.track(user_id="Ann@Acme.example", event="File Downloaded", properties={"asset": "whitepaper-data-mesh"})
    # Then the event waits in the scoring queue as a download, and once drained the lead has the model's points
    [body] = queued_bodies(api)
    assert body["event"]["type"] == "download" and body["event"]["email"] == "ann@acme.example"
    assert body["source"] == "segment"
    assert api.drain() == {"delivered": 1, "failed": 0}
    _, lead = api.get_lead("ann@acme.example")
    assert lead["breakdown"] == {"whitepaper-download": 30, "data-platform-whitepaper": 20}


def test_an_sdk_retry_with_the_same_message_id_scores_once(api, gateway):
    client = segment(gateway, api.stack.server_write_key)
    case_study = {"asset": "case-study-polderbank"}  # no limit on this rule: only the id keeps it at once
    client.track(user_id="jan@polderbank.example", event="Asset Downloaded", properties=case_study, message_id="m-1")
    client.track(user_id="jan@polderbank.example", event="Asset Downloaded", properties=case_study, message_id="m-1")
    api.drain()
    client.track(user_id="jan@polderbank.example", event="Asset Downloaded", properties=case_study, message_id="m-1")
    api.drain()
    _, lead = api.get_lead("jan@polderbank.example")
    assert lead["breakdown"] == {"case-study": 20}
    client.track(user_id="jan@polderbank.example", event="Asset Downloaded", properties=case_study, message_id="m-2")
    api.drain()
    _, lead = api.get_lead("jan@polderbank.example")
    assert lead["breakdown"] == {"case-study": 40}  # a different id is a second download


def test_rudderstack_sends_gzipped_video_progress_as_percent_watched(api, gateway):
    client = RudderClient(write_key=api.stack.server_write_key, host=gateway.url, sync_mode=True, gzip=True)
    client.track(
        user_id="ola@nordkraft.example",
        event="Video Content Playing",
        properties={"position": 66, "total_length": 120, "asset_id": "product-tour"},
    )
    [body] = queued_bodies(api)
    assert body["event"]["type"] == "video_play" and body["event"]["properties"]["percent"] == 55.0
    api.drain()
    _, lead = api.get_lead("ola@nordkraft.example")
    assert lead["breakdown"] == {"product-video-half": 5}


def test_a_completed_video_without_position_counts_as_watched_to_the_end(api, gateway):
    response = post(
        gateway,
        "/v1/track",
        {
            "userId": "kari@acme.example",
            "event": "Video Playback Completed",
            "messageId": "v-1",
            "timestamp": now_iso(),
        },
        api.stack.server_write_key,
    )
    assert response.status_code == 200, response.text
    [body] = queued_bodies(api)
    assert body["event"]["properties"]["percent"] == 100.0


def test_a_wrong_write_key_is_401_with_a_body_the_sdks_read(api, gateway):
    with pytest.raises(APIError) as raised:
        segment(gateway, "not-a-key").track(user_id="ann@acme.example", event="File Downloaded")
    assert (raised.value.status, raised.value.code) == (401, "bad_write_key")
    from rudderstack.analytics.request import APIError as RudderError

    with pytest.raises(RudderError) as rudder:
        RudderClient(write_key="not-a-key", host=gateway.url, sync_mode=True).track(user_id="a@b.example", event="x")
    assert (rudder.value.status, rudder.value.code) == (401, "bad_write_key")
    missing = requests.post(gateway.url + "/v1/batch", json={"batch": []}, timeout=10)
    assert missing.status_code == 401 and missing.json()["code"] == "missing_write_key"
    empty = post(gateway, "/v1/batch", {"batch": []}, "")  # "Basic Og==": an empty user name is no key
    assert empty.status_code == 401 and empty.json()["code"] == "bad_write_key"
    assert api.queued() == 0


def test_page_calls_become_page_views_with_the_url_and_campaign(api, gateway):
    client = segment(gateway, api.stack.server_write_key)
    client.page(
        anonymous_id="visitor-1",
        name="Pricing",
        properties={"url": "https://www.fjordline.example/pricing"},
        context={"campaign": {"source": "newsletter", "medium": "email", "name": "autumn"}},
    )
    [body] = queued_bodies(api)
    event = body["event"]
    assert event["type"] == "page_view" and event["anonymous_id"] == "visitor-1"
    assert event["properties"]["utm_source"] == "newsletter" and event["properties"]["utm_campaign"] == "autumn"
    assert api.drain() == {"delivered": 1, "failed": 0}


def test_identify_from_a_server_key_sets_traits_and_links_the_visitor(api, gateway):
    client = segment(gateway, api.stack.server_write_key)
    client.page(anonymous_id="visitor-2", properties={"url": "https://www.fjordline.example/pricing"})
    client.identify(
        anonymous_id="visitor-2",
        traits={"email": "sofie@havn.example", "job_title": "Head of Data", "company_id": "c-9"},
    )
    api.drain()
    _, lead = api.get_lead("sofie@havn.example")
    assert lead["breakdown"]["pricing-page"] == 10  # the anonymous visit counts for the lead
    assert lead["breakdown"]["senior-title"] == 15


def test_a_browser_key_sends_public_events_and_gets_cors_headers(api, gateway):
    call = {"anonymousId": "b-1", "messageId": "p-1", "timestamp": now_iso(), "properties": {"url": SITE + "/blog/x"}}
    response = post(gateway, "/v1/page", call, api.stack.browser_write_key, Origin=SITE)
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert queued_bodies(api)[0]["source"] == "segment-browser"


def test_a_browser_key_from_an_origin_not_allowed_is_403(api, gateway):
    call = {"anonymousId": "b-1", "messageId": "p-2", "timestamp": now_iso()}
    response = post(gateway, "/v1/page", call, api.stack.browser_write_key, Origin="https://evil.example")
    assert response.status_code == 403 and response.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert api.queued() == 0


def test_a_browser_key_cannot_send_server_only_events_they_are_answered_and_ignored(api, gateway):
    batch = {
        "batch": [
            {"type": "track", "event": "Webinar Attended", "userId": "ann@acme.example", "messageId": "w-1"},
            {
                "type": "track",
                "event": "File Downloaded",
                "userId": "ann@acme.example",
                "messageId": "d-1",
                "properties": {"asset": "ebook-intro"},
            },
        ]
    }
    response = post(gateway, "/v1/batch", batch, api.stack.browser_write_key, Origin=SITE)
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 1, "ignored": 1}
    assert [body["event"]["type"] for body in queued_bodies(api)] == ["download"]


def test_a_browser_identify_never_sets_trusted_traits_nor_links_an_unsigned_visitor(api, gateway):
    call = {
        "anonymousId": "not-signed",
        "messageId": "i-1",
        "traits": {"email": "eve@acme.example", "company_id": "someone-elses-account", "job_title": "CTO"},
    }
    response = post(gateway, "/v1/identify", call, api.stack.browser_write_key, Origin=SITE)
    assert response.status_code == 200, response.text
    [body] = queued_bodies(api)
    assert body["event"]["profile"] == {"job_title": "CTO"}  # company_id is trusted (accounts match by it)
    assert "anonymous_id" not in body["event"]["properties"]  # an unsigned visitor id links nothing


def test_a_browser_identify_links_a_signed_visitor_id(api, gateway):
    visitor = issue(visitor_key(api.stack.secret))
    call = {"anonymousId": visitor, "messageId": "i-2", "traits": {"email": "eve@acme.example"}}
    assert post(gateway, "/v1/identify", call, api.stack.browser_write_key, Origin=SITE).status_code == 200
    [body] = queued_bodies(api)
    assert body["event"]["properties"]["anonymous_id"] == visitor


def test_unmapped_track_events_are_accepted_counted_and_not_queued(api, gateway):
    call = {"userId": "ann@acme.example", "event": "Order Completed", "messageId": "o-1"}
    response = post(gateway, "/v1/track", call, api.stack.server_write_key)
    assert response.json() == {"success": True, "accepted": 0, "ignored": 1}
    assert api.queued() == 0
    known = {"userId": "ann@acme.example", "event": "Pricing Calculator", "messageId": "o-2"}  # a model type
    assert post(gateway, "/v1/track", known, api.stack.server_write_key).json()["accepted"] == 1


def test_a_call_over_32_kb_is_400(api, gateway):
    call = {"type": "track", "userId": "ann@acme.example", "event": "x", "properties": {"blob": "a" * 33_000}}
    response = post(gateway, "/v1/batch", {"batch": [call]}, api.stack.server_write_key)
    assert response.status_code == 400 and response.json()["code"] == "event_too_large"
    assert response.json()["message"]


def test_a_batch_over_500_kb_is_400_measured_decompressed(api, gateway):
    call = {"type": "track", "userId": "ann@acme.example", "event": "x", "properties": {"blob": "a" * 30_000}}
    body = json.dumps({"batch": [call] * 18}).encode()  # 18 calls under 32 KB each, 540 KB in all
    response = post(gateway, "/v1/batch", body, api.stack.server_write_key)
    assert response.status_code == 400 and response.json()["code"] == "batch_too_large"
    packed = gzip.compress(body)  # a few KB on the wire: the limit is on what it unpacks to
    assert len(packed) < 10_000
    response = post(gateway, "/v1/batch", packed, api.stack.server_write_key, **{"Content-Encoding": "gzip"})
    assert response.status_code == 400 and response.json()["code"] == "batch_too_large"
    assert api.queued() == 0


def test_bad_json_and_bad_gzip_are_400_naming_the_problem(api, gateway):
    key = api.stack.server_write_key
    assert post(gateway, "/v1/batch", b"{nope", key).json()["code"] == "malformed_json"
    garbled = post(gateway, "/v1/batch", b"\x1f\x8b not gzip", key, **{"Content-Encoding": "gzip"})
    assert garbled.status_code == 400 and garbled.json()["code"] == "bad_gzip"


def test_a_bad_call_fails_the_batch_by_index_and_nothing_is_queued(api, gateway):
    batch = {
        "batch": [
            {"type": "track", "userId": "ann@acme.example", "event": "File Downloaded", "messageId": "ok-1"},
            {"type": "track", "event": "File Downloaded", "messageId": "who-1"},  # neither userId nor anonymousId
        ]
    }
    response = post(gateway, "/v1/batch", batch, api.stack.server_write_key)
    assert response.status_code == 400
    assert response.json()["problems"] == [
        {"index": 1, "error": "userId or anonymousId: a Segment call needs one of them"}
    ]
    assert api.queued() == 0


def test_clock_skew_is_corrected_from_sent_at(api, gateway):
    # Given a device whose clock runs an hour fast: it stamped and sent the call "an hour from now"
    fast = now_iso(3600)
    call = {
        "type": "track",
        "userId": "ann@acme.example",
        "event": "File Downloaded",
        "messageId": "s-1",
        "originalTimestamp": fast,
    }
    response = post(gateway, "/v1/batch", {"batch": [call], "sentAt": fast}, api.stack.server_write_key)
    assert response.status_code == 200, response.text
    [body] = queued_bodies(api)
    from leadscore.core.events import parse_timestamp

    assert abs(parse_timestamp(body["event"]["timestamp"]) - time.time()) < 60  # received time, not the device's


def test_a_user_id_that_is_not_an_email_is_a_visitor_merged_by_identify(api, gateway):
    client = segment(gateway, api.stack.server_write_key)
    client.track(user_id="42", event="File Downloaded", properties={"asset": "whitepaper-security-zero-trust"})
    [body] = queued_bodies(api)
    assert body["event"]["anonymous_id"] == "uid:42"
    api.drain()
    client.identify(user_id="42", traits={"email": "ida@fjord.example"})
    api.drain()
    _, lead = api.get_lead("ida@fjord.example")
    assert lead["breakdown"]["whitepaper-download"] == 30  # the backend's earlier event counts for the lead


def test_the_gateway_routes_only_what_the_template_declares(api, gateway):
    assert requests.post(gateway.url + "/v1/alias", json={}, timeout=10).status_code == 404
    assert requests.get(gateway.url + "/v1/batch", timeout=10).status_code == 404
    routes = {(route.method, route.path) for route in gateway.routes}
    assert ("POST", "/v1/batch") in routes and ("GET", "/leads/{email}") in routes


def test_a_browser_key_has_its_own_throttle_and_a_server_key_does_not(api, gateway, monkeypatch):
    from leadscore.handlers import segment as handler

    monkeypatch.setattr(handler, "BROWSER_PER_SOURCE", (1, 600))
    clear_of_window_edges(600)
    call = {"anonymousId": "b-2", "timestamp": now_iso(), "properties": {"url": SITE}}
    assert post(gateway, "/v1/page", call, api.stack.browser_write_key, Origin=SITE).status_code == 200
    throttled = post(gateway, "/v1/page", call, api.stack.browser_write_key, Origin=SITE)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.headers["Access-Control-Allow-Origin"] == SITE  # the page can read why
    assert post(gateway, "/v1/page", call, api.stack.server_write_key).status_code == 200


def test_a_queue_outage_is_503_with_retry_after_and_nothing_is_lost_silently(api, gateway, monkeypatch):
    from leadscore.adapters.queue import QueueUnavailable
    from leadscore.handlers import runtime

    class DownQueue:
        def send(self, *_: Any, **__: Any) -> None:
            raise QueueUnavailable("down")

    monkeypatch.setattr(runtime, "queue", DownQueue)
    call = {"userId": "ann@acme.example", "event": "File Downloaded", "messageId": "q-1"}
    response = post(gateway, "/v1/track", call, api.stack.server_write_key)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["code"] == "unavailable"


def test_an_nps_answer_off_the_models_scale_is_400_naming_the_field(api, gateway):
    call = {"type": "identify", "userId": "ann@acme.example", "traits": {"nps": 11}, "timestamp": now_iso()}
    response = post(gateway, "/v1/batch", {"batch": [call]}, api.stack.server_write_key)
    assert response.status_code == 400 and response.json()["code"] == "invalid_events"
    assert "nps: 11 is outside the NPS scale 0 to 10" in response.text
    assert api.queued() == 0


def test_the_model_names_the_event_types_a_browser_key_may_send(api, gateway, tmp_path, monkeypatch):
    import shutil

    from leadscore.handlers import runtime

    folder = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parents[2] / "rules", folder)
    with (folder / "model.yaml").open("a") as model:
        model.write("public_event_types: [page_view]\n")
    monkeypatch.setenv("MODEL_PATH", str(folder))
    runtime.reset()
    origin = {"Origin": SITE}
    download = {"type": "track", "anonymousId": "v-1", "event": "File Downloaded", "properties": {"asset": "x"}}
    response = post(gateway, "/v1/batch", {"batch": [download]}, api.stack.browser_write_key, **origin)
    assert response.status_code == 200 and response.json()["ignored"] == 1  # not public in this model
    runtime.reset()
