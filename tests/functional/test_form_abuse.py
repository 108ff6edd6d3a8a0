"""Someone abusing a public form, through the real handlers on moto: the measured takeovers are
closed (no account move, no borrowed browsing), and floods per email and per source are throttled."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from conftest import clear_of_window_edges

from leadscore.ingest.visitors import issue, visitor_key
from leadscore.local.stack import LambdaContext, http_event


def post_form(api, fields: dict, source_ip: str = "198.51.100.7") -> tuple[int, dict, dict]:
    event = http_event(
        "POST",
        "/forms/contact-sales",
        urlencode(fields),
        {"content-type": "application/x-www-form-urlencoded"},
        {"formId": "contact-sales"},
    )
    event["requestContext"]["http"]["sourceIp"] = source_ip
    response = api.forms.handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}


def new_visitor(api) -> str:
    status, body = api.call(api.forms, http_event("POST", "/visitors"))
    assert status == 201
    return body["visitor_id"]


def browse(api, visitor: str, pages: int) -> None:
    now = int(time.time()) - 600
    events = [
        {"id": f"{visitor[-6:]}-{i}", "type": "page_view", "anonymous_id": visitor, "timestamp": now + i,
         "properties": {"url": "https://fjordline.example/pricing"}}
        for i in range(pages)
    ]
    assert api.post_events(events)[0] == 202
    api.drain()


def score_of(api, email: str) -> float:
    status, body = api.get_lead(email)
    return body["score"] if status == 200 else 0.0


def test_visitor_ids_are_issued_signed_and_unique(api):
    first, second = new_visitor(api), new_visitor(api)
    assert first != second and first.startswith("v1.") and len(first) == 48


def test_a_form_carrying_someone_elses_unsigned_visitor_id_links_nothing(api):
    # Given an attacker browsing the pricing pages under a made-up visitor id
    browse(api, "attacker-cookie", 5)
    # When a form names a victim and carries that id
    status, _, _ = post_form(api, {"email": "victim@nordkraft.no", "anonymous_id": "attacker-cookie"})
    assert status == 202
    api.drain()
    # Then the victim is not credited with the attacker's browsing
    status, lead = api.get_lead("victim@nordkraft.no")
    assert status == 200 and "pricing-page" not in lead["breakdown"]


def test_a_forged_visitor_id_links_nothing_and_a_signed_one_links_the_browsing(api):
    genuine = new_visitor(api)
    forged = issue(visitor_key("not the deployment's secret"))
    browse(api, genuine, 3)
    browse(api, forged, 3)
    assert post_form(api, {"email": "ann@acme.example", "anonymous_id": forged})[0] == 202
    assert post_form(api, {"email": "bob@acme.example", "anonymous_id": genuine})[0] == 202
    api.drain()
    assert "pricing-page" not in api.get_lead("ann@acme.example")[1]["breakdown"]
    assert "pricing-page" in api.get_lead("bob@acme.example")[1]["breakdown"]


def test_a_form_cannot_move_a_lead_to_another_account(api):
    status, body, _ = post_form(api, {"email": "victim@nordkraft.no", "company_id": "RIVAL"})
    assert status == 422 and body["fields"] == {"company_id": "unknown field for this form"}


def test_more_than_five_posts_for_one_email_in_an_hour_are_throttled(api):
    clear_of_window_edges(3600, 600)
    answers = [post_form(api, {"email": "target@acme.example", "first_name": f"n{i}"}) for i in range(6)]
    assert [status for status, _, _ in answers] == [202] * 5 + [429]
    status, body, headers = answers[-1]
    assert body["code"] == "throttled" and int(headers["Retry-After"]) == body["retry_after"] > 0
    assert post_form(api, {"email": "someone-else@acme.example"})[0] == 202  # others are not affected


def test_more_than_sixty_posts_from_one_source_in_ten_minutes_are_throttled(api):
    clear_of_window_edges(3600, 600)
    answers = [post_form(api, {"email": f"bot{i}@acme.example"}, source_ip="203.0.113.9")[0] for i in range(61)]
    assert answers[:60] == [202] * 60 and answers[60] == 429
    assert post_form(api, {"email": "human@acme.example"}, source_ip="192.0.2.44")[0] == 202
