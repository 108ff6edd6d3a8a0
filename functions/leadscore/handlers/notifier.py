"""The alert notifier: reads new alerts from the outbox table's stream and delivers each one.

Records that could not be delivered yet are reported in `batchItemFailures`, so Lambda retries
them (and the records after them in the same shard) without repeating the ones that went.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.bus import EventPublisher
from ..adapters.dynamodb import LeadRepository
from ..adapters.mail import SesMailer
from ..service.notifying import DeadLetters, Delivery, Notifier, Retry
from ..service.scoring import load_compiled_model
from ..settings import STORAGE, Settings
from .common import logger, mask_email, metrics


@cache
def notifier() -> Notifier:
    settings = Settings.from_env(required=(*STORAGE, "sender_address", "alert_dead_letter_queue_url"))
    return Notifier(
        LeadRepository(settings),
        load_compiled_model(settings),
        SesMailer(settings.region, outbox_dir=settings.outbox_dir or None),
        Delivery(settings.sender_address, settings.ses_configuration_set or None, settings.crm_url_template or None),
        DeadLetters(settings.alert_dead_letter_queue_url, boto3.client("sqs", region_name=settings.region)),
        EventPublisher(settings.event_bus_name, settings.region) if settings.event_bus_name else None,
    )


def _alert_id(record: dict[str, Any]) -> str | None:
    if record.get("eventName") != "INSERT":
        return None  # claims and results are MODIFY records of alerts already handled
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    return (keys.get("alert_id") or {}).get("S")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        alert_id = _alert_id(record)
        if alert_id is None:
            continue
        sequence = (record.get("dynamodb") or {}).get("SequenceNumber", "")
        try:
            outcome = notifier().deliver(alert_id)
        except Retry as error:
            logger.warning("alert not sent yet; it will be retried", extra={"alert": mask_email(alert_id), "reason": str(error)[:200]})
            metrics.add_metric(name="AlertRetries", unit=MetricUnit.Count, value=1)
            failures.append({"itemIdentifier": sequence})
            break  # a stream is ordered: Lambda resumes from this record
        except Exception:  # noqa: BLE001 - reported for a retry, never silently dropped
            logger.exception("alert delivery failed", extra={"alert": mask_email(alert_id)})
            failures.append({"itemIdentifier": sequence})
            break
        metrics.add_metric(name=f"Alerts{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        logger.info("alert delivery", extra={"alert": mask_email(alert_id), "outcome": outcome})
    return {"batchItemFailures": failures}
