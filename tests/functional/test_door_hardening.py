"""Hostile and odd input at the public doors: never a 5xx, a stable error code, and what is
accepted can be scored (the consumer never fails on something a door let through)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from leadscore.local.stack import http_event, signed_headers

OPENAPI = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())


def documented_codes() -> set[str]:
    return set(OPENAPI["components"]["schemas"]["Error"].get("properties", {}).get("code", {}).get("enum", []))


def now_iso(offset: float = -60) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def good_event(**change) -> dict:
    event = {
        "id": "door-1",
        "type": "page_view",
        "email": "ann@acme.example",
        "timestamp": now_iso(),
        "properties": {"url": "https://x/pricing"},
    }
    return {**event, **change}


def event_text(**fragments: str) -> bytes:
    """An event whose JSON text has raw fragments spliced in (NaN, 1e400, ... cannot be json.dumps'ed)."""
    text = json.dumps(good_event(**{name: f"@@{name}@@" for name in fragments}))
    for name, fragment in fragments.items():
        text = text.replace(json.dumps(f"@@{name}@@"), fragment)
    return text.encode()


def problems(body: dict) -> str:
    return " | ".join(p["error"] for p in body.get("problems", []))


def assert_error(body: dict, code: str) -> None:
    assert body.get("code") == code, body
    assert code in documented_codes(), f"{code} is not documented in openapi.yaml"
    jsonschema.validate(body, OPENAPI["components"]["schemas"]["Error"])


# --- JSON bodies: one strict reader for both routes ------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "status", "code", "text"),
    [
        ("duplicate key", b'{"id": "a", "id": "b", "type": "page_view"}', 400, "duplicate_key", "'id'"),
        (
            "duplicate key deep inside",
            b'{"batch": [{"properties": {"url": "a", "url": "b"}}]}',
            400,
            "duplicate_key",
            "'url'",
        ),
        ("10,000 levels of arrays", b"[" * 10_000 + b"]" * 10_000, 400, "json_too_deep", "nested deeper"),
        ("10,000 levels of objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400, "json_too_deep", "nested"),
        ("40 levels", b"[" * 40 + b"]" * 40, 400, "json_too_deep", "32 levels"),
    ],
)
def test_strict_json_on_the_tracking_route(api, name, body, status, code, text):
    got, answer = api.post_events(body)
    assert got == status, answer
    assert_error(answer, code)
    assert text in answer["error"]
    assert api.queued() == 0


@pytest.mark.parametrize(
    ("name", "body", "status", "code", "text"),
    [
        ("duplicate key", '{"email": "a@b.com", "nps": 9, "email": "c@d.com"}', 400, "duplicate_key", "'email'"),
        ("8,000 levels (the form limit is 16 KiB)", "[" * 8_000 + "]" * 8_000, 400, "json_too_deep", "nested deeper"),
        ("not an object", "[1, 2]", 400, "not_an_object", "expected a JSON object"),
        ("malformed", '{"email": ', 400, "malformed_json", "malformed JSON"),
    ],
)
def test_strict_json_on_the_form_route(api, name, body, status, code, text):
    got, answer = api.post_form("nps-survey", body, "application/json")
    assert got == status, answer
    assert_error(answer, code)
    assert text in answer["error"]
    assert api.queued() == 0


@pytest.mark.parametrize(
    ("literal", "shown"),
    [
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("1e400", "1e400"),
        ("-1e400", "-1e400"),
        ("1" + "0" * 309, "digits"),  # above what a float holds: used to fail later, in the consumer
        ("9" * 5_000, "digits"),  # above Python's 4,300-digit limit for int(): used to be a 500
        ("9223372036854775809", "9223372036854775809"),  # 2**63 + 1
        ("1e19", "1e19"),
    ],
)
def test_numbers_outside_the_bound_are_refused_by_path(api, literal, shown):
    got, body = api.post_events(event_text(properties=f'{{"url": "https://x/pricing", "percent": {literal}}}'))
    assert got == 422, body
    assert_error(body, "invalid_events")
    assert problems(body).startswith("properties.percent: "), body
    assert shown in problems(body)
    assert "2**63" in problems(body)
    assert api.queued() == 0


def test_numbers_are_checked_in_the_profile_and_anywhere_in_a_segment_call(api):
    got, body = api.post_events(event_text(profile='{"employees": 1e400}'))
    assert got == 422 and problems(body).startswith("profile.employees: "), body
    call = {
        "type": "track",
        "messageId": "seg-n",
        "userId": "ann@acme.example",
        "event": "Page Viewed",
        "timestamp": now_iso(),
        "context": {"library": {"version": "@@v@@"}},
    }
    text = json.dumps(call).replace('"@@v@@"', "1" + "0" * 400).encode()
    got, body = api.post_events(text)
    assert got == 422 and problems(body).startswith("context.library.version: "), body
    assert api.queued() == 0


def test_numbers_at_the_bound_are_accepted_and_scored(api):
    got, body = api.post_events(
        good_event(properties={"url": "https://x/pricing", "big": 2**63, "small": -(2**63), "f": 1.5e18})
    )
    assert got == 202, body
    assert api.drain() == {"delivered": 1, "failed": 0}


def test_properties_nest_at_most_five_levels(api):
    five = {"a": {"b": {"c": {"d": {"e": 1}}}}}  # properties, a, b, c, d: five objects
    assert api.post_events(good_event(id="five", properties=five))[0] == 202
    six = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    got, body = api.post_events(good_event(id="six", properties=six))
    assert got == 422, body
    assert problems(body) == "properties.a.b.c.d.e: nested deeper than 5 levels"
    got, body = api.post_events(good_event(id="six-list", profile={"tags": [[[[["x"]]]]]}))
    assert got == 422 and problems(body) == "profile.tags[0][0][0][0]: nested deeper than 5 levels", body
    assert api.drain() == {"delivered": 1, "failed": 0}


# --- timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "1" + "0" * 400,
        "-1",
        "253402300800",  # 10000-01-01T00:00:00Z
        '"1969-12-31T23:59:59Z"',
        '"9999-12-31T23:00:00-05:00"',  # year 10000 in UTC
        '"0001-01-01T00:00:00+14:00"',
        '"' + "9" * 5000 + '"',
    ],
)
def test_timestamps_out_of_range_are_a_422_naming_the_timestamp(api, literal):
    got, body = api.post_events(event_text(timestamp=literal))
    assert got == 422, body
    assert problems(body).startswith("timestamp: "), body
    assert api.queued() == 0


