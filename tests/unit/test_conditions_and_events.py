"""Conditions (one operator at a time), the event format, and account helpers."""

from __future__ import annotations

import pytest

from leadscore.core.accounts import account_key, aggregate, crossing
from leadscore.core.events import EventError, event_to_json, parse_event
from leadscore.core.matchers import compile_condition
from leadscore.core.spec import AccountsSpec, Operators


def check(condition, value) -> bool:
    test, absent_matches = compile_condition(condition)
    return absent_matches if value is None else test(value)


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ("download", "Download", True),  # text ignores case
        ("download", "downloads", False),
        (10, 10.0, True),
        (10, "10", True),  # numbers written as text count
        (True, True, True),
        (True, "true", True),
        (["a", "b"], "B", True),  # a list means any of
        (["a", "b"], "c", False),
        (["a", 3], 3, True),
        ("whitepaper-*", "WhitePaper-AI", True),  # a plain value with * is a wildcard
        ("whitepaper-*", "ebook-ai", False),
        (["*/pricing", "*/pricing/*"], "https://x/pricing/team", True),
        (Operators(equals="x"), "X", True),
        (Operators(any_of=["x", "y"]), "y", True),
        (Operators(**{"not": "x"}), "y", True),
        (Operators(**{"not": ["x", "y"]}), "y", False),
        (Operators(glob="*/blog/*"), "https://a/blog/b", True),
        (Operators(glob=["*.pdf", "*.zip"]), "a.ZIP", True),
        (Operators(glob="*/blog/*"), 12, False),
        (Operators(regex="/docs/(sso|audit)"), "https://a/docs/sso/x", True),
        (Operators(regex="^Director$"), "director", False),  # regexes are as written
        (Operators(regex="(?i)^Director$"), "director", True),
        (Operators(contains=["director", "head of"]), "Head of Data", True),
        (Operators(contains="vp"), "VP Sales", True),
        (Operators(contains="vp"), "Analyst", False),
        (Operators(min=50), 50, True),
        (Operators(min=50), "75", True),
        (Operators(min=50), 49.9, False),
        (Operators(min=50, max=60), 61, False),
        (Operators(max=10), "n/a", False),
        (Operators(max=10), True, False),  # booleans are not numbers
        (Operators(domain="acme.com"), "ann@ACME.com", True),
        (Operators(domain="acme.com"), "ann@eu.acme.com", True),  # subdomains too
        (Operators(domain="acme.com"), "ann@notacme.com", False),
        (Operators(domain=["a.com", "b.com"]), "x@b.com", True),
        (Operators(domain="acme.com"), "acme.com", False),
        (Operators(exists=True), "x", True),
        (Operators(exists=True), None, False),
        (Operators(exists=False), None, True),
        (Operators(exists=False), "x", False),
        (Operators(contains="data", **{"not": "data intern"}), "Data Engineer", True),  # operators AND
        (Operators(contains="data", **{"not": "data intern"}), "Data Intern", False),
        ("download", None, False),  # an absent field matches nothing but exists: false
    ],
)
def test_condition(condition, value, expected):
    assert check(condition, value) is expected


GOOD = {"id": "e1", "type": "download", "email": " Ann@Acme.COM ", "timestamp": "2026-10-01T10:00:00Z"}


def test_parse_event_normalises_the_email_and_reads_iso_time():
    parsed = parse_event({**GOOD, "properties": {"asset": "wp"}, "profile": {"job_title": "CTO"}})
    assert parsed.lead == "ann@acme.com"
    assert parsed.ts == 1790848800.0
    assert parsed.properties == {"asset": "wp"} and parsed.profile == {"job_title": "CTO"}


def test_parse_event_keys_anonymous_visitors_apart():
    parsed = parse_event({"id": "e", "type": "page_view", "anonymous_id": "a-1", "timestamp": 1790848800})
    assert parsed.lead == "anon:a-1"
    assert event_to_json(parsed)["anonymous_id"] == "a-1"


def test_event_round_trips_through_json():
    parsed = parse_event({**GOOD, "properties": {"asset": "wp"}})
    assert parse_event(event_to_json(parsed)) == parsed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": ""}, "id: expected a non-empty text of at most 200 characters"),
        ({"id": "x" * 201}, "id: expected a non-empty text of at most 200 characters"),
        ({"type": 5}, "type: expected an event type such as page_view or download"),
        ({"email": "not-an-email"}, "email: 'not-an-email' is not an email address"),
        ({"email": None}, "email or anonymous_id: one of them is needed to know whose event it is"),
        ({"timestamp": "yesterday"}, "timestamp: 'yesterday' is not an ISO 8601 time like 2026-11-02T10:00:00Z"),
        ({"timestamp": True}, "timestamp: expected an ISO 8601 time like 2026-11-02T10:00:00Z"),
        ({"properties": [1]}, "properties: expected a JSON object"),
        ({"profile": "cto"}, "profile: expected a JSON object"),
        ({"colour": "red"}, "unknown field(s): colour; put event details under `properties`"),
    ],
)
def test_parse_event_names_the_bad_field(change, message):
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(EventError) as error:
        parse_event(data)
    assert str(error.value) == message


