"""The daily schedule: EventBridge Scheduler starts a run (and the velocity report goes out), its
work items (SQS) walk the due leads.

The run's time is the schedule's own (`<aws.scheduler.scheduled-time>` in the payload), so a
retried or repeated invocation of the same run queues the same ticks, which SQS deduplicates and
the consumer applies idempotently.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.dynamodb import LeadRepository
from ..adapters.mail import SesMailer
from ..adapters.metrics import MetricsRepository
from ..adapters.queue import ScoringQueue
from ..core.events import parse_timestamp
from ..service.decaying import DueLeadsWalker, WorkItem, WorkQueue
from ..service.reporting import VelocityReporting
from ..service.scoring import load_compiled_model
from ..settings import STORAGE, Settings
from .common import logger, metrics


@cache
def walker() -> DueLeadsWalker:
    settings = Settings.from_env(required=(*STORAGE, "scoring_queue_url", "schedule_work_queue_url"))
    sqs = boto3.client("sqs", region_name=settings.region)
    return DueLeadsWalker(
        LeadRepository(settings),
        ScoringQueue(settings.scoring_queue_url, sqs),
        WorkQueue(settings.schedule_work_queue_url, sqs),
    )


@cache
def reporting() -> VelocityReporting:
    settings = Settings.from_env(required=(*STORAGE, "sender_address"))
    return VelocityReporting(
        MetricsRepository(settings),
        load_compiled_model(settings),
        SesMailer(settings.region, outbox_dir=settings.outbox_dir or None),
        settings.sender_address,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if records is None:  # the scheduler starts a run
        at = parse_timestamp(event["at"])
        shards = walker().start(at)
        logger.info("daily run started", extra={"at": event["at"], "work_items": shards})
        report = reporting().run(at)  # yesterday's figures are complete: decay ticks only touch today
        logger.info("velocity report", extra=report)
        return {"started": shards, **report}
    failures = []
    ticks = 0
    for record in records:
        try:
            ticks += walker().walk(WorkItem.from_json(record["body"]))
        except Exception:  # noqa: BLE001 - retried by SQS, then parked in the work queue's DLQ
            logger.exception("work item failed", extra={"message_id": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
    metrics.add_metric(name="ScheduleTicks", unit=MetricUnit.Count, value=ticks)
    return {"batchItemFailures": failures}
