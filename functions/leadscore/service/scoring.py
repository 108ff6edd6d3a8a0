"""The one scoring path: both doors (forms, tracking) reach it through the queue.

A batch is grouped by lead; each lead is loaded once, its events applied in time order, and
saved in one write conditional on the version it was read at (idempotent writes may follow it:
a small account's member score, a stage move's velocity figures, the alerts; see `commit`).
A concurrent writer makes the save fail with VersionConflict: the lead is reloaded and the
events applied again (the lead's own record of seen event ids makes that exact). A lead that
still cannot be saved has all its messages reported failed, so SQS redelivers them; nothing is
lost or counted twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..adapters.dynamodb import (
    AccountView,
    AlertRecord,
    LeadCommit,
    LeadRepository,
    LoggedEvent,
    ScoredEvent,
    VersionConflict,
)
from ..core.accounts import aggregate_summary, best_needed
from ..core.alerts import ACCOUNT_KINDS, LEAD_COLD, recipients
from ..core.built import load_deployed
from ..core.compiler import CompiledModel
from ..core.engine import (
    apply_decay,
    apply_event,
    cold_due_at,
    decay_due_at,
    main_score,
    mark_cold,
    new_lead,
    view,
)
from ..core.events import EventError, anonymous_lead, event_to_json, format_timestamp, parse_event
from ..core.state import Alert, Change, Event, LeadState, Outcome
from ..core.velocity import Transition, cause_of, save_deltas, stage_transition, transitions_from_outcome
from ..settings import STORAGE, Settings
from .replaying import MODEL_CHANGE, linked_anonymous_id, model_change_outcome, replay_lead

if TYPE_CHECKING:
    from ..core.spec import AccountsSpec  # the build stores the spec without pydantic (core/frozen.py)

# A visitor identified after a long anonymous history brings at most this many of its newest
# events (a bounded read, and a history item that stays far below DynamoDB's 400 KB).
MAX_REPLAYED = 100
MAX_ACCOUNT_ATTEMPTS = 5  # reads of an account whose stage other savers keep moving


def account_score(view: AccountView, spec: AccountsSpec) -> float:
    return aggregate_summary(view.total, view.count, view.members.values(), spec)


class AccountBusy(RuntimeError):
    """An account's stage kept moving under a save: its messages come back (as duplicates) later."""


TICK = "schedule_tick"  # not an event type anyone can send: parse_event refuses unknown types at the doors


class StageMoves:
    """The stage moves and cold changes of one save, for the day's velocity figures.

    A cold lead that moves stage takes its cold count along; turning cold counts in its stage,
    becoming active again leaves the stage it was cold in. Anonymous visitors are not counted.
    """

    def __init__(self, lead: str) -> None:
        self.lead = lead
        self.transitions: list[Transition] = []
        self.cold: list[tuple[float, str, int]] = []
        self._entered: float | None = None
        self._stage = ""
        self._was_cold = False

    def before(self, state: LeadState) -> None:
        self._entered = state.stage_history[-1][1] if state.stage_history else None
        self._stage = state.stage
        self._was_cold = state.cold_since is not None

    def after(self, state: LeadState, outcome: Outcome, cause: str, at: float) -> None:
        if self.lead.startswith("anon:"):
            return
        if self._entered is None and cause in ("decay", "cold"):
            moved = []  # a lead enters the funnel with its first event, not with the catch-up before it
        else:
            moved = transitions_from_outcome(self.lead, outcome, cause, self._entered, at=at)
        self.transitions.extend(moved)
        is_cold = state.cold_since is not None
        if self._was_cold and is_cold:
            for move in moved:
                if move.from_stage is not None:
                    self.cold.append((at, move.from_stage, -1))
                self.cold.append((at, move.to_stage, 1))
        elif self._was_cold:
            self.cold.append((at, self._stage, -1))
        elif is_cold:
            self.cold.append((at, state.stage, 1))


def next_due_at(model: CompiledModel, state: LeadState) -> float | None:
    """When the daily schedule next has work for this lead: a decay step or turning cold."""
    times = [t for t in (decay_due_at(model, state), cold_due_at(model, state)) if t is not None]
    return min(times) if times else None


