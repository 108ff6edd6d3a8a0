"""DELETE /leads/{email} end to end on moto: the handler erases the lead, answers counts only,
records who asked, and a second call is a 200 that deletes nothing."""

from __future__ import annotations

import json

import pytest

from leadscore.local.stack import LambdaContext, http_event

WHO = "arn:aws:iam::123456789012:user/privacy-officer"


@pytest.fixture
def forget(api):
    from leadscore.handlers import forget

    forget.forgetting.cache_clear()
    yield forget
    forget.forgetting.cache_clear()


def delete(handler, email: str) -> tuple[int, dict]:
    event = http_event("DELETE", f"/leads/{email}", None, {}, {"email": email})
    event["requestContext"]["authorizer"] = {"iam": {"userArn": WHO, "accountId": "123456789012"}}
    response = handler.handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_delete_erases_a_scored_lead_and_answers_counts_without_the_address(api, forget):
    # Given a lead scored through the doors and the queue
    status, _ = api.post_events(
        {"id": "f1", "type": "page_view", "email": "erase.me@acme.example", "timestamp": "2026-11-20T10:00:00Z",
         "properties": {"url": "https://fjordline.example/pricing"}}
    )  # fmt: skip
    assert status == 202
    api.drain()
    assert api.get_lead("erase.me@acme.example")[0] == 200
    # When it is deleted (any spelling of the address)
    status, body = delete(forget, "Erase.Me%40ACME.example")
    # Then it is gone, the answer holds counts only, and the audit record names who asked
    assert status == 200
    assert body["deleted"]["leads"] == 1 and body["deleted"]["event_log"] == 1
    assert "erase.me" not in json.dumps(body)
    assert api.get_lead("erase.me@acme.example")[0] == 404
    from leadscore.adapters.dynamodb import MetricsItem

    [audit] = list(MetricsItem.query(body["audit"]["pk"]))
    assert json.loads(audit.data)["by"] == WHO and "erase.me" not in audit.data


def test_a_second_delete_is_a_no_op_that_still_answers_200(api, forget):
    assert delete(forget, "nobody@acme.example") == (
        200,
        {"deleted": dict.fromkeys(
            ["leads", "aliases", "history", "event_log", "alerts", "velocity", "account_memberships"], 0),
         "audit": None},
    )  # fmt: skip


def test_not_an_email_is_a_400(api, forget):
    status, body = delete(forget, "not-an-email")
    assert status == 400 and body["code"] == "not_an_email"
