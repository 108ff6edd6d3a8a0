"""Accepted means scored: generated requests go through the real doors and the real consumer, and
every one the API answers 2xx for ends scored, logged or counted as a duplicate; none is a 5xx,
none dies later in the consumer."""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import urlencode

import boto3
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from leadscore.adapters.dynamodb import packed_json
from leadscore.local.stack import REGION

SERIAL = itertools.count()
NASTY_NUMBERS = [10**400, -(10**400), 2**63, 2**64, 1e308, -1e308, float("nan"), float("inf"), float("-inf"), 1e-320, -0.0]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(NASTY_NUMBERS),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["", " ", "\x00", "\u200b", "<script>alert(1)</script>", "a\r\nBcc: x@y.z", "ß" * 10]),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10
)
plain_values = st.one_of(st.text(max_size=20), st.integers(-(10**6), 10**6), st.booleans(), st.floats(-1e6, 1e6))


def mostly(valid: st.SearchStrategy, nasty: st.SearchStrategy) -> st.SearchStrategy:
    """Valid nine times out of ten, so accepted requests (what the property is about) are common."""
    return st.integers(0, 9).flatmap(lambda roll: nasty if roll == 0 else valid)


def objects(values: st.SearchStrategy) -> st.SearchStrategy:
    return st.dictionaries(st.text(max_size=8), values, max_size=4)


emails = mostly(
    st.emails(),
    st.sampled_from(
        [
            "ann@acme.example",
            "ANN@ACME.EXAMPLE",
            "ａｎｎ@acme.example",
            "ann\u200b@acme.example",
            "Straße@bücher.example",
            "anon:x@y.example",
            "x@[127.0.0.1]",
            "a\x00b@acme.example",
            ("ß" * 64) + "@acme.example",
            ("a" * 60) + "@" + ("ß" * 95) + ".example",
            "K\u212aelvin@acme.example",
        ]
    )
    | st.text(min_size=1, max_size=20).map(lambda local: f"{local}@acme.example"),
)
timestamps = mostly(
    st.just("NOW"),
    st.one_of(
        st.sampled_from(["2026-13-01T00:00:00Z", "yesterday", "", 0, -1, 1e400, 10**400, float("nan"), True, None, [], {}]),
        st.floats(),
        st.integers(),
    ),
)
any_properties = mostly(objects(mostly(plain_values, json_values)), json_values)


@st.composite
def tracking_items(draw: st.DrawFn) -> dict:
    serial = next(SERIAL)
    segment = draw(st.booleans())
    stamp = draw(timestamps)
    if stamp == "NOW":
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - draw(st.integers(0, 86_400))))
    if segment:
        item: dict = {
            "type": draw(mostly(st.sampled_from(["track", "page", "identify"]), json_values)),
            "messageId": draw(mostly(st.just(f"m-{serial}"), json_values)),
            "timestamp": stamp,
            "event": draw(mostly(st.sampled_from(["Page Viewed", "File Downloaded", "Video Content Playing"]), st.just("Custom Thing"))),
            "properties": draw(any_properties),
            "traits": {"email": draw(emails), **draw(objects(mostly(plain_values, json_values)))},
        }
        if draw(st.booleans()):
            item["anonymousId"] = draw(mostly(st.just(f"visitor-{serial}"), json_values))
        return item
    item = {
        "id": draw(mostly(st.just(f"e-{serial}"), json_values)),
        "type": draw(mostly(st.sampled_from(["page_view", "download", "video_play", "identify", "form_submit"]), st.just("nope"))),
        "timestamp": stamp,
        "properties": draw(any_properties),
    }
    if draw(st.booleans()):
        item["email"] = draw(emails)
    else:
        item["anonymous_id"] = draw(mostly(st.just(f"visitor-{serial}"), json_values))
    if draw(st.booleans()):
        item["profile"] = draw(any_properties)
    return item


def logged_ids(api) -> set[str]:
    """Every event id in the event log: its items, and the records still waiting in lead items."""
    client = boto3.client("dynamodb", region_name=REGION)
    ids: set[str] = set()
    for page in client.get_paginator("scan").paginate(TableName=api.stack.tables["EventLogTable"]):
        for item in page["Items"]:
            ids.update(entry["id"] for entry in json.loads(packed_json(item["events"])))
    for page in client.get_paginator("scan").paginate(TableName=api.stack.tables["LeadsTable"]):
        for item in page["Items"]:
            if "pending" in item:
                records = json.loads(packed_json(item["pending"]))["log"]
                ids.update(entry["id"] for record in records for entry in record["entries"])
    return ids


def drain_cleanly(api) -> None:
    outcome = api.drain()
    assert outcome["failed"] == 0, "an accepted event failed in the consumer"


def dumps(value) -> str:
    return json.dumps(value)  # NaN and Infinity are written as their JavaScript tokens, as a client might


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(tracking_items(), min_size=1, max_size=3), wrap=st.booleans())
def test_every_accepted_tracking_event_is_scored_logged_or_a_duplicate(api, batch, wrap):
    payload = {"batch": batch} if wrap else batch
    status, body = api.post_events(dumps(payload).encode())
    event(f"tracking answered {status}")
    assert status < 500, body
    assert "code" in body or status == 202
    if status != 202:
        assert api.queued() == 0  # refused means nothing queued: all or nothing
        return
    drain_cleanly(api)
    ids = logged_ids(api)
    for item in batch:
        event_id = item.get("messageId", item.get("id"))
        assert event_id in ids, f"accepted but neither scored nor logged: {item!r}"


form_values = st.one_of(json_values, st.text(max_size=40), st.sampled_from(["1e309", "9" * 5000, "NaN", "-0", "10"]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    email=emails,
    fields=st.dictionaries(
        st.sampled_from(["first_name", "company", "job_title", "country", "employees", "budget", "authority", "timing"]),
        form_values,
        max_size=5,
    ),
    as_json=st.booleans(),
)
def test_every_accepted_form_is_scored_into_its_lead(api, email, fields, as_json):
    data = {"email": email, **fields}
    if as_json:
        status, body = api.post_form("contact-sales", dumps(data), "application/json")
    else:
        flat = {k: v if isinstance(v, str) else dumps(v) for k, v in data.items()}
        status, body = api.post_form("contact-sales", urlencode(flat))
    event(f"form answered {status}")
    assert status < 500, body
    if status != 202:
        assert "code" in body and api.queued() == 0
        return
    drain_cleanly(api)
    assert logged_ids(api), "an accepted form was not logged"