def due_to_index(indexed: float | None, exact: float | None, woken: bool) -> float | None:
    """What the DueIndex should hold for a lead: a lower bound of its next due time.

    An event usually moves the due time later (decay restarts from the last activity, a score
    increase postpones going cold); rewriting the index entry each time costs two write units
    (a delete and a put), more than the lead's own save. So the entry stays while it is at or
    before the exact time; the schedule then wakes the lead early at worst, and that visit
    (`woken`) writes the exact time. The walker never misses a lead, since the entry is never
    later than its due time, nor present when nothing is due.
    """
    if exact is None or woken or indexed is None or indexed > exact:
        return exact
    return indexed


def schedule_tick(lead: str, at: float) -> Event:
    """The daily schedule's visit to one lead: decay and cold marking as of `at`."""
    return Event(f"tick:{at!r}", TICK, lead, at, {})


@dataclass(frozen=True)
class AcceptedEvent:
    event: Event  # validated and normalised
    raw: dict[str, Any]  # as received, for the event log
    message_id: str  # the SQS message it came in, for batchItemFailures
    source: str = "tracking"  # "form" (public, untrusted) or "tracking" (signed by a server)


@dataclass
class BatchResult:
    failed_message_ids: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (lead, why its messages failed)
    refused_links: list[tuple[str, str, str]] = field(default_factory=list)  # (visitor, owner, claimed by)
    route_fallbacks: list[tuple[str, str, str]] = field(default_factory=list)  # (alert, subject, why)
    scored: int = 0
    duplicates: int = 0
    late: int = 0
    alerts: list[Alert] = field(default_factory=list)


