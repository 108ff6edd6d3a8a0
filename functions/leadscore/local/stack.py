"""The deployed stack on this machine: tables built from template.yaml on an AWS stand-in.

Used by the demo and by the tests: DynamoDB tables come from the template's own
AWS::DynamoDB::Table resources (never a hand-kept copy), the queue is SQS FIFO, the tracking
secret an SSM SecureString, and the handlers are called through their real Lambda entry points
with API Gateway (HTTP API v2) and SQS shaped events.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
REGION = "eu-west-1"
TABLE_ENV = {
    "LeadsTable": "LEADS_TABLE",
    "HistoryTable": "HISTORY_TABLE",
    "EventLogTable": "EVENT_LOG_TABLE",
    "AccountsTable": "ACCOUNTS_TABLE",
    "RateLimitTable": "RATE_LIMIT_TABLE",
    "AlertsTable": "ALERTS_TABLE",
    "MetricsTable": "METRICS_TABLE",
}


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML: short-form intrinsics (!Ref, !Sub...) become {tag: value}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def read_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data; a fresh copy each call, parsed again only when the file changed."""
    stat = path.stat()
    return copy.deepcopy(_parsed_template(path.resolve(), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=4)
def _parsed_template(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506 - safe loader subclass


def table_definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> CreateTable arguments (plus TimeToLiveSpecification) from the template."""
    tables = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        properties = resource["Properties"]
        definition: dict[str, Any] = {
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in properties:
                definition[key] = properties[key]
        if "StreamSpecification" in properties:  # CloudFormation implies StreamEnabled; the API wants it said
            definition["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
        if "TimeToLiveSpecification" in properties:
            definition["TimeToLiveSpecification"] = properties["TimeToLiveSpecification"]
        tables[logical_id] = definition
    return tables


def storage_settings(tables: dict[str, str], endpoint: str | None = None) -> Any:
    """Settings for the scoring tables `create_tables` made (tests, benchmarks, local tools)."""
    from ..settings import Settings

    return Settings(
        leads_table=tables["LeadsTable"],
        history_table=tables["HistoryTable"],
        event_log_table=tables["EventLogTable"],
        accounts_table=tables["AccountsTable"],
        alerts_table=tables["AlertsTable"],
        metrics_table=tables["MetricsTable"],
        dynamodb_endpoint=endpoint,
        region=REGION,
    )


def create_tables(dynamodb: Any, prefix: str = "leadscore") -> dict[str, str]:
    """Create every table of the template; returns logical id -> table name."""
    names = {}
    for logical_id, definition in table_definitions(read_template()).items():
        name = f"{prefix}-{logical_id}"
        ttl = definition.pop("TimeToLiveSpecification", None)
        dynamodb.create_table(TableName=name, **definition)
        dynamodb.get_waiter("table_exists").wait(TableName=name)
        if ttl is not None:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        names[logical_id] = name
    return names


@dataclass
class LambdaContext:
    """What Powertools reads from the Lambda context object."""

    function_name: str = "leadscore-local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:leadscore-local"
    aws_request_id: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_event(
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the Lambda integration sends it."""
    raw = body.encode() if isinstance(body, str) else body
    encoded = base64.b64encode(raw).decode() if (raw is not None and base64_body) else (raw.decode() if raw else None)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local.execute-api.localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "local",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795428000000,
        },
        "pathParameters": path_parameters or {},
        "body": encoded,
        "isBase64Encoded": base64_body,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """An SQS event source batch, built from ReceiveMessage results."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": message.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": "0",
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": "0",
                    "MessageGroupId": message.get("Attributes", {}).get("MessageGroupId", ""),
                },
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


@dataclass
class Stack:
    tables: dict[str, str]
    queue_url: str
    queue_arn: str
    secret: str
    secret_parameter: str
    event_bus: str = ""
    alert_dead_letter_queue_url: str = ""
    schedule_work_queue_url: str = ""
    rescore_queue_url: str = ""  # a rescore run's work items (FIFO, one group per scan segment)
    server_write_key: str = ""  # Segment-compatible API (/v1/*): all event types, profile traits
    browser_write_key: str = ""  # public browser key: public event types, no trusted traits
    aws_endpoint_url: str | None = None  # moto's server (leadscore serve); None: the in-process mock
    _stream_positions: dict[str, str] = field(default_factory=dict)  # shard -> next iterator

    def client(self, service: str) -> Any:
        """A boto3 client on this stack's AWS stand-in."""
        return boto3.client(service, region_name=REGION, endpoint_url=self.aws_endpoint_url)

    def alert_stream_records(self) -> list[dict[str, Any]]:
        """The alert outbox's new stream records since the last call, as Lambda receives them."""
        table = self.client("dynamodb").describe_table(TableName=self.tables["AlertsTable"])
        stream_arn = table["Table"]["LatestStreamArn"]
        streams = self.client("dynamodbstreams")
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            iterator = (
                self._stream_positions.get(shard_id)
                or streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
                    "ShardIterator"
                ]
            )
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                records.extend(
                    {**record, "eventSourceARN": stream_arn, "dynamodb": _json_ready(record["dynamodb"])}
                    for record in page["Records"]
                )
                iterator = page.get("NextShardIterator")
                if not page["Records"]:
                    break
            if iterator:
                self._stream_positions[shard_id] = iterator
        return records

    def run_daily(self, schedule: Any, at: float, max_items: int | None = None) -> dict[str, int]:
        """One daily run as AWS runs it: the scheduler's start, then every work item from its queue
        (stopping after `max_items`, to imitate a crash halfway). The ticks wait in the scoring queue."""
        from datetime import UTC, datetime

        started = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        schedule({"at": started}, LambdaContext())
        sqs = self.client("sqs")
        walked = 0
        while max_items is None or walked < max_items:
            messages = sqs.receive_message(QueueUrl=self.schedule_work_queue_url, MaxNumberOfMessages=1).get(
                "Messages", []
            )
            if not messages:
                break
            record = {"messageId": messages[0]["MessageId"], "body": messages[0]["Body"]}
            if not schedule({"Records": [record]}, LambdaContext())["batchItemFailures"]:
                sqs.delete_message(QueueUrl=self.schedule_work_queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
            walked += 1
        return {"work_items": walked}

    def run_rescore(self, rescore: Any, max_items: int | None = None) -> dict[str, Any]:
        """A rescore run as AWS runs it: the check starts it, then its work items are delivered one at a
        time (a failed one comes back), stopping after `max_items` to imitate a crash halfway."""
        started = rescore({"check": "model"}, LambdaContext())["started"]
        sqs = self.client("sqs")
        worked = failed = 0
        while max_items is None or worked + failed < max_items:
            messages = sqs.receive_message(
                QueueUrl=self.rescore_queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0
            ).get("Messages", [])
            if not messages:
                break
            record = {"messageId": messages[0]["MessageId"], "body": messages[0]["Body"]}
            if rescore({"Records": [record]}, LambdaContext())["batchItemFailures"]:
                failed += 1
                if failed > 100:
                    break  # nothing moves: leave it for inspection
                continue
            sqs.delete_message(QueueUrl=self.rescore_queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
            worked += 1
        return {"started": started, "work_items": worked, "failed": failed}

    def deliver_alerts(self, notifier: Any, batch_size: int = 10, max_rounds: int = 20) -> dict[str, int]:
        """Feed the outbox stream to the notifier as Lambda's event source does: in order, in
        batches, retrying a batch from its first reported failure, at most `max_rounds` times."""
        pending = self.alert_stream_records()
        delivered = retried = 0
        rounds = 0
        while pending and rounds < max_rounds:
            rounds += 1
            batch = pending[:batch_size]
            failures = notifier({"Records": batch}, LambdaContext())["batchItemFailures"]
            if not failures:
                delivered += len(batch)
                pending = pending[batch_size:]
                continue
            first = next(
                i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] == failures[0]["itemIdentifier"]
            )
            delivered += first
            retried += 1
            pending = pending[first:]
        return {"records": delivered, "retries": retried, "left": len(pending)}

    def drain(self, consumer: Any, max_rounds: int = 1000) -> dict[str, int]:
        """Deliver the queue to the consumer in batches of 10, as the event source mapping does."""
        sqs = self.client("sqs")
        delivered = failed = 0
        for _ in range(max_rounds):
            response = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                AttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                break
            result = consumer(sqs_event(messages, self.queue_arn), LambdaContext())
            failures = {item["itemIdentifier"] for item in result["batchItemFailures"]}
            for message in messages:
                if message["MessageId"] not in failures:
                    sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            delivered += len(messages) - len(failures)
            failed += len(failures)
            if failures and len(failures) == len(messages):
                break  # nothing moves: leave them for inspection instead of spinning
        return {"delivered": delivered, "failed": failed}


SERVER_WRITE_KEY = "local-server-write-key"
BROWSER_WRITE_KEY = "local-browser-write-key"


def provision(
    secret: str = "local-tracking-secret",
    endpoint_url: str | None = None,
    write_keys: tuple[str, str] = (SERVER_WRITE_KEY, BROWSER_WRITE_KEY),
    aws_endpoint_url: str | None = None,
) -> Stack:
    """Create the template's tables, the FIFO queue, the secret and the Segment write keys (server,
    browser); export the handlers' settings.

    `endpoint_url` is DynamoDB's alone (DynamoDB Local beside the in-process mock);
    `aws_endpoint_url` is every service's (moto's server, as `leadscore serve` runs it)."""
    endpoint_url = endpoint_url or aws_endpoint_url

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=aws_endpoint_url)

    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint_url)
    tables = create_tables(dynamodb, prefix=f"leadscore-{uuid.uuid4().hex[:8]}")
    sqs = client("sqs")
    queue_url = sqs.create_queue(
        QueueName=f"leadscore-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    parameter = "/leadscore/tracking-secret"
    client("ssm").put_parameter(Name=parameter, Value=secret, Type="SecureString", Overwrite=True)
    segment_parameters = {"server": "/leadscore/segment-server-keys", "browser": "/leadscore/segment-browser-keys"}
    for kind, key in zip(("server", "browser"), write_keys, strict=True):
        client("ssm").put_parameter(Name=segment_parameters[kind], Value=key, Type="SecureString", Overwrite=True)
    sender = "leadscore@fjordline.example"
    client("ses").verify_email_identity(EmailAddress=sender)
    bus = client("events").create_event_bus(Name=f"leadscore-{uuid.uuid4().hex[:8]}")["EventBusArn"]
    alert_dlq = sqs.create_queue(QueueName=f"leadscore-alerts-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    work_queue = sqs.create_queue(QueueName=f"leadscore-schedule-work-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    rescore_queue = sqs.create_queue(
        QueueName=f"leadscore-rescore-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )["QueueUrl"]
    environment = {TABLE_ENV[logical]: name for logical, name in tables.items() if logical in TABLE_ENV}
    environment.update(
        {
            "SENDER_ADDRESS": sender,
            "EVENT_BUS_NAME": bus.rsplit("/", 1)[-1],
            "ALERT_DEAD_LETTER_QUEUE_URL": alert_dlq,
            "SCHEDULE_WORK_QUEUE_URL": work_queue,
            "SCORING_QUEUE_URL": queue_url,
            "RESCORE_QUEUE_URL": rescore_queue,
            "TRACKING_SECRET_PARAMETER": parameter,
            "SEGMENT_SERVER_KEYS_PARAMETER": segment_parameters["server"],
            "SEGMENT_BROWSER_KEYS_PARAMETER": segment_parameters["browser"],
            "MODEL_PATH": str(ROOT / "rules"),
            "EVENT_RETENTION_DAYS": "396",
            "POWERTOOLS_SERVICE_NAME": "leadscore",
            "POWERTOOLS_METRICS_NAMESPACE": "leadscore",
        }
    )
    if endpoint_url:
        environment["DYNAMODB_ENDPOINT"] = endpoint_url
    os.environ.update(environment)
    return Stack(
        tables,
        queue_url,
        queue_arn,
        secret,
        parameter,
        environment["EVENT_BUS_NAME"],
        alert_dlq,
        work_queue,
        rescore_queue,
        server_write_key=write_keys[0],
        browser_write_key=write_keys[1],
        aws_endpoint_url=aws_endpoint_url,
    )


def _json_ready(value: Any) -> Any:
    """A stream record as Lambda delivers it: JSON (the SDK turns timestamps into datetimes)."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if hasattr(value, "timestamp"):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


@contextmanager
def local_aws() -> Iterator[None]:
    """moto in-process, with fake credentials so no real account is ever reached."""
    from moto import mock_aws

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_REGION"] = REGION
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # moto's DynamoDB Streams need it
    with mock_aws():
        yield


def signed_headers(secret: str, body: bytes, now: int) -> dict[str, str]:
    from ..ingest.tracking import sign

    return {"content-type": "application/json", "x-leadscore-signature": sign(secret, body, now)}


def basic_auth(write_key: str) -> dict[str, str]:
    """The Authorization header a Segment SDK sends: the write key as Basic user name, no password."""
    return {"authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def to_json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
