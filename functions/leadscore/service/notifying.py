"""Delivering recorded alerts: claim, publish the event, email sales, mark sent. Exactly once per
alert, decoupled from scoring (the notifier reads the alert outbox's stream).

Each alert item is claimed with a conditional update (pending -> sending, with a lease), so a
redelivered stream record or a second notifier finds nothing to do. SES is tried a few times with
backoff inside one invocation; if it is still unavailable the alert goes back to pending and the
stream record is reported failed, so Lambda retries it later; after MAX_CLAIMS claims, or at once
when SES rejects the message for good, the alert is marked failed and rests in the dead-letter
queue (alarmed). Scoring never waits for any of this.

Where exactly-once cannot hold: if the function dies after SES accepted a message and before the
alert is marked sent, the lease runs out and the alert is sent again (at most once more per such
crash). EventBridge events carry the alert id, so subscribers can drop such a repeat.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..adapters.bus import ALERT_DETAIL_TYPES, BusUnavailable, EventPublisher
from ..adapters.dynamodb import AlertItem, LeadRepository
from ..adapters.mail import MailRejected, MailUnavailable, SesMailer
from ..core.accounts import aggregate_summary, best_needed
from ..core.alerts import ACCOUNT_KINDS
from ..core.compiler import CompiledModel
from ..core.engine import fit_points, grade, nps_category, temperature, view
from ..core.events import format_timestamp, parse_timestamp
from ..render.alert_email import Activity, AlertContext, Buyer, RuleLine, mime_message, render

MAX_CLAIMS = 5  # invocations that may try an alert before it is parked as failed
TRIES_PER_CLAIM = 3  # SES calls per invocation, with backoff between them
BACKOFF_SECONDS = (1.0, 2.0)
LEASE_SECONDS = 120.0  # longer than one invocation's tries; then a dead sender's claim expires
ACTIVITIES = 8
TOP_RULES = 8
BUYERS = 6


class Retry(Exception):
    """The alert could not be sent now; it is pending again and its record should be retried."""


@dataclass(frozen=True)
class Delivery:
    sender: str
    configuration_set: str | None = None
    crm_url_template: str | None = None


class DeadLetters:
    """Where alerts that will never be sent rest, for a person to look at (an SQS queue)."""

    def __init__(self, queue_url: str, client: Any) -> None:
        self.queue_url = queue_url
        self.client = client

    def park(self, alert_id: str, reason: str) -> None:
        body = json.dumps({"alert_id": alert_id, "reason": reason[:1000]})
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=body)


class Notifier:
    def __init__(
        self,
        repository: LeadRepository,
        model: CompiledModel,
        mailer: SesMailer,
        delivery: Delivery,
        dead_letters: DeadLetters,
        publisher: EventPublisher | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.repository = repository
        self.model = model
        self.mailer = mailer
        self.delivery = delivery
        self.dead_letters = dead_letters
        self.publisher = publisher
        self.clock = clock
        self.sleep = sleep

    def deliver(self, alert_id: str) -> str:
        """'sent', 'failed' (parked for good) or 'skipped' (done already, or someone else has it).

        Raises Retry when SES is unavailable and the alert may be tried again later.
        """
        claimed = self.repository.claim_alert(alert_id, self.clock(), LEASE_SECONDS)
        if claimed is None:
            return "skipped"
        alert = self.repository.alert(alert_id)
        assert alert is not None  # claimed a moment ago; alerts are never deleted but here
        if alert.subject_type == "lead" and self.repository.load(alert.subject) is None:
            # written after its lead's save, by a Lambda that stalled between the two writes while the
            # lead was erased: nobody is emailed about a forgotten person, and the alert goes too
            self.repository.delete_alert(alert_id)
            return "skipped"
        published = self._publish(alert)
        message_id = None
        if alert.recipients:  # else recorded and published, with nobody to email
            try:
                message_id = self._send(alert)
            except MailRejected as error:
                return self._park(alert, f"SES rejected it: {error}")
            except MailUnavailable as error:
                if int(alert.attempts) >= MAX_CLAIMS:
                    return self._park(alert, f"SES unavailable after {MAX_CLAIMS} attempts: {error}")
                self.repository.finish_alert(alert_id, "pending", error=str(error))
                raise Retry(str(error)) from error
        self.repository.finish_alert(alert_id, "sent", message_id=message_id, now=self.clock())
        if self.publisher is not None and not published:  # the email went; the event is owed
            self.dead_letters.park(alert_id, "sent, but the EventBridge event could not be published")
        return "sent"

    def _park(self, alert: AlertItem, reason: str) -> str:
        self.dead_letters.park(alert.alert_id, reason)
        self.repository.finish_alert(alert.alert_id, "failed", error=reason)
        return "failed"

    def _send(self, alert: AlertItem) -> str:
        email = render(self.context(alert))
        raw = mime_message(
            email,
            self.delivery.sender,
            list(alert.recipients),
            alert_id=alert.alert_id,
            configuration_set=self.delivery.configuration_set,
        )
        for attempt in range(TRIES_PER_CLAIM):
            try:
                return self.mailer.send(
                    raw, self.delivery.sender, list(alert.recipients), self.delivery.configuration_set
                )
            except MailUnavailable:
                if attempt == TRIES_PER_CLAIM - 1:
                    raise
                self.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
        raise AssertionError("unreachable")

    def _publish(self, alert: AlertItem) -> str | None:
        """The event for other systems, once per alert: its id is kept on the alert at once.

        Returns the event id (also when published by an earlier claim), or None when EventBridge
        is unavailable: the email still goes, and the owed event is parked for a person.
        """
        if self.publisher is None or alert.published_event_id:
            return alert.published_event_id
        try:
            event_id = self.publisher.publish(
                ALERT_DETAIL_TYPES[alert.kind], event_detail(alert, self._lead_view(alert))
            )
        except BusUnavailable:
            return None
        self.repository.mark_published(alert.alert_id, event_id)
        return event_id

    def _lead_view(self, alert: AlertItem) -> dict[str, Any] | None:
        if alert.subject_type != "lead":
            return None
        stored = self.repository.load(alert.subject)
        if stored is None or stored.state is None:
            return None
        return view(self.model, stored.state, alert.occurred_at)

    def context(self, alert: AlertItem) -> AlertContext:
        """Everything the email says, read from the stored lead, its history and its account."""
        lead_state = None
        if alert.subject_type == "lead":
            stored = self.repository.load(alert.subject)
            lead_state = stored.state if stored else None
        profile = dict(lead_state.profile) if lead_state else {}
        account = alert.account or (lead_state.account if lead_state else None)
        spec = self.model.spec.accounts
        view = self.repository.account(account, max(BUYERS + 1, best_needed(spec))) if account else None
        members = view.members if view else {}
        fit = fit_points(lead_state) if lead_state else None
        nps_field = self.model.spec.nps.field if self.model.spec.nps else None
        nps_value = profile.get(nps_field) if nps_field else None
        return AlertContext(
            alert_id=alert.alert_id,
            alert_name=alert.name,
            kind=alert.kind,
            subject=alert.subject,
            score=float(alert.score),
            threshold=float(alert.threshold) if alert.threshold is not None else None,
            occurred_at=float(alert.occurred_at),
            event_id=alert.event_id,
            stage=lead_state.stage if lead_state else None,
            grade=grade(self.model, fit) if fit is not None else None,
            temperature=temperature(self.model, lead_state.engagement)[1] if lead_state else None,
            profile=profile,
            fit=fit,
            fit_cap=self.model.fit_cap if lead_state else None,
            engagement=lead_state.engagement if lead_state else None,
            nps=float(nps_value) if isinstance(nps_value, int | float) and not isinstance(nps_value, bool) else None,
            nps_category=nps_category(self.model, nps_value),
            top_rules=self._top_rules(
                lead_state.rule_points if lead_state else {}, lead_state.fit_rules if lead_state else {}
            ),
            activities=self._activities(alert.subject) if lead_state else [],
            account=account,
            account_score=aggregate_summary(view.total, view.count, members.values(), spec)
            if view and view.count
            else None,
            buyers=self._buyers(members, alert.subject),
            engaged_buyers=int(alert.score) if alert.kind == "engaged_buyers" else None,
            crm_url=self._crm_url(alert),
            model_version=alert.model_version,
        )

    def _top_rules(self, behaviour: dict[str, float], fit: dict[str, float]) -> list[RuleLine]:
        described = {rule.id: rule.description or rule.id for rule in self.model.spec.rules}
        points = {**{rule: p for rule, p in behaviour.items() if p}, **fit}
        ranked = sorted(points.items(), key=lambda pair: (-abs(pair[1]), pair[0]))[:TOP_RULES]
        return [RuleLine(rule, described.get(rule, rule), value) for rule, value in ranked]

    def _activities(self, lead: str) -> list[Activity]:
        moved = {
            entry["event_id"]: float(entry["score_after"]) - float(entry["score_before"])
            for entry in self.repository.history(lead, limit=ACTIVITIES * 2)
        }
        activities = []
        for event in reversed(self.repository.logged_events(lead, newest=ACTIVITIES)):
            properties = event.get("properties") or {}
            detail = next(
                (
                    str(properties[key])
                    for key in ("asset", "url", "video", "webinar", "campaign", "form")
                    if properties.get(key)
                ),
                "",
            )
            if "percent" in properties and detail:
                detail = f"{detail} {properties['percent']}%"
            when = event.get("timestamp")
            at = _epoch(when)
            activities.append(Activity(at, str(event.get("type")), detail, moved.get(str(event.get("id")), 0.0)))
        return activities

    def _buyers(self, members: dict[str, float], subject: str) -> list[Buyer]:
        buyers = []
        for lead, score in sorted(members.items(), key=lambda pair: (-pair[1], pair[0]))[: BUYERS + 1]:
            if lead == subject:
                continue
            stored = self.repository.load(lead)
            state = stored.state if stored else None
            profile = state.profile if state else {}
            name = profile.get("name") or " ".join(
                str(part) for part in (profile.get("first_name"), profile.get("last_name")) if part
            )
            buyers.append(
                Buyer(lead, str(name) or None, _text(profile.get("job_title")), score, state.stage if state else "")
            )
        return buyers[:BUYERS]

    def _crm_url(self, alert: AlertItem) -> str | None:
        template = self.delivery.crm_url_template
        if not template:
            return None
        return template.replace("{subject}", quote(alert.subject, safe="")).replace(
            "{account}", quote(alert.account or "", safe="")
        )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _epoch(when: Any) -> float:
    try:
        return parse_timestamp(when)
    except ValueError:
        return 0.0


def event_detail(alert: AlertItem, lead: dict[str, Any] | None) -> dict[str, Any]:
    """The EventBridge detail (schemas/events/alert-v1.schema.json, version 1)."""
    kind = alert.kind
    return {
        "schema_version": "1",
        "alert_id": alert.alert_id,
        "alert": alert.name,
        "kind": kind,
        "subject": {"type": "account" if kind in ACCOUNT_KINDS else "lead", "id": alert.subject},
        "score": float(alert.score),
        "threshold": float(alert.threshold) if alert.threshold is not None else None,
        "stage": lead["stage"] if lead else None,
        "fit_grade": lead["grade"] if lead else None,
        "account": alert.account,
        "engaged_buyers": int(alert.score) if kind == "engaged_buyers" else None,
        "nps": float(alert.score) if kind == "nps_detractor" else None,
        "event_id": alert.event_id,
        "occurred_at": format_timestamp(float(alert.occurred_at)),
        "model_version": alert.model_version,
        "recipients": list(dict.fromkeys(alert.recipients)),
    }