# --- Segment calls --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [{"a": 1}, ["track"], 5, None])
def test_a_segment_call_type_that_is_not_text_is_a_422_for_that_item(api, kind):
    call = {"type": kind, "messageId": "m-1", "userId": "ann@acme.example", "timestamp": now_iso(), "event": "X"}
    got, body = api.post_events({"batch": [good_event(), call]})
    assert got == 422, body
    assert [p["index"] for p in body["problems"]] == [1]
    assert body["problems"][0]["error"].startswith("type: ")
    assert api.queued() == 0


# --- forms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    ["1" + "0" * 309, "9" * 5_000, "1e400", "NaN", "-Infinity", "9223372036854775809"],
)
def test_a_form_number_out_of_range_is_a_field_error(api, literal):
    body = '{"email": "ann@acme.example", "employees": ' + literal + "}"
    got, answer = api.post_form("contact-sales", body, "application/json")
    assert got == 422, answer
    assert_error(answer, "invalid_fields")
    assert set(answer["fields"]) == {"employees"}
    assert "2**63" in answer["fields"]["employees"]
    assert api.queued() == 0


@pytest.mark.parametrize("text", ["1" + "0" * 400, "9" * 5_000, "1e400", "nan", "inf", "1_000", "0x10", "12 000"])
def test_a_urlencoded_number_out_of_range_or_odd_is_a_field_error(api, text):
    got, answer = api.post_form("contact-sales", f"email=ann%40acme.example&employees={text}")
    assert got == 422, answer
    assert set(answer["fields"]) == {"employees"}


def test_an_email_that_grows_past_254_characters_when_normalised_is_a_field_error(api):
    domain = ".".join(["a" * 63, "b" * 63, "c" * 63]) + "." + "d" * 25 + ".com"
    email = "ß" * 32 + "@" + domain  # 254 as written; the local part folds to 64 "ss", 286 in all
    assert len(email) == 254
    got, answer = api.post_form("nps-survey", json.dumps({"email": email, "nps": 9}), "application/json")
    assert got == 422, answer
    assert set(answer["fields"]) == {"email"}
    assert api.queued() == 0


