"""The consumer under abuse, through its Lambda entry point on moto: a flood for one lead keeps
its item bounded and leaves other leads alone; one poisonous message fails alone."""

from __future__ import annotations

import json
import uuid

import boto3

from leadscore.adapters.dynamodb import unpack_state
from leadscore.adapters.queue import message_body
from leadscore.core.events import parse_event
from leadscore.core.state import MAX_SEEN_IDS
from leadscore.local.stack import REGION, LambdaContext

ITEM_BOUND = 100 * 1024  # the README's bound for a lead item


def record(event: dict, source: str = "tracking") -> dict:
    body = message_body(parse_event(event), event, source) if "bad" not in event["id"] else json.dumps(
        {"event": event, "raw": event, "source": source}
    )
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": body, "attributes": {}, "eventSource": "aws:sqs"}


def page_view(event_id: str, email: str, second: int) -> dict:
    return {
        "id": event_id,
        "type": "page_view",
        "email": email,
        "timestamp": 1_795_000_000 + second,
        "properties": {"url": "https://fjordline.example/pricing"},
    }


def item_size(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values (strings and numbers by their length)."""
    return sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())


def test_a_flood_of_20000_events_for_one_lead_keeps_its_item_bounded(api):
    consumer = api.consumer.handler
    # Given a bot sending 20,000 distinct events for one lead, in SQS batches of 10, while others browse
    failed = 0
    for batch in range(2_000):
        records = [record(page_view(f"bot-{batch}-{i}", "bot@target.example", batch * 10 + i)) for i in range(10)]
        if batch % 200 == 0:
            records[-1] = record(page_view(f"human-{batch}", f"human{batch}@acme.example", batch * 10))
        failed += len(consumer({"Records": records}, LambdaContext())["batchItemFailures"])
    assert failed == 0
    # Then the flooded lead's item stays far under the bound, and it remembers at most MAX_SEEN_IDS ids
    table = api.stack.tables["LeadsTable"]
    item = boto3.client("dynamodb", region_name=REGION).get_item(TableName=table, Key={"lead": {"S": "bot@target.example"}})["Item"]
    assert item_size(item) < ITEM_BOUND / 4
    state = unpack_state(item["state"]["B"])
    assert len(state["seen"]) <= MAX_SEEN_IDS * 16
    # And every other lead was scored normally
    for batch in range(0, 2_000, 200):
        status, body = api.get_lead(f"human{batch}@acme.example")
        assert status == 200 and body["score"] > 0


def test_one_unscorable_message_fails_alone_and_nine_other_leads_are_scored(api):
    # Given nine innocent events of nine leads and one identify with a 401-digit integer trait,
    # queued by a door that let it through
    innocent = [record(page_view(f"ok-{i}", f"lead{i}@acme.example", i)) for i in range(9)]
    poison = record(
        {"id": "bad-1", "type": "identify", "email": "x@acme.example", "timestamp": 1_795_000_000, "profile": {"employees": 10**400}}
    )
    # When the consumer gets them in one batch
    result = api.consumer.handler({"Records": [*innocent[:4], poison, *innocent[4:]]}, LambdaContext())
    # Then only the poisonous message is reported failed; the nine are scored
    assert result["batchItemFailures"] == [{"itemIdentifier": poison["messageId"]}]
    for i in range(9):
        status, body = api.get_lead(f"lead{i}@acme.example")
        assert status == 200 and body["score"] > 0
