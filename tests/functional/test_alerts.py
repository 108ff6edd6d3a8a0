"""Alerts end to end on moto: events through the doors and the consumer, the outbox stream into
the notifier, email through SES and events on EventBridge. One email per crossing, whatever is
redelivered, retried or raced; hostile content stays text; an SES outage never touches scoring."""

from __future__ import annotations

import email
import email.policy
import json
import time
from pathlib import Path

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from leadscore.adapters.bus import SCHEMA_PATH
from leadscore.adapters.dynamodb import AlertItem
from leadscore.local.stack import REGION, LambdaContext

MODEL = """
nps: {field: nps, scale: [0, 10], detractors: [0, 6], passives: [7, 8], promoters: [9, 10]}
accounts: {aggregate: sum}
account_owners: {bigco.example: owner@sales.example}
alerts:
  lead: {threshold: 50, rearm_below: 30, notify: [sales@vendor.example], route_by: country, routes: {"NO": [nordics@vendor.example]}}
  sales_ready: {kind: lead_qualified, threshold: 50, fit_grades: [A, B], notify: [ae@vendor.example]}
  unhappy: {kind: nps_detractor, notify: [success@vendor.example]}
  account: {threshold: 120, rearm_below: 40, route_by: account_owner, notify: [key-accounts@vendor.example]}
  committee: {kind: engaged_buyers, buyers: 2, buyer_score: 30, notify: [abm@vendor.example]}
rules:
  - {id: visit, when: {event: page_view}, points: 10}
  - {id: unsubscribed, when: {event: email_unsubscribe}, points: -40}
  - {id: director, fit: {job_title: {contains: director}}, points: 30}
"""
START = int(time.time()) - 3600


@pytest.fixture
def alerting(api, tmp_path, monkeypatch):
    """The api stack running a model with every alert kind, and a notifier that does not sleep."""
    (tmp_path / "model.yaml").write_text(MODEL)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path))
    from leadscore.handlers import consumer, notifier, runtime

    runtime.reset()
    consumer.service.cache_clear()
    notifier.notifier.cache_clear()
    monkeypatch.setattr(notifier.notifier(), "sleep", lambda seconds: None)
    api.notifier = notifier
    return api


class Clock:
    def __init__(self) -> None:
        self.second = START

    def __call__(self) -> int:
        self.second += 1
        return self.second


def event(api, clock: Clock, event_id: str, type_: str, email_address: str, **extra) -> dict:
    return {"id": event_id, "type": type_, "email": email_address, "timestamp": clock(), "properties": {}, **extra}


def score(api, *events: dict) -> None:
    status, body = api.post_events(list(events))
    assert status == 202, body
    assert api.drain()["failed"] == 0


def deliver(api) -> dict:
    return api.stack.deliver_alerts(api.notifier.handler)


def sent() -> list[email.message.EmailMessage]:
    messages = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return [email.message_from_string(m.raw_data, policy=email.policy.default) for m in messages]


def sent_to(address: str) -> list[email.message.EmailMessage]:
    return [m for m in sent() if address in str(m["To"])]


def alert_items() -> dict[str, AlertItem]:
    return {item.alert_id: item for item in AlertItem.scan()}


def test_one_email_per_crossing_whatever_is_redelivered(alerting):
    api, clock = alerting, Clock()
    # Given a director who visits twice: fit 30 + 20 = 50, the lead and qualification thresholds
    identify = event(api, clock, "i1", "identify", "ann@acme.example", profile={"job_title": "Data Director"})
    visits = [event(api, clock, f"v{i}", "page_view", "ann@acme.example") for i in range(2)]
    score(api, identify, *visits)
    score(api, identify, *visits)  # the client sent everything twice
    # When the outbox stream is delivered, and then every record of it again (a redelivery)
    deliver(api)
    records = api.stack.alert_stream_records()
    api.notifier.handler({"Records": [r for r in records if r["eventName"] == "INSERT"]}, LambdaContext())
    # Then each alert sent exactly one email, to its recipients
    assert len(sent_to("sales@vendor.example")) == 1
    assert len(sent_to("ae@vendor.example")) == 1
    items = alert_items()
    assert {item.name for item in items.values()} == {"lead", "sales_ready"}
    assert all(item.status == "sent" and item.message_id for item in items.values())
    # the alert carries the event that crossed it and its time, not the processing time
    lead_alert = next(item for item in items.values() if item.name == "lead")
    assert lead_alert.event_id == "v1" and lead_alert.occurred_at == visits[1]["timestamp"]