def test_parse_event_rejects_unknown_types_when_told_the_known_ones():
    with pytest.raises(EventError, match="type: unknown event type 'dowload'"):
        parse_event({**GOOD, "type": "dowload"}, known_types=["download"])


def test_parse_event_needs_a_timestamp_and_an_object():
    with pytest.raises(EventError, match="timestamp: missing"):
        parse_event({k: v for k, v in GOOD.items() if k != "timestamp"})
    with pytest.raises(EventError, match="an event is a JSON object"):
        parse_event(["not", "an", "object"])


def test_account_key_prefers_an_explicit_company_id_then_the_email_domain():
    spec = AccountsSpec()
    assert account_key({"email": "ann@acme.com", "company_id": " ACME-42 "}, spec) == "id:acme-42"
    assert account_key({"email": "ann@Acme.com"}, spec) == "acme.com"
    assert account_key({"email": "ann@gmail.com"}, spec) is None
    only_domain = AccountsSpec(match_by=["email_domain"])
    assert account_key({"email": "ann@acme.com", "company_id": "x"}, only_domain) == "acme.com"


@pytest.mark.parametrize(
    ("how", "expected"),
    [({"aggregate": "sum"}, 100), ({"aggregate": "max"}, 50), ({"aggregate": "mean_of_top", "top": 2}, 45)],
)
def test_account_score_aggregates_its_buyers(how, expected):
    assert aggregate([50, 40, 10], AccountsSpec(**how)) == expected
    assert aggregate([], AccountsSpec(**how)) == 0


def test_crossing_fires_once_and_rearms_below_the_rearm_level():
    armed = True
    fired = []
    for score in [10, 95, 120, 130, 90, 75, 110]:
        alert, armed = crossing(armed, score, threshold=100, rearm_below=80)
        fired.append(alert)
    assert fired == [False, False, True, False, False, False, True]


@pytest.mark.parametrize(
    "timestamp",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        10**400,  # float() of it overflows
        -1,
        253402300800,  # 10000-01-01T00:00:00Z
        "1969-12-31T23:59:59Z",
        "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+14:00",
        "9" * 5000,
    ],
)
def test_timestamps_outside_1970_to_9999_name_the_timestamp(timestamp):
    with pytest.raises(EventError, match="^timestamp: "):
        parse_event({**GOOD, "timestamp": timestamp})


def test_timestamps_at_the_ends_of_the_range_are_read():
    assert parse_event({**GOOD, "timestamp": 0}).ts == 0.0
    assert parse_event({**GOOD, "timestamp": "9999-12-31T23:59:59Z"}).ts == 253402300799.0
    assert parse_event({**GOOD, "timestamp": 253402300799.5}).ts == 253402300799.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"properties": {"percent": float("nan")}}, "properties.percent: nan is not a finite number"),
        ({"properties": {"percent": float("-inf")}}, "properties.percent: -inf is not a finite number"),
        ({"profile": {"employees": 10**309}}, "profile.employees: an integer of 310 digits is out of range"),
        ({"profile": {"employees": 10**5000}}, "profile.employees: an integer of 5001 digits is out of range"),
        ({"properties": {"n": 2**63 + 1}}, "properties.n: 9223372036854775809 is out of range"),
        ({"properties": {"n": -1e300}}, "properties.n: -1e+300 is out of range"),
        ({"properties": {"a": [1, {"b": float("nan")}]}}, "properties.a[1].b: nan is not a finite number"),
        ({"properties": {"a": {"b": {"c": {"d": {"e": {}}}}}}}, "properties.a.b.c.d.e: nested deeper than 5 levels"),
    ],
)
def test_parse_event_refuses_numbers_a_score_cannot_hold_anywhere_in_properties_and_profile(change, message):
    # parse_event is what the consumer runs: a message that bypassed the door is refused too
    with pytest.raises(EventError) as error:
        parse_event({**GOOD, **change})
    assert str(error.value).startswith(message)
    assert "2**63" in str(error.value) or "nested" in message


def test_numbers_at_the_bound_are_kept_as_they_are():
    values = {"big": 2**63, "small": -(2**63), "zero": -0.0, "float": 9.2e18, "flag": True}
    assert parse_event({**GOOD, "properties": values}).properties == values
