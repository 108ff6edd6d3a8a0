"""Bad input through the real entry points: each gets its documented 4xx and a clear message,
none a 5xx, and nothing valid is lost (valid requests do reach the queue)."""

from __future__ import annotations

import json
import time

import pytest
from conftest import sample

from leadscore.local.stack import http_event, signed_headers

GOOD_EVENT = {
    "id": "ok-1",
    "type": "page_view",
    "email": "ann@acme.example",
    "timestamp": "2026-11-20T10:00:00Z",
    "properties": {"url": "https://x/pricing"},
}


def event_with(**change):
    item = {**GOOD_EVENT, **change}
    return {k: v for k, v in item.items() if v is not None}


def form(api, form_id, body, kind="application/x-www-form-urlencoded"):
    return api.post_form(form_id, body, kind)


def now_iso(offset: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


# (name, request builder, expected status, expected text in the error or field problems)
FORM_CASES = [
    ("unknown form", lambda api: form(api, "contact-slaes", "email=a%40b.com"), 404, "unknown form 'contact-slaes'"),
    (
        "wrong content type",
        lambda api: form(api, "nps-survey", "email=a@b.com", "text/plain"),
        415,
        "application/x-www-form-urlencoded",
    ),
    (
        "malformed JSON",
        lambda api: form(api, "nps-survey", '{"email": "a@b.com",', "application/json"),
        400,
        "malformed JSON",
    ),
    (
        "JSON that is not an object",
        lambda api: form(api, "nps-survey", "[1, 2]", "application/json"),
        400,
        "expected a JSON object",
    ),
    ("empty body", lambda api: form(api, "nps-survey", ""), 400, "the body is empty"),
    (
        "oversized body",
        lambda api: form(api, "contact-sales", "email=a%40b.com&company=" + "x" * 20000),
        413,
        "larger than 16384 bytes",
    ),
    ("missing email", lambda api: form(api, "nps-survey", "nps=9"), 422, {"email": "required"}),
    (
        "invalid email",
        lambda api: form(api, "nps-survey", "email=not-an-email&nps=9"),
        422,
        {"email": "'not-an-email' is not an email address"},
    ),
    (
        "NPS above the scale",
        lambda api: form(api, "nps-survey", "email=a%40b.com&nps=11"),
        422,
        {"nps": "must be at most 10"},
    ),
    (
        "NPS not a number",
        lambda api: form(api, "nps-survey", "email=a%40b.com&nps=ten"),
        422,
        {"nps": "'ten' is not a number"},
    ),
    (
        "NPS not whole",
        lambda api: form(api, "nps-survey", "email=a%40b.com&nps=7.5"),
        422,
        {"nps": "expected a whole number"},
    ),
    (
        "unknown choice",
        lambda api: form(api, "contact-sales", "email=a%40b.com&budget=millions"),
        422,
        {"budget": "'millions' is not one of: none, under_10k, 10k_to_50k, over_50k"},
    ),
    (
        "unknown field",
        lambda api: form(api, "nps-survey", "email=a%40b.com&nps=9&colour=red"),
        422,
        {"colour": "unknown field for this form"},
    ),
    (
        "field sent twice",
        lambda api: form(api, "nps-survey", "email=a%40b.com&nps=9&nps=3"),
        422,
        {"nps": "expected a single value"},
    ),
    (
        "too long text",
        lambda api: form(api, "contact-sales", "email=a%40b.com&country=NOR"),
        422,
        {"country": "longer than 2 characters"},
    ),
    (
        "wrong JSON type",
        lambda api: form(api, "nps-survey", json.dumps({"email": "a@b.com", "nps": [9]}), "application/json"),
        422,
        {"nps": "expected a single value"},
    ),
]


def tracking(api, payload, **kwargs):
    return api.post_events(payload, **kwargs)


def raw_tracking(api, body: bytes, headers: dict):
    return api.call(api.tracking, http_event("POST", "/events", body, headers))


TRACKING_CASES = [
    (
        "missing signature",
        lambda api: raw_tracking(api, json.dumps(GOOD_EVENT).encode(), {"content-type": "application/json"}),
        401,
        "missing X-Leadscore-Signature header",
    ),
    (
        "bad signature",
        lambda api: tracking(api, GOOD_EVENT, secret="wrong-secret"),
        401,
        "signature does not match the body",
    ),
    (
        "malformed signature",
        lambda api: raw_tracking(
            api, b"{}", {"content-type": "application/json", "x-leadscore-signature": "sha256=abc"}
        ),
        401,
        "malformed X-Leadscore-Signature header",
    ),
    (
        "replayed (expired) signature",
        lambda api: tracking(api, GOOD_EVENT, at=int(time.time()) - 3600),
        401,
        "signature expired",
    ),
    (
        "signature from the future",
        lambda api: tracking(api, GOOD_EVENT, at=int(time.time()) + 3600),
        401,
        "signature expired",
    ),
    (
        "body changed after signing",
        lambda api: raw_tracking(
            api, json.dumps(GOOD_EVENT).encode(), signed_headers(api.stack.secret, b"{}", int(time.time()))
        ),
        401,
        "signature does not match the body",
    ),
    (
        "wrong content type",
        lambda api: tracking(api, GOOD_EVENT, headers={"content-type": "text/plain"}),
        415,
        "send events as application/json",
    ),
    ("malformed JSON", lambda api: tracking(api, b'{"id": "x",'), 400, "malformed JSON"),
    ("non-UTF-8 body", lambda api: tracking(api, b'{"id": "\xff\xfe"}'), 400, "the body is not UTF-8 text"),
    ("oversized body", lambda api: tracking(api, b" " * 300_000 + b"{}"), 413, "larger than 262144 bytes"),
    (
        "unknown event type",
        lambda api: tracking(api, event_with(type="page_veiw")),
        422,
        "type: unknown event type 'page_veiw'",
    ),
    (
        "missing email and anonymous id",
        lambda api: tracking(api, event_with(email=None)),
        422,
        "email or anonymous_id: one of them is needed",
    ),
    (
        "invalid email",
        lambda api: tracking(api, event_with(email="ann(at)acme")),
        422,
        "email: 'ann(at)acme' is not an email address",
    ),
    (
        "future timestamp",
        lambda api: tracking(api, event_with(timestamp=now_iso(3600))),
        422,
        "timestamp: in the future",
    ),
    (
        "ancient timestamp",
        lambda api: tracking(api, event_with(timestamp="2019-01-01T00:00:00Z")),
        422,
        "timestamp: older than the 396-day retention",
    ),
    (
        "unparseable timestamp",
        lambda api: tracking(api, event_with(timestamp="last tuesday")),
        422,
        "is not an ISO 8601 time",
    ),
    (
        "properties of the wrong type",
        lambda api: tracking(api, event_with(properties=["url"])),
        422,
        "properties: expected a JSON object",
    ),
    (
        "batch over 100",
        lambda api: tracking(api, {"batch": [event_with(id=f"b{i}") for i in range(101)]}),
        422,
        "at most 100 events per request, got 101",
    ),
    ("empty batch", lambda api: tracking(api, {"batch": []}), 422, "the batch is empty"),
    (
        "batch that is not a list",
        lambda api: tracking(api, {"batch": {"id": 1}}),
        422,
        "batch: expected a list of events",
    ),
    ("a JSON string", lambda api: tracking(api, "hello"), 422, "expected an event object"),
    (
        "unsupported Segment call",
        lambda api: tracking(api, {"type": "group", "messageId": "g1", "userId": "u", "timestamp": now_iso()}),
        422,
        "Segment call type 'group' is not supported",
    ),
]


# The stable machine-readable `code` each case answers with (documented in openapi.yaml).
FORM_CODES = {
    "unknown form": "unknown_form",
    "wrong content type": "unsupported_media_type",
    "malformed JSON": "malformed_json",
    "JSON that is not an object": "not_an_object",
    "empty body": "body_empty",
    "oversized body": "body_too_large",
}
TRACKING_CODES = {
    "missing signature": "missing_signature",
    "bad signature": "bad_signature",
    "malformed signature": "malformed_signature",
    "replayed (expired) signature": "expired_signature",
    "signature from the future": "expired_signature",
    "body changed after signing": "bad_signature",
    "wrong content type": "unsupported_media_type",
    "malformed JSON": "malformed_json",
    "non-UTF-8 body": "not_utf8",
    "oversized body": "body_too_large",
}


@pytest.mark.parametrize(("name", "request_", "status", "expected"), FORM_CASES, ids=[c[0] for c in FORM_CASES])
def test_bad_form_submissions_get_a_clear_4xx(api, name, request_, status, expected):
    got_status, body = request_(api)
    assert got_status == status, body
    assert body["code"] == FORM_CODES.get(name, "invalid_fields"), body
    if isinstance(expected, dict):
        assert body["error"] == "some fields are not valid"
        assert body["fields"] == expected
    else:
        assert expected in body["error"]
    assert api.queued() == 0  # nothing invalid reaches the queue


@pytest.mark.parametrize(("name", "request_", "status", "expected"), TRACKING_CASES, ids=[c[0] for c in TRACKING_CASES])
def test_bad_tracking_requests_get_a_clear_4xx(api, name, request_, status, expected):
    got_status, body = request_(api)
    assert got_status == status, body
    assert body["code"] == TRACKING_CODES.get(name, "invalid_events"), body
    text = body["error"] + " " + " ".join(problem["error"] for problem in body.get("problems", []))
    assert expected in text, body
    assert api.queued() == 0


def test_a_batch_with_one_bad_event_names_it_by_index_and_accepts_none(api):
    status, body = tracking(api, {"batch": [GOOD_EVENT, event_with(id="bad", type="nope"), event_with(id="ok-2")]})
    assert status == 422
    assert body["problems"] == [{"index": 1, "error": "type: unknown event type 'nope'"}]
    assert body["code"] == "invalid_events"
    assert api.queued() == 0  # all or nothing: the client resends the corrected batch


def test_honeypot_answers_like_success_but_queues_nothing(api):
    status, body = form(api, "nps-survey", "email=bot%40spam.example&nps=10&website=http%3A%2F%2Fspam")
    assert (status, body) == (202, {"status": "accepted"})
    assert api.queued() == 0


def test_unknown_routes_are_404_not_500(api):
    status, body = api.call(api.forms, http_event("GET", "/forms/nps-survey", None))
    assert status == 404
    assert body["code"] == "no_such_route"


def test_invalid_email_in_the_lead_path_is_400(api):
    status, body = api.get_lead("not-an-email")
    assert (status, body) == (400, {"error": "'not-an-email' is not an email address", "code": "not_an_email"})


def test_valid_requests_next_to_bad_ones_are_not_lost(api):
    # Given a mix of bad and good requests
    for _, request_, _, _ in FORM_CASES[:5] + TRACKING_CASES[:5]:
        request_(api)
    assert form(api, "nps-survey", "email=ann%40acme.example&nps=9")[0] == 202
    assert tracking(api, {"batch": [GOOD_EVENT, event_with(id="ok-2", timestamp="2026-11-20T10:05:00Z")]})[0] == 202
    assert api.call(api.forms, sample("api-form-contact-sales.json"))[0] == 202
    # Then exactly the valid ones were queued and scored
    assert api.queued() == 4
    assert api.drain() == {"delivered": 4, "failed": 0}
    _, ann = api.get_lead("ann@acme.example")
    assert ann["nps"] == 9 and ann["breakdown"]["pricing-page"] == 10
