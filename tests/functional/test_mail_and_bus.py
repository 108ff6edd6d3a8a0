"""The alert notifier's adapters on moto: SES mail (v1 SendRawEmail) and EventBridge events.

Sent mail is read back from moto's SES backend (the test's view only); events are read back
from an SQS queue that a rule on the bus targets, as a subscriber would receive them, and
their `detail` is checked against the published contract, schemas/events/alert-v1.schema.json.
Error translation uses botocore's Stubber, so no request leaves the process.
"""

from __future__ import annotations

import copy
import email
import email.policy
import json
import math
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from leadscore.adapters.bus import (
    ALERT_DETAIL_TYPES,
    ALERT_SCHEMA_VERSION,
    SCHEMA_PATH,
    BusUnavailable,
    EventPublisher,
)
from leadscore.adapters.mail import MailRejected, MailUnavailable, SesMailer, safe_name
from leadscore.local.stack import REGION, local_aws

SENDER = "alerts@leadscore.example"
RECIPIENTS = ["sales@fjordline.example", "ase@fjordline.example"]
HTML = '<html><body><h1>Ann is sales ready</h1><p>Score 105 &ge; 100 – <a href="https://crm.example/ann">open</a></p></body></html>'
TEXT = "Ann is sales ready\nScore 105 >= 100 – https://crm.example/ann"


def alert_message(html: bool = True) -> bytes:
    """A multipart/alternative alert (text + HTML, non-ASCII in both), as the notifier builds it."""
    message = EmailMessage()
    message["From"] = f"Leadscore <{SENDER}>"
    message["To"] = "sales@fjordline.example, Åse Berg <ase@fjordline.example>"  # encoded-word in the header
    message["Subject"] = "Lead qualified: ann@acme.example (105)"
    message.set_content(TEXT)
    if html:
        message.add_alternative(HTML, subtype="html")
    return message.as_bytes(policy=email.policy.SMTP)


@pytest.fixture
def aws():
    with local_aws():
        yield


@pytest.fixture
def ses(aws):
    client = boto3.client("ses", region_name=REGION)
    client.verify_email_identity(EmailAddress=SENDER)
    return client


def sent_messages() -> list[Any]:
    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


# --- SesMailer on moto ---------------------------------------------------------------------


def test_a_mime_message_is_sent_as_is_and_its_message_id_returned(ses, tmp_path):
    raw = alert_message()
    message_id = SesMailer(REGION, client=ses).send(raw, SENDER, RECIPIENTS)

    [recorded] = sent_messages()
    assert message_id and recorded.id == message_id
    assert recorded.source == SENDER
    assert recorded.raw_data.encode("utf-8") == raw  # byte for byte what the caller built
    assert set(RECIPIENTS) <= set(recorded.destinations)
    parsed = email.message_from_string(recorded.raw_data, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_body(preferencelist=("html",)).get_content().strip() == HTML
    assert not list(tmp_path.iterdir())  # no outbox unless asked for


def test_the_outbox_keeps_the_eml_and_the_decoded_html(ses, tmp_path):
    outbox = tmp_path / "outbox" / "mail"  # created on first use
    mailer = SesMailer(REGION, outbox_dir=str(outbox))  # builds its own client, on moto

    raw = alert_message()
    message_id = mailer.send(raw, SENDER, RECIPIENTS)
    name = safe_name(message_id)
    assert (outbox / f"{name}.eml").read_bytes() == raw
    assert (outbox / f"{name}.html").read_text(encoding="utf-8").strip() == HTML

    text_only = mailer.send(alert_message(html=False), SENDER, RECIPIENTS)
    assert (outbox / f"{safe_name(text_only)}.eml").exists()
    assert not (outbox / f"{safe_name(text_only)}.html").exists()
    assert len(sent_messages()) == 2


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [("0102018c-abc.def_1", "0102018c-abc.def_1"), ("../../etc/passwd", "_.._etc_passwd"), ("a b/c\\d:e", "a_b_c_d_e")],
)
def test_outbox_file_names_never_leave_the_folder(message_id, expected):
    assert safe_name(message_id) == expected


def test_an_unverified_sender_is_rejected_for_good(ses):
    with pytest.raises(MailRejected, match="MessageRejected"):
        SesMailer(REGION, client=ses).send(alert_message(), "someone@unverified.example", RECIPIENTS)
    assert sent_messages() == []


def test_an_invalid_recipient_is_rejected_for_good(ses):
    with pytest.raises(MailRejected, match="InvalidParameterValue"):
        SesMailer(REGION, client=ses).send(alert_message(), SENDER, ["not an address"])


def test_a_message_needs_recipients(ses):
    with pytest.raises(ValueError, match="recipient"):
        SesMailer(REGION, client=ses).send(alert_message(), SENDER, [])


# --- SesMailer error translation (Stubber: nothing leaves the process) ---------------------


def stubbed(service: str, **config: Any) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION, config=Config(**config) if config else None)
    return client, Stubber(client)