@pytest.mark.parametrize(
    "body",
    [
        "email=not-an-email&nps=99&website=http%3A%2F%2Fspam",
        "email=bot%40spam.example&nps=9&colour=red&website=spam",
        "nps=9&website=spam",
        "email=bot%40spam.example&nps=9&nps=10&website=spam",
    ],
)
def test_a_filled_honeypot_is_accepted_before_anything_else_is_checked(api, body):
    assert api.post_form("nps-survey", body) == (202, {"status": "accepted"})
    assert api.queued() == 0


def test_a_json_honeypot_with_an_out_of_range_number_is_still_a_bot(api):
    body = '{"email": "x", "employees": 1e400, "website": "spam"}'
    assert api.post_form("contact-sales", body, "application/json") == (202, {"status": "accepted"})
    assert api.queued() == 0


def test_form_anonymous_id_follows_the_visitor_id_rule(api):
    got, answer = api.post_form("nps-survey", "email=ann%40acme.example&nps=9&anonymous_id=a+b")
    assert got == 422 and set(answer["fields"]) == {"anonymous_id"}, answer
    got, answer = api.post_form("nps-survey", "email=ann%40acme.example&nps=9&anonymous_id=" + "x" * 201)
    assert got == 422 and set(answer["fields"]) == {"anonymous_id"}, answer


# --- signature header -----------------------------------------------------------------------------


def _valid_header(api, body: bytes) -> str:
    return signed_headers(api.stack.secret, body, int(time.time()))["x-leadscore-signature"]


@pytest.mark.parametrize(
    "header",
    [
        lambda valid: "t=\u00b2," + valid.split(",", 1)[1],  # superscript two: isdigit() but not int()
        lambda valid: "t=" + "9" * 5_000 + "," + valid.split(",", 1)[1],
        lambda valid: "t=," + valid.split(",", 1)[1],
        lambda valid: "t=\u0661\u0667\u0669," + valid.split(",", 1)[1],  # Arabic-Indic digits
        lambda valid: "t=1234567890123," + valid.split(",", 1)[1],  # 13 digits
        lambda valid: valid + ",t=1",  # t twice (the valid one first)
        lambda valid: valid + ",v1=" + "0" * 64,  # v1 twice
        lambda valid: "v1=" + "0" * 64 + "," + valid,
        lambda valid: valid.upper(),
    ],
    ids=[
        "superscript",
        "5000 digits",
        "empty t",
        "non-ASCII digits",
        "13 digits",
        "t twice",
        "v1 twice",
        "v1 twice first",
        "upper case",
    ],
)
def test_a_malformed_signature_header_is_a_401(api, header):
    body = json.dumps(good_event()).encode()
    headers = {"content-type": "application/json", "x-leadscore-signature": header(_valid_header(api, body))}
    got, answer = api.call(api.tracking, http_event("POST", "/events", body, headers))
    assert got == 401, answer
    assert_error(answer, "malformed_signature")
    assert api.queued() == 0


def test_fullwidth_digits_typed_in_a_form_are_read_as_digits(api):
    assert api.post_form("contact-sales", "email=ann%40acme.example&employees=%EF%BC%91%EF%BC%92")[0] == 202  # １２
    assert api.drain() == {"delivered": 1, "failed": 0}
    assert api.get_lead("ann@acme.example")[0] == 200


# --- identity at every door -----------------------------------------------------------------------


def test_one_lead_whichever_door_and_spelling(api):
    assert api.post_form("nps-survey", "email=%EF%BC%A1nn%40Ex%C3%A4mple.COM&nps=9")[0] == 202  # Ａnn@Exämple.COM
    assert api.post_events(good_event(id="t-1", email="ann\u200b@EXÄMPLE.com"))[0] == 202
    segment = {
        "type": "identify",
        "messageId": "s-1",
        "userId": "ANN@xn--exmple-cua.com",
        "timestamp": now_iso(),
        "traits": {"job_title": "CTO"},
    }
    assert api.post_events(segment)[0] == 202
    assert api.drain() == {"delivered": 3, "failed": 0}
    got, lead = api.get_lead("Ann@Exämple.COM")
    assert got == 200, lead
    assert lead["lead"] == "ann@xn--exmple-cua.com"
    assert api.get_lead("ann@xn--exmple-cua.com")[1] == lead


