"""The SQS consumer: scores a batch of queued events, reporting the messages that failed.

The batch is scored as a whole, not record by record (Powertools' BatchProcessor), because
the service groups it by lead to load and save each lead once: one conditional write per
lead per batch. A message that cannot be parsed is reported failed, so after five attempts
it rests in the dead-letter queue, never blocking the others.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from ..core.events import EventError, parse_event
from ..service.scoring import AcceptedEvent, ScoringService, build_service_from_env, schedule_tick
from .common import logger, mask_email, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def service() -> ScoringService:
    return build_service_from_env()


def _accepted(record_body: str, message_id: str) -> AcceptedEvent:
    body = json.loads(record_body)
    if isinstance(body, dict) and isinstance(body.get("tick"), dict):  # the daily schedule
        tick = body["tick"]
        return AcceptedEvent(schedule_tick(str(tick["lead"]), float(tick["at"])), {}, message_id, "schedule")
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise EventError("message body has no event")
    raw = body.get("raw") if isinstance(body.get("raw"), dict) else body["event"]
    # public doors (forms, browser write keys) are untrusted: the scorer drops trusted fields again
    source = "form" if body.get("source") in ("form", "segment-browser") else "tracking"
    return AcceptedEvent(parse_event(body["event"]), raw, message_id, source)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch: list[AcceptedEvent] = []
    failed: list[str] = []
    # the SQS records as plain dicts (what Powertools' SQSEvent reads, without loading every event class)
    for record in event["Records"]:
        try:
            batch.append(_accepted(record["body"], record["messageId"]))
        except Exception as error:  # noqa: BLE001 - any unreadable message fails alone, never the batch
            reason = f"{type(error).__name__}: {str(error)[:200]}"
            logger.error("poison message", extra={"message_id": record["messageId"], "reason": reason})
            metrics.add_metric(name="PoisonMessages", unit=MetricUnit.Count, value=1)
            failed.append(record["messageId"])
    result = service().score(batch) if batch else None
    if result is not None:
        failed.extend(result.failed_message_ids)
        for lead, reason in result.failures:
            logger.error(
                "lead not scored; its messages will be redelivered", extra={"lead": mask_email(lead), "reason": reason}
            )
            metrics.add_metric(name="LeadsFailed", unit=MetricUnit.Count, value=1)
        for visitor, owner, claimant in result.refused_links:
            logger.warning(
                "visitor link refused: it already belongs to another lead",
                extra={"visitor": visitor[:60], "owner": mask_email(owner), "claimed_by": mask_email(claimant)},
            )
            metrics.add_metric(name="LinksRefused", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="EventsScored", unit=MetricUnit.Count, value=result.scored)
        metrics.add_metric(name="DuplicatesIgnored", unit=MetricUnit.Count, value=result.duplicates)
        for alert in result.alerts:
            logger.info(
                "threshold crossed",
                extra={"kind": alert.kind, "subject": mask_email(alert.subject), "score": alert.score},
            )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