def test_hovering_above_the_line_is_quiet_and_a_second_crossing_alerts_again(alerting):
    api, clock = alerting, Clock()
    score(api, *[event(api, clock, f"v{i}", "page_view", "bob@acme.example") for i in range(5)])  # 50
    score(api, *[event(api, clock, f"w{i}", "page_view", "bob@acme.example") for i in range(3)])  # 80: hovering
    deliver(api)
    assert len(sent_to("sales@vendor.example")) == 1
    score(api, event(api, clock, "u1", "email_unsubscribe", "bob@acme.example"))  # 40: not below 30 yet
    score(api, event(api, clock, "v9", "page_view", "bob@acme.example"))  # 50 again: still disarmed
    deliver(api)
    assert len(sent_to("sales@vendor.example")) == 1
    score(api, event(api, clock, "u2", "email_unsubscribe", "bob@acme.example"))  # 10: re-armed
    score(api, *[event(api, clock, f"x{i}", "page_view", "bob@acme.example") for i in range(4)])  # 50: crossed again
    deliver(api)
    assert len(sent_to("sales@vendor.example")) == 2


def test_nps_detractors_accounts_and_engaged_buyers_reach_their_people(alerting):
    api, clock = alerting, Clock()
    score(api, event(api, clock, "n1", "form_submit", "carl@acme.example", profile={"nps": 3}))
    score(api, event(api, clock, "n2", "form_submit", "dina@acme.example", profile={"nps": 9}))  # a promoter
    score(api, *[event(api, clock, f"a{i}", "page_view", "ann@bigco.example") for i in range(4)])  # 40
    score(api, *[event(api, clock, f"b{i}", "page_view", "bo@bigco.example") for i in range(4)])  # 40: 2 engaged
    score(api, *[event(api, clock, f"c{i}", "page_view", "cy@bigco.example") for i in range(4)])  # account 120
    deliver(api)
    detractor = sent_to("success@vendor.example")
    assert len(detractor) == 1 and "carl@acme.example" in detractor[0].get_body(preferencelist=("plain",)).get_content()
    assert len(sent_to("owner@sales.example")) == 1  # the account, routed to its owner
    assert len(sent_to("abm@vendor.example")) == 1  # two engaged buyers at bigco
    kinds = {item.kind for item in alert_items().values()}
    assert kinds == {"nps_detractor", "account_score", "engaged_buyers"}


def test_routes_pick_recipients_and_an_unknown_route_falls_back_to_the_default(alerting):
    api, clock = alerting, Clock()
    norway = event(api, clock, "p1", "identify", "per@fjord.example", profile={"country": "no"})
    nowhere = event(api, clock, "q1", "identify", "quinn@else.example", profile={"country": "ZZ"})
    score(api, norway, *[event(api, clock, f"p{i}", "page_view", "per@fjord.example") for i in range(2, 7)])
    score(api, nowhere, *[event(api, clock, f"q{i}", "page_view", "quinn@else.example") for i in range(2, 7)])
    deliver(api)
    assert len(sent_to("nordics@vendor.example")) == 1
    assert len(sent_to("sales@vendor.example")) == 1
    notes = {item.subject: item.route_note for item in alert_items().values() if item.name == "lead"}
    assert notes == {"per@fjord.example": None, "quinn@else.example": "no route for country='ZZ'"}


def test_hostile_profile_content_cannot_inject_markup_or_headers(alerting):
    api, clock = alerting, Clock()
    hostile = {"name": "<script>alert(1)</script>", "company": "Evil\r\nBcc: spy@evil.example", "job_title": "Director"}
    score(api, event(api, clock, "h1", "identify", "eve@acme.example", profile=hostile))
    score(api, *[event(api, clock, f"h{i}", "page_view", "eve@acme.example") for i in range(2, 4)])
    deliver(api)
    [message] = sent_to("sales@vendor.example")
    assert message["Bcc"] is None and "spy@evil.example" not in str(message["To"])
    assert len(message.get_all("To")) == 1
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ses_failing_three_times_then_succeeding_sends_one_email(alerting, monkeypatch):
    api, clock = alerting, Clock()
    client = api.notifier.notifier().mailer.client
    real = client.send_raw_email
    failures = {"left": 3}

    def flaky(**kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "SendRawEmail")
        return real(**kwargs)

    monkeypatch.setattr(client, "send_raw_email", flaky)
    score(api, *[event(api, clock, f"v{i}", "page_view", "fay@acme.example") for i in range(5)])
    outcome = deliver(api)
    assert outcome["retries"] == 1  # the first invocation gave up after three tries; Lambda retried
    assert len(sent_to("sales@vendor.example")) == 1
    [item] = alert_items().values()
    assert item.status == "sent" and item.attempts == 2


