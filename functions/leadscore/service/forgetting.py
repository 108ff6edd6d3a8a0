"""The right to be forgotten: erase one lead everywhere and leave an audit record without personal data.

What a lead leaves behind, and how each is found without a scan (the route runs in a Lambda):
its lead item (by key); its history and event-log items (a Query on the lead); the anonymous
visitors linked to it (their ids are in the lead's logged events, `anonymous_id` in properties
or profile; each alias item `anon:<id>` is deleted only if merged into this lead, with the
visitor's own history and event log); its alerts (the AlertsTable's BySubject index); the
velocity items its saves wrote (`velocity#<day>#<shard>`, days taken from its history and
events, a Query per day on the sort key prefix); its account membership (deleted with the lead
item in one transaction that subtracts its score and one member from the account's summary).

Order matters for a crash half-way: what the discovery reads (event log, history, the lead item)
is deleted last, the lead item last, so running forget again finds and finishes the rest. After
the lead item, only the velocity item and alerts its last save writes after the lead are deleted
once more, in case they landed after the Queries (a Lambda stalled between its writes for the
whole erasure; a crash of the erasure right then would leave them). Running it on a lead that
is gone does nothing and writes no audit record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ..adapters.dynamodb import (
    AlertItem,
    EventLogItem,
    HistoryItem,
    LeadRepository,
    MetricsItem,
    VersionConflict,
)
from ..core.events import EventError, anonymous_lead, format_timestamp, parse_timestamp

AUDIT_LABEL = b"leadscore forget audit v1"
MAX_ATTEMPTS = 5  # a lead saved while it is being forgotten: read again and retry


def audit_key(tracking_secret: str) -> bytes:
    """The audit hash key, derived from the tracking secret (no new secret to manage or grant)."""
    return hmac.new(tracking_secret.encode(), AUDIT_LABEL, hashlib.sha256).digest()


def subject_hash(key: bytes, email: str) -> str:
    """A keyed hash of the address: whoever holds the key can confirm a given address was erased;
    nobody can read the address from the record."""
    return hmac.new(key, email.encode(), hashlib.sha256).hexdigest()


@dataclass
class ForgetReport:
    """What one forget deleted (counts only: no personal data), and where its audit record is."""

    leads: int = 0
    aliases: int = 0
    history: int = 0  # history entries (scored events and their changes)
    event_log: int = 0  # logged events
    alerts: int = 0
    velocity: int = 0
    account_memberships: int = 0
    audit: dict[str, str] | None = None  # {pk, sk} of the audit record; None when nothing was found

    def total(self) -> int:
        return sum(value for name, value in asdict(self).items() if isinstance(value, int))

    def deleted(self) -> dict[str, int]:
        return {name: value for name, value in asdict(self).items() if isinstance(value, int)}


def linked_visitors(entries: list[dict[str, Any]]) -> list[str]:
    """The anonymous visitor ids the lead's logged events linked to it, in order of first sight."""
    found: dict[str, None] = {}
    for entry in entries:
        event = entry.get("event") or {}
        for source in (event.get("properties") or {}, event.get("profile") or {}):
            value = source.get("anonymous_id") if isinstance(source, dict) else None
            if isinstance(value, str) and value.strip():
                found[value.strip()] = None
    return list(found)


def _day(at: str | float) -> str | None:
    try:
        ts = parse_timestamp(at) if isinstance(at, str) else float(at)
    except (EventError, ValueError):
        return None
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


class Forgetting:
    def __init__(self, repository: LeadRepository, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self.repository = repository
        self.key = key
        self.clock = clock

    def forget(self, email: str, principal: str) -> ForgetReport:
        """Erase `email` (a normalised lead key) everywhere; `principal` (who asked) goes in the audit record."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self._forget(email, principal)
            except VersionConflict:  # the lead was saved meanwhile: what it wrote is found on the next pass
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def _forget(self, email: str, principal: str) -> ForgetReport:
        repository = self.repository
        report = ForgetReport()
        stored = repository.load(email)
        entries = repository.logged_entries(email)
        times = repository.history_times(email)
        days = {_day(entry.get("at", "")) for entry in entries} | {_day(at) for at in times}
        figures_late, alerts_late = repository.follow_up_keys(email, stored)  # what its last save writes after it
        days |= {pk.split("#")[1] for pk, _ in figures_late}
        if stored is not None and stored.state is not None:
            days |= {_day(since) for _, since, _ in stored.state.stage_history}
            for at in (stored.state.cold_since, stored.state.last_activity):
                if at is not None:
                    days.add(_day(at))
        visitors = [anonymous_lead(visitor) for visitor in linked_visitors(entries)]
        # the visitors first (found through the lead's event log, deleted last)
        for visitor in visitors:
            owned = repository.load(visitor)
            if owned is None or owned.merged_into != email:
                continue  # never linked, or another lead's visitor: not this person's data
            report.history += len(repository.history_times(visitor))
            report.event_log += len(repository.logged_entries(visitor))
            repository.delete_keys(HistoryItem, repository.lead_keys(HistoryItem, visitor))
            repository.delete_keys(EventLogItem, repository.lead_keys(EventLogItem, visitor))
            report.alerts += self._delete_alerts(visitor)
            report.aliases += int(repository.delete_alias(visitor, email))
        report.alerts += self._delete_alerts(email)
        velocity = repository.velocity_keys_of(email, {day for day in days if day})
        report.velocity += repository.delete_keys(MetricsItem, velocity)
        # counted in entries: those written out as items, and those waiting in the lead item, which
        # goes with it (last, so a crashed forget finds the rest again)
        report.history += len(times)
        report.event_log += len(entries)
        repository.delete_keys(HistoryItem, repository.lead_keys(HistoryItem, email))
        repository.delete_keys(EventLogItem, repository.lead_keys(EventLogItem, email))
        # (version 0 if it was not there: a lead created since is not removed without its items)
        erased = repository.remove_lead(email, stored.version if stored is not None else 0)
        # its last save's velocity figures and alerts, written after that save: if they landed after
        # the Queries above (a Lambda stalled between its writes, or a redelivery wrote them again
        # just before the lead item went), they go now
        report.velocity += repository.delete_found(MetricsItem, figures_late)
        report.alerts += repository.delete_found(AlertItem, alerts_late)
        report.leads += int(erased.removed)
        report.account_memberships += int(erased.member_removed)
        if report.total():
            report.audit = self._audit(email, principal, report)
        return report

    def _delete_alerts(self, subject: str) -> int:
        return self.repository.delete_keys(
            AlertItem, [(alert_id,) for alert_id in self.repository.alert_ids_for(subject)]
        )

    def _audit(self, email: str, principal: str, report: ForgetReport) -> dict[str, str]:
        now = self.clock()
        digest = subject_hash(self.key, email)
        pk = f"forget#{datetime.fromtimestamp(now, UTC).date().isoformat()}"
        sk = f"{format_timestamp(now)}#{digest[:16]}#{int(now * 1e6) % 1_000_000:06d}"
        data = {
            "subject_hash": digest,
            "hash": "hmac-sha256",
            "deleted": report.deleted(),
            "at": format_timestamp(now),
            "by": principal,
        }
        self.repository.put_audit(pk, sk, data)
        return {"pk": pk, "sk": sk}


def audit_json(report: ForgetReport) -> str:
    return json.dumps({"deleted": report.deleted(), "audit": report.audit}, sort_keys=True)
