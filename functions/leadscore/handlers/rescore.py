"""Rescore on deploy: the scheduled check starts a run when the deployed model changed; the run's
work items (SQS FIFO, one group per scan segment) each rescore one page of leads."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.dynamodb import LeadRepository
from ..adapters.queue import RescoreQueue
from ..adapters.runs import RescoreRuns
from ..service.rescoring import SEGMENTS, Rescoring
from ..service.scoring import build_service_from_env
from ..settings import STORAGE, Settings
from .common import logger, metrics


@cache
def rescoring() -> Rescoring:
    settings = Settings.from_env(required=(*STORAGE, "rescore_queue_url"))
    return Rescoring(
        LeadRepository(settings),
        RescoreRuns(settings),
        RescoreQueue(settings.rescore_queue_url, boto3.client("sqs", region_name=settings.region)),
        build_service_from_env(),
        segments=int(os.environ.get("RESCORE_SEGMENTS") or SEGMENTS),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if records is None:  # the scheduled check (or an operator's invoke right after a deploy)
        run = rescoring().start()
        if run is not None:
            logger.info("rescore started", extra={"run": run, "segments": rescoring().segments})
        return {"started": run, "progress": rescoring().progress()}
    failures = []
    rescored = 0
    for record in records:
        try:
            page = rescoring().work(json.loads(record["body"]))
            rescored += page.rescored
            if page.done:
                logger.info("rescore segment done", extra={"work": record["body"][:200]})
        except Exception:  # noqa: BLE001 - retried by SQS, then parked in the run's dead-letter queue
            logger.exception("rescore page failed", extra={"message_id": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
    metrics.add_metric(name="LeadsRescored", unit=MetricUnit.Count, value=rescored)
    return {"batchItemFailures": failures}