class ScoringService:
    def __init__(
        self,
        repository: LeadRepository,
        model: CompiledModel,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 8,
    ) -> None:
        self.repository = repository
        self.model = model
        self.clock = clock
        self.max_attempts = max_attempts

    def score(self, batch: Sequence[AcceptedEvent]) -> BatchResult:
        result = BatchResult()
        by_lead: dict[str, list[AcceptedEvent]] = {}
        for accepted in batch:
            by_lead.setdefault(accepted.event.lead, []).append(accepted)
        for lead, items in by_lead.items():
            try:
                self._score_lead(lead, items, result)
            except Exception as error:  # noqa: BLE001 - one lead's failure must never take the others with it
                result.failed_message_ids.extend(item.message_id for item in items)
                result.failures.append((lead, f"{type(error).__name__}: {str(error)[:300]}"))
        return result

    def _score_lead(self, lead: str, items: list[AcceptedEvent], result: BatchResult) -> None:
        for attempt in range(self.max_attempts):
            try:
                self._attempt(lead, items, result)
                return
            except VersionConflict:
                if attempt == self.max_attempts - 1:
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # jitter: let the other writer finish

    def _attempt(self, lead: str, items: list[AcceptedEvent], result: BatchResult) -> None:
        stored = self.repository.load(lead)
        if stored is not None and stored.merged_into:  # an identified visitor: score on the lead
            lead = stored.merged_into
            stored = self.repository.load(lead)
        visits = (TICK, MODEL_CHANGE)  # the schedule's and a rescore run's: no event of the lead's own
        if (stored is None or stored.state is None) and all(item.event.type in visits for item in items):
            return  # a tick for a lead that is gone (or never was) has nothing to do
        state = stored.state if stored and stored.state else new_lead(self.model, lead)
        version = stored.version if stored else 0
        previous_account = state.account
        model_change: Outcome | None = None
        old_state = state
        if stored is not None and stored.state is not None and stored.model_version not in (None, self.model.version):
            # built under another model: replayed from the event log first, so no lead mixes two models
            at = min(item.event.ts for item in items)
            replayed = replay_lead(self.repository, self.model, lead, at, stored)
            state = replayed.state
            model_change = model_change_outcome(
                self.model, old_state, stored.score or 0.0, state, str(stored.model_version), at
            )
            model_change_note = {
                "model_versions": {"from": stored.model_version, "to": self.model.version},
                "replayed_events": replayed.events,
            }
        elif all(item.event.type == MODEL_CHANGE for item in items):
            return  # a rescore run's visit to a lead already under this model (rescored, or a live event was first)
        events = [self._as_trusted(item)._replace(lead=lead) for item in items]
        raw = {item.event.id: item.raw for item in items}
        aliases: list[tuple[str, int]] = []
        alias_pending: dict[str, str] = {}
        for event in events:
            anonymous_id = linked_anonymous_id(event)
            if anonymous_id is None:
                continue
            earlier = self._take_over_anonymous(anonymous_lead(anonymous_id), lead, result)
            if earlier is not None:
                alias_version, replayed, waiting = earlier
                aliases.append((anonymous_lead(anonymous_id), alias_version))
                if waiting:
                    alias_pending[anonymous_lead(anonymous_id)] = waiting
                events.extend(replayed)
        plan = LeadCommit(
            state,
            version,
            0.0,
            self.model.version,
            previous_account=previous_account,
            aliases=aliases,
            previous_score=stored.score if stored is not None and stored.state is not None else None,
            pending=stored.pending if stored is not None else None,
            alias_pending=alias_pending,
            # a rescore run calls this directly: nothing would deliver its visit again to repair a
            # member's score written after the lead, so that is written in the lead's transaction
            member_after_lead=not any(item.event.type == MODEL_CHANGE for item in items),
            follow_ups=stored.follow_ups if stored is not None else None,
        )
        outcomes = []
        counts = {"scored": 0, "duplicate": 0, "late": 0}
        moves = StageMoves(lead)
        suppress = model_change is not None and self.model.spec.model_change.alerts == "suppress"
        if model_change is not None:
            at = min(item.event.ts for item in items)
            moves.before(old_state)
            moves.after(state, model_change, MODEL_CHANGE, at)
            if model_change.changes or model_change.alerts:
                entry = self._scored(lead, f"model:{self.model.version}", MODEL_CHANGE, at, model_change)
                entry.note = model_change_note
                plan.scored.append(entry)
            outcomes.append(model_change._replace(alerts=[]))  # its alerts follow the model's policy (below)
            if state.cold_since is not None and old_state.cold_since is None:  # quiet long enough by now:
                outcomes.append(model_change._replace(changes=[], alerts=[self._cold_alert(state, at)]))  # as a tick would
        for event in sorted(events, key=lambda e: (e.ts, e.id)):
            moves.before(state)
            decayed = apply_decay(self.model, state, event.ts)  # the inactivity before this event
            moves.after(state, decayed, "decay", event.ts)
            if decayed.changes:
                plan.scored.append(self._scored(lead, f"decay-{int(event.ts)}", "decay", event.ts, decayed))
                outcomes.append(decayed)
            moves.before(state)
            if event.type in visits:
                cooled = mark_cold(self.model, state, event.ts)
                moves.after(state, cooled, "cold", event.ts)
                if cooled.changes:
                    plan.scored.append(self._scored(lead, f"cold-{int(event.ts)}", "cold", event.ts, cooled))
                    outcomes.append(cooled._replace(alerts=[self._cold_alert(state, event.ts)]))
                continue  # a tick is neither logged nor remembered: it is idempotent by itself
            outcome = apply_event(self.model, state, event)
            moves.after(state, outcome, event.type, event.ts)
            counts[outcome.status] += 1
            if outcome.status == "duplicate":
                continue  # logged when it was first scored
            if outcome.status == "scored":
                outcomes.append(outcome)
                plan.scored.append(self._scored(lead, event.id, event.type, event.ts, outcome))
            if event.id in raw:  # a late event is not scored but kept; replayed ones are logged already
                plan.logged.append(
                    LoggedEvent(lead, event.id, event.type, event.ts, raw[event.id], event_to_json(event))
                )
        latest = max(events, key=lambda e: (e.ts, e.id))
        saved = bool(plan.scored or plan.logged or aliases or model_change)
        indexed = stored.due_at if stored is not None else None
        woken = any(event.type == TICK for event in events)
        due = due_to_index(indexed, next_due_at(self.model, state), woken)
        if saved or (woken and due != indexed):  # a visit that found nothing due yet moves the lead's index entry
            fired = [alert for outcome in outcomes for alert in outcome.alerts]
            plan.alerts = [self._record(alert, state.profile, state.account, result) for alert in fired]
            if model_change is not None:  # crossings the model change caused: recorded; emailed if the model says so
                status = "suppressed" if suppress else "pending"
                plan.alerts += [
                    self._record(alert, state.profile, state.account, result, status) for alert in model_change.alerts
                ]
                fired += [] if suppress else model_change.alerts
            plan.score = main_score(self.model, state)
            plan.due_at = due
            plan.day_figures = save_deltas(moves.transitions, moves.cold)
            version = self.repository.commit(plan)  # the alerts are stored right after the change that caused them
            result.scored += counts["scored"]
            result.alerts.extend(fired)
        result.duplicates += counts["duplicate"]
        result.late += counts["late"]
        committed = stored is not None and version > stored.version
        written = committed and stored is not None and (  # this save wrote the member's score to its account
            state.account != previous_account or plan.score != (stored.score or 0.0)
        )
        again = counts["duplicate"] or woken or not committed  # a redelivery (a tick is never a duplicate)
        if again and not written and state.account and stored is not None and stored.state is not None:
            # its first delivery may have died between the lead's save and the member's score in a
            # small account (written after the lead): written now if it is missing
            score = plan.score if committed else (stored.score or 0.0)
            self.repository.sync_member(state.account, lead, score, version)
        if not committed and stored is not None and stored.follow_ups:
            # likewise the velocity figures and alerts its save writes after the lead (a save does it first)
            self.repository.send_follow_ups(lead, stored.version, stored.follow_ups)
        if saved or counts["duplicate"] or woken:
            # also after a batch of duplicates, or a tick that found its work done (a tick is never
            # a duplicate): a crash between the lead's save and this check must not lose the
            # account's move or crossing (both flips are idempotent)
            changes = [change for outcome in outcomes for change in outcome.changes]
            for account in dict.fromkeys((previous_account, state.account)):
                if account:
                    self._follow_account(
                        account, account == state.account, latest, changes, state.profile, result, suppress
                    )

    @staticmethod
    def _scored(lead: str, event_id: str, event_type: str, ts: float, outcome: Outcome) -> ScoredEvent:
        alerts = [alert._asdict() for alert in outcome.alerts]
        return ScoredEvent(
            lead,
            event_id,
            event_type,
            ts,
            outcome.changes,
            alerts,
            outcome.score_before,
            outcome.score_after,
            outcome.stage_before,
            outcome.stage_after,
        )

    def _as_trusted(self, item: AcceptedEvent) -> Event:
        """A public form never sets a trusted field, even if one slipped past the door."""
        event = item.event
        if item.source != "form" or not event.profile:
            return event
        trusted = self.model.spec.trusted()
        if not trusted.intersection(event.profile):
            return event
        return event._replace(profile={k: v for k, v in event.profile.items() if k not in trusted})

    def _take_over_anonymous(
        self, anonymous: str, lead: str, result: BatchResult
    ) -> tuple[int, list[Event], str | None] | None:
        """The anonymous visitor's version, newest logged events (re-keyed to the lead) and the
        history and log waiting in its item; None if already linked.

        A visitor belongs to the first lead it was linked to: a later claim by another lead is
        refused (its browsing never moves) and reported, so it can be logged.
        """
        stored = self.repository.load(anonymous)
        if stored is not None and stored.merged_into:
            if stored.merged_into != lead:
                result.refused_links.append((anonymous, stored.merged_into, lead))
            return None
        if stored is not None and stored.follow_ups:  # its item becomes an alias: its last alerts go first
            self.repository.send_follow_ups(anonymous, stored.version, stored.follow_ups)
        replayed = []
        for payload in self.repository.logged_events(anonymous, newest=MAX_REPLAYED, known=stored):
            try:
                replayed.append(parse_event(payload)._replace(lead=lead))
            except EventError:
                continue  # it was accepted once under an older format; skip rather than block
        return (stored.version if stored else 0), replayed, (stored.pending if stored else None)

    def _cold_alert(self, state: LeadState, now: float) -> Alert:
        """A lead turning cold is published (LeadCold) for a nurture track; nobody is emailed."""
        since = state.cold_since if state.cold_since is not None else now
        return Alert(LEAD_COLD, state.lead, main_score(self.model, state), None, since, f"cold-{int(now)}", LEAD_COLD)

    def _record(
        self,
        alert: Alert,
        profile: dict[str, Any],
        account: str | None,
        result: BatchResult,
        status: str = "pending",
    ) -> AlertRecord:
        """The outbox record of an alert, with its recipients routed from the model."""
        compiled = self.model.alerts_by_name.get(alert.name)
        to, fallback = recipients(compiled, profile, account, self.model.account_owners) if compiled else ([], None)
        if fallback:
            result.route_fallbacks.append((alert.name, alert.subject, fallback))
        return AlertRecord(
            name=alert.name,
            kind=alert.kind,
            subject=alert.subject,
            subject_type="account" if alert.kind in ACCOUNT_KINDS else "lead",
            score=alert.score,
            threshold=alert.threshold,
            event_id=alert.event_id,
            occurred_at=alert.ts,
            account=account,
            recipients=to,
            route_note=fallback,
            model_version=self.model.version,
            status=status,
        )

    def _follow_account(
        self,
        account: str,
        member: bool,
        event: Event,
        changes: list[Change],
        profile: dict[str, Any],
        result: BatchResult,
        suppress: bool = False,
    ) -> None:
        """After a member's save: the account's stage move (velocity) and, for its current
        account, its alerts. Both read the members after the save, so the last saver sees all."""
        if not (self.model.stage_ids or self.model.account_alerts):
            return
        for _ in range(MAX_ACCOUNT_ATTEMPTS):
            view = self.repository.account(account, best_needed(self.model.spec.accounts))
            if self._move_account(account, view, event, changes):
                break
        else:  # its members keep moving it: redelivery (the lead's events are duplicates then) tries again
            raise AccountBusy(f"account {account}: its stage kept changing under this save")
        if member and self.model.account_alerts:
            result.alerts.extend(self._account_alerts(account, view, event, profile, result, suppress))

    def _move_account(self, account: str, view: AccountView, event: Event, changes: list[Change]) -> bool:
        """Count the account's move to its score's band (once: conditional on the stage read).
        True when done or nothing to do; False when another saver moved it first (read again)."""
        ids = self.model.stage_ids
        if not ids:
            return True
        if not view.count:
            if view.stage is None:
                return True
            figures = save_deltas((), (), [(event.ts, view.stage)])
            return self.repository.move_account_stage(account, view.stage, None, event.ts, figures)
        stage = ids[self.model.stage_index_for(account_score(view, self.model.spec.accounts))]
        direction = (
            "entry" if view.stage is None else ("forward" if ids.index(stage) > ids.index(view.stage) else "back")
        )
        at = max(event.ts, view.stage_since or event.ts)  # a late event never makes time in stage negative
        move = stage_transition(
            account, "account", at, view.stage, stage, view.stage_since, cause_of(changes, direction, event.type), ids
        )
        if move is None:
            return True
        return self.repository.move_account_stage(account, view.stage, stage, at, save_deltas([move]))

    def _account_alerts(
        self,
        account: str,
        view: AccountView,
        event: Event,
        profile: dict[str, Any],
        result: BatchResult,
        suppress: bool = False,
    ) -> list[Alert]:
        """Each account alert fires once per crossing: the flip and the alert are one conditional write."""
        disarmed = view.disarmed
        score = account_score(view, self.model.spec.accounts)
        fired = []
        for alert in self.model.account_alerts:
            if alert.kind == "engaged_buyers":
                # counted up to the committee's size: enough to know whether it is complete
                value = float(
                    self.repository.members_at_least(account, alert.buyer_score or 0.0, alert.buyers or 1, view)
                )
                qualifies = value >= (alert.buyers or 1)
                threshold: float | None = float(alert.buyers or 1)
            else:
                value, threshold = score, alert.threshold
                qualifies = alert.qualifies(score)
            armed = alert.name not in disarmed
            fires, armed_after = alert.step(armed, value, qualifies)
            if armed_after == armed:
                continue
            crossed = Alert(alert.kind, account, value, threshold, event.ts, event.id, alert.name)
            status = "suppressed" if suppress else "pending"  # a crossing a model change made
            record = self._record(crossed, profile, account, result, status) if fires else None
            flipped = self.repository.flip_account_alert(account, alert.name, armed_after, score, record)
            if flipped and fires and not suppress:
                fired.append(crossed)  # exactly one writer wins the flip: one alert per crossing
        return fired

    def describe_lead(self, email: str) -> dict[str, Any] | None:
        stored = self.repository.load(email)
        if stored is None or stored.state is None:
            return None
        state = stored.state
        now = self.clock()
        description = view(self.model, state, now)
        description["last_activity"] = format_timestamp(state.last_activity) if state.last_activity else None
        description["cold_since"] = format_timestamp(state.cold_since) if state.cold_since else None
        description["version"] = stored.version
        description["model_version"] = stored.model_version or self.model.version  # what its scores were built under
        description["stage_history"] = [
            {"stage": stage, "since": format_timestamp(since), "why": why} for stage, since, why in state.stage_history
        ]
        description["recent_changes"] = self.repository.history(email, limit=20)
        return description


def load_compiled_model(settings: Settings) -> CompiledModel:
    return load_deployed(settings.model_path)


def build_service_from_env() -> ScoringService:
    settings = Settings.from_env(required=STORAGE)
    return ScoringService(LeadRepository(settings), load_compiled_model(settings))