def test_the_configuration_set_is_sent_only_when_given():
    client, stubber = stubbed("ses")
    raw = alert_message()
    base = {"Source": SENDER, "Destinations": RECIPIENTS, "RawMessage": {"Data": raw}}
    stubber.add_response("send_raw_email", {"MessageId": "m-1"}, base)
    stubber.add_response("send_raw_email", {"MessageId": "m-2"}, {**base, "ConfigurationSetName": "alerts"})
    with stubber:
        mailer = SesMailer(REGION, client=client)
        assert mailer.send(raw, SENDER, RECIPIENTS) == "m-1"
        assert mailer.send(raw, SENDER, RECIPIENTS, configuration_set="alerts") == "m-2"
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttling", 400, MailUnavailable),
        ("ThrottlingException", 400, MailUnavailable),
        ("ServiceUnavailable", 503, MailUnavailable),
        ("InternalFailure", 500, MailUnavailable),
        ("SomethingNew", 500, MailUnavailable),  # any 5xx
        ("MessageRejected", 400, MailRejected),
        ("MailFromDomainNotVerifiedException", 400, MailRejected),
        ("ConfigurationSetDoesNotExist", 400, MailRejected),
        ("InvalidParameterValue", 400, MailRejected),
        ("AccessDenied", 403, MailRejected),  # any other 4xx
    ],
)
def test_ses_errors_become_retry_or_give_up(code, status, expected):
    client, stubber = stubbed("ses")
    stubber.add_client_error("send_raw_email", service_error_code=code, service_message="no", http_status_code=status)
    with stubber, pytest.raises(expected, match=code):
        SesMailer(REGION, client=client).send(alert_message(), SENDER, RECIPIENTS)


def test_an_unreachable_ses_is_unavailable():
    client, _ = stubbed("ses", retries={"total_max_attempts": 1})

    def refuse(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com")

    client.meta.events.register("before-send.ses.SendRawEmail", refuse)
    with pytest.raises(MailUnavailable, match="EndpointConnectionError"):
        SesMailer(REGION, client=client).send(alert_message(), SENDER, RECIPIENTS)


# --- The event contract --------------------------------------------------------------------


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


LEAD = {
    "schema_version": "1",
    "alert_id": "lead#ann@acme.example#evt-0042",
    "alert": "sales_ready",
    "kind": "lead_qualified",
    "subject": {"type": "lead", "id": "ann@acme.example"},
    "score": 105.0,
    "threshold": 100.0,
    "stage": "sales_ready",
    "fit_grade": "A",
    "account": "acme.example",
    "engaged_buyers": None,
    "nps": None,
    "event_id": "evt-0042",
    "occurred_at": "2026-12-03T14:05:00Z",
    "model_version": "3f2a9c1b",
    "recipients": ["sales@fjordline.example"],
}
ACCOUNT = {
    **LEAD,
    "alert_id": "account#acme.example#evt-0043",
    "subject": {"type": "account", "id": "acme.example"},
    "stage": None,
    "fit_grade": None,
    "event_id": "evt-0043",
}
DETAILS = {
    "lead_score": {**LEAD, "kind": "lead_score", "alert": "hot_lead", "fit_grade": None},
    "lead_qualified": LEAD,
    "account_score": {**ACCOUNT, "kind": "account_score", "alert": "hot_account", "score": 310.5, "threshold": 300},
    "engaged_buyers": {
        **ACCOUNT,
        "kind": "engaged_buyers",
        "alert": "buying_committee",
        "engaged_buyers": 4,
        "threshold": 3,
        "score": 4,
    },
    "nps_detractor": {
        **LEAD,
        "kind": "nps_detractor",
        "alert": "detractor",
        "nps": 3,
        "threshold": None,
        "occurred_at": "2026-12-03T14:05:00.250Z",
        "recipients": [],
    },
}


def test_the_schema_is_a_valid_2020_12_schema_and_its_example_passes():
    document = schema()
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["properties"]["schema_version"]["const"] == ALERT_SCHEMA_VERSION
    assert set(document["required"]) == set(document["properties"]) == set(LEAD)
    assert set(document["properties"]["kind"]["enum"]) == set(ALERT_DETAIL_TYPES)
    for example in document["examples"]:
        validator().validate(example)
    for detail in DETAILS.values():
        validator().validate(detail)


@pytest.mark.parametrize("key", sorted(LEAD))
def test_a_detail_missing_a_key_is_refused(key):
    detail = {k: v for k, v in LEAD.items() if k != key}
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(detail)


def test_a_detail_with_an_extra_key_is_refused():
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        validator().validate({**LEAD, "email_body": "<html>"})
    with pytest.raises(jsonschema.ValidationError):
        validator().validate({**LEAD, "subject": {"type": "lead", "id": "ann@acme.example", "name": "Ann"}})


@pytest.mark.parametrize(
    "change",
    [
        {"schema_version": "2"},
        {"kind": "lead_scored"},
        {"occurred_at": "2026-12-03T15:05:00+01:00"},  # UTC only
        {"occurred_at": "2026-13-03T14:05:00Z"},
        {"engaged_buyers": 4},  # only for engaged_buyers
        {"nps": 3},  # only for nps_detractor
        {"threshold": None},  # only nps_detractor may lack one
        {"subject": {"type": "account", "id": "acme.example"}},  # lead kinds are about a lead
        {"recipients": ["not an address"]},
    ],
)
def test_a_detail_that_breaks_the_contract_is_refused(change):
    with pytest.raises(jsonschema.ValidationError):
        validator().validate({**LEAD, **change})


def test_kind_specific_fields_are_required_for_their_kind():
    with pytest.raises(jsonschema.ValidationError):
        validator().validate({**DETAILS["engaged_buyers"], "engaged_buyers": None})
    with pytest.raises(jsonschema.ValidationError):
        validator().validate({**DETAILS["nps_detractor"], "nps": None})
    with pytest.raises(jsonschema.ValidationError):
        validator().validate({**DETAILS["account_score"], "subject": {"type": "lead", "id": "ann@acme.example"}})


# --- EventPublisher on moto ----------------------------------------------------------------


@pytest.fixture
def bus(aws):
    """A bus whose rule on `source: leadscore` forwards every event to an SQS queue, as a subscriber's would."""
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name="leadscore-alerts")
    queue_url = sqs.create_queue(QueueName="alert-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="leadscore-alerts-to-subscriber",
        EventBusName="leadscore-alerts",
        EventPattern=json.dumps({"source": ["leadscore"]}),
    )
    events.put_targets(
        Rule="leadscore-alerts-to-subscriber",
        EventBusName="leadscore-alerts",
        Targets=[{"Id": "subscriber", "Arn": queue_arn}],
    )
    return queue_url