def test_ses_down_for_good_parks_the_alert_and_scoring_goes_on(alerting, monkeypatch):
    api, clock = alerting, Clock()
    client = api.notifier.notifier().mailer.client

    def down(**kwargs):
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "SendRawEmail")

    monkeypatch.setattr(client, "send_raw_email", down)
    score(api, *[event(api, clock, f"v{i}", "page_view", "gus@acme.example") for i in range(5)])
    deliver(api)
    [item] = alert_items().values()
    assert item.status == "failed" and "unavailable" in item.last_error
    parked = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=api.stack.alert_dead_letter_queue_url)
    assert json.loads(parked["Messages"][0]["Body"])["alert_id"] == item.alert_id
    assert sent() == []
    # scoring never noticed
    score(api, event(api, clock, "later", "page_view", "gus@acme.example"))
    status, lead = api.get_lead("gus@acme.example")
    assert status == 200 and lead["score"] == 60


def test_a_second_notifier_holding_the_claim_means_no_second_email(alerting):
    api, clock = alerting, Clock()
    score(api, *[event(api, clock, f"v{i}", "page_view", "hal@acme.example") for i in range(5)])
    [item] = alert_items().values()
    notifier = api.notifier.notifier()
    # Given another notifier has just claimed the alert (it is sending now)
    assert notifier.repository.claim_alert(item.alert_id, time.time(), 120) is not None
    # Then this one finds nothing to do
    assert notifier.deliver(item.alert_id) == "skipped"
    assert sent() == []
    # And once that claim's lease has run out (the other died mid-way), the alert goes, once
    notifier.clock = lambda: time.time() + 3600
    assert notifier.deliver(item.alert_id) == "sent"
    assert notifier.deliver(item.alert_id) == "skipped"
    assert len(sent()) == 1


def test_an_alert_that_lands_after_its_lead_was_erased_is_neither_sent_nor_kept(alerting):
    api, clock = alerting, Clock()
    score(api, *[event(api, clock, f"v{i}", "page_view", "ida@acme.example") for i in range(5)])
    [item] = alert_items().values()
    notifier = api.notifier.notifier()
    # Given the lead is erased before the notifier gets to the alert (as when the Lambda that saved
    # the lead stalled before writing the alert, and wrote it only after the erasure)
    from leadscore.service.forgetting import Forgetting

    Forgetting(notifier.repository, b"key").forget("ida@acme.example", "privacy-officer")
    item.save()
    # Then nobody is emailed about her, and the alert is gone
    assert notifier.deliver(item.alert_id) == "skipped"
    assert sent() == [] and alert_items() == {}


def test_each_alert_is_published_on_the_bus_in_the_documented_shape(alerting):
    api, clock = alerting, Clock()
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="all", EventBusName=api.stack.event_bus, EventPattern=json.dumps({"source": ["leadscore"]}))
    events.put_targets(Rule="all", EventBusName=api.stack.event_bus, Targets=[{"Id": "q", "Arn": arn}])
    score(api, event(api, clock, "i1", "identify", "ivy@acme.example", profile={"job_title": "Director", "nps": 2}))
    score(api, *[event(api, clock, f"v{i}", "page_view", "ivy@acme.example") for i in range(2)])
    deliver(api)
    schema = json.loads(Path(SCHEMA_PATH).read_text())
    received = []
    for _ in range(5):
        received += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    published = [json.loads(m["Body"]) for m in received]
    assert sorted(e["detail-type"] for e in published) == ["LeadQualified", "LeadQualified", "NpsDetractor"]
    for item in published:
        jsonschema.validate(item["detail"], schema)
    assert {e["detail"]["alert_id"] for e in published} == set(alert_items())


def test_the_alerts_command_lists_each_alert_and_its_delivery(alerting, capsys):
    from leadscore.cli.main import main

    api, clock = alerting, Clock()
    score(api, *[event(api, clock, f"v{i}", "page_view", "kim@acme.example") for i in range(5)])
    assert main(["alerts", "--status", "pending"]) == 0
    assert "kim@acme.example" in capsys.readouterr().out
    deliver(api)
    assert main(["alerts"]) == 0
    out = capsys.readouterr().out
    assert "lead_score" in out and "sent" in out and "sales@vendor.example" in out
    assert main(["alerts", "--status", "failed"]) == 0
    assert capsys.readouterr().out.strip() == "no alerts recorded with status failed"