@pytest.mark.parametrize(
    "email",
    ["anon:x@y.z", "ann@[1.2.3.4]", "ann@1.2.3.4", "ann\u0000@acme.example", "an n@acme.example", "ann@localhost"],
)
def test_addresses_that_are_not_emails_are_refused_at_every_door(api, email):
    got, body = api.post_events(good_event(email=email))
    assert got == 422 and problems(body).startswith("email: "), body
    got, body = api.post_form("nps-survey", json.dumps({"email": email, "nps": 9}), "application/json")
    assert got == 422 and set(body["fields"]) == {"email"}, body
    got, body = api.get_lead(email.replace("\u0000", "%00").replace(" ", "%20"))
    assert got == 400, body
    assert_error(body, "not_an_email")
    assert api.queued() == 0


@pytest.mark.parametrize("visitor", ["a b", "x" * 201, "bjørn", "v\u0000"])
def test_anonymous_ids_outside_the_rule_are_refused_by_name(api, visitor):
    event = {k: v for k, v in good_event(anonymous_id=visitor).items() if k != "email"}
    got, body = api.post_events(event)
    assert got == 422 and problems(body).startswith("anonymous_id: "), body
    segment = {"type": "page", "messageId": "p", "anonymousId": visitor, "timestamp": now_iso()}
    got, body = api.post_events(segment)
    assert got == 422 and problems(body).startswith("anonymous_id: "), body
    assert api.queued() == 0


@pytest.mark.parametrize("event_id", ["\ud800", "id\u0000", "id\nline", "\u0085"])
def test_event_ids_that_cannot_be_queued_are_refused(api, event_id):
    got, body = api.post_events(good_event(id=event_id))
    assert got == 422 and problems(body).startswith("id: "), body
    assert api.queued() == 0


# --- error codes everywhere -----------------------------------------------------------------------


def test_every_error_body_carries_a_documented_code(api):
    body = json.dumps(good_event()).encode()
    base = http_event(
        "POST",
        "/events",
        body,
        {"content-type": "application/json", **signed_headers(api.stack.secret, body, int(time.time()))},
    )
    bad_base64 = {**base, "isBase64Encoded": True, "body": "***"}
    assert_error(api.call(api.tracking, bad_base64)[1], "bad_base64")
    assert_error(api.post_events(b"   ")[1], "body_empty")
    assert_error(api.post_events(b'{"id": "\xff"}')[1], "not_utf8")
    assert_error(api.post_events(b" " * 300_000)[1], "body_too_large")
    assert_error(api.post_events(good_event(), headers={"content-type": "text/plain"})[1], "unsupported_media_type")
    assert_error(api.post_events(good_event(), secret="wrong")[1], "bad_signature")
    assert_error(api.post_events(good_event(), at=int(time.time()) - 3600)[1], "expired_signature")
    assert_error(
        api.call(api.tracking, http_event("POST", "/events", body, {"content-type": "application/json"}))[1],
        "missing_signature",
    )
    assert_error(api.post_events(good_event(type="nope"))[1], "invalid_events")
    assert_error(api.post_form("no-such-form", "email=a%40b.com")[1], "unknown_form")
    assert_error(api.post_form("nps-survey", "nps=99")[1], "invalid_fields")
    assert_error(api.get_lead("nobody@acme.example")[1], "lead_not_found")
    assert_error(api.call(api.forms, http_event("GET", "/nowhere", None))[1], "no_such_route")
    encoded = {**base, "isBase64Encoded": True, "body": base64.b64encode(body).decode()}
    assert api.call(api.tracking, encoded)[0] == 202  # base64 itself is fine


def test_documented_422_bodies_are_what_the_api_answers(api):
    paths = OPENAPI["paths"]
    form_schema = paths["/forms/{formId}"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    events_schema = paths["/events"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    jsonschema.validate(api.post_form("nps-survey", "nps=99")[1], form_schema)
    jsonschema.validate(api.post_events({"batch": [good_event(type="nope")]})[1], events_schema)
    jsonschema.validate(api.post_events(good_event(type="nope"))[1], events_schema)


def test_a_queue_outage_is_a_503_with_a_code(api, monkeypatch):
    from leadscore.adapters.queue import QueueUnavailable
    from leadscore.handlers import runtime

    class Down:
        def send(self, *_args, **_kwargs):
            raise QueueUnavailable("down")

    monkeypatch.setattr(runtime, "queue", lambda: Down())
    got, body = api.post_events(good_event())
    assert got == 503 and body["code"] == "unavailable", body
    got, body = api.post_form("nps-survey", "email=ann%40acme.example&nps=9")
    assert got == 503 and body["code"] == "unavailable", body