def delivered(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_one_event_per_kind_reaches_a_subscriber_and_matches_the_contract(bus):
    publisher = EventPublisher("leadscore-alerts", REGION)
    ids = {}
    for kind, detail in DETAILS.items():
        subject = detail["subject"]
        ids[kind] = publisher.publish(
            ALERT_DETAIL_TYPES[kind], detail, resources=[f"{subject['type']}/{subject['id']}"]
        )

    events = {event["id"]: event for event in delivered(bus)}
    assert set(events) == set(ids.values())
    for kind, event_id in ids.items():
        event = events[event_id]
        assert event["source"] == "leadscore"
        assert event["detail-type"] == ALERT_DETAIL_TYPES[kind]
        assert event["resources"] == [f"{DETAILS[kind]['subject']['type']}/{DETAILS[kind]['subject']['id']}"]
        validator().validate(event["detail"])
        assert event["detail"] == DETAILS[kind]


def test_events_from_another_source_do_not_reach_the_subscriber(bus):
    EventPublisher("leadscore-alerts", REGION, source="someone-else").publish("LeadQualified", LEAD)
    assert delivered(bus) == []


def test_the_detail_is_compact_json():
    client, stubber = stubbed("events")
    entry = {
        "Source": "leadscore",
        "DetailType": "LeadQualified",
        "Detail": json.dumps(LEAD, separators=(",", ":")),
        "EventBusName": "leadscore-alerts",
    }
    stubber.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}, {"Entries": [entry]})
    with stubber:
        assert EventPublisher("leadscore-alerts", REGION, client=client).publish("LeadQualified", LEAD) == "e-1"
    stubber.assert_no_pending_responses()  # the request matched `entry` exactly, compact separators included


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_before_sending(bus, value):
    with pytest.raises(ValueError):
        EventPublisher("leadscore-alerts", REGION).publish("LeadQualified", {**LEAD, "score": value})
    assert delivered(bus) == []


def test_an_event_over_256_kb_is_refused_before_sending(bus):
    publisher = EventPublisher("leadscore-alerts", REGION)
    with pytest.raises(ValueError, match="bytes"):
        publisher.publish("LeadQualified", {**LEAD, "alert": "x" * (256 * 1024)})
    assert delivered(bus) == []


def test_a_failed_entry_is_bus_unavailable():
    client, stubber = stubbed("events")
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}]},
    )
    with stubber, pytest.raises(BusUnavailable, match="ThrottlingException"):
        EventPublisher("leadscore-alerts", REGION, client=client).publish("LeadQualified", copy.deepcopy(LEAD))


def test_an_eventbridge_error_is_bus_unavailable(aws):
    client, stubber = stubbed("events")
    stubber.add_client_error("put_events", service_error_code="InternalException", http_status_code=500)
    with stubber, pytest.raises(BusUnavailable, match="InternalException"):
        EventPublisher("leadscore-alerts", REGION, client=client).publish("LeadQualified", LEAD)
    with pytest.raises(BusUnavailable, match="ResourceNotFoundException"):  # on moto: no such bus
        EventPublisher("no-such-bus", REGION).publish("LeadQualified", LEAD)


def test_the_schema_path_is_the_repository_file():
    assert Path(__file__).resolve().parents[2] / "schemas" / "events" / "alert-v1.schema.json" == SCHEMA_PATH
    assert SCHEMA_PATH.is_file()
