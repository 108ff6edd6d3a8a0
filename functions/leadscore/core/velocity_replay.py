"""Replays events in memory and records what the velocity report needs: transitions and daily snapshots.

It is `Simulation` (same time order, catch-up of decay and cold marking before each event,
anonymous linking, account scores) with two additions: every stage move of a lead or an account
becomes a `Transition`, and at each UTC midnight every lead is caught up (as the daily schedule
does) and the counts per stage are recorded as that day's `Snapshot`. It relies on Simulation's
two steps, `_apply` (mirrored here to keep the engine's Outcome) and `_catch_up` (reused as is).

Anonymous visitors (`anon:` leads) are not counted: they are not leads a marketer can reach
until a form or an identify call links them, and then their earlier events count for the lead.
An account's stage is the band of its account score in the model's stages (no content gating:
accounts have no content counters).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from .compiler import CompiledModel
from .engine import apply_event, view
from .simulation import Simulation
from .state import Change, Event, LeadState, Outcome
from .velocity import (
    Snapshot,
    Transition,
    VelocityReport,
    aggregate_days,
    cause_of,
    day_of,
    day_start,
    stage_transition,
    transitions_from_outcome,
    velocity_report,
)


def _entered_at(state: LeadState) -> float | None:
    """When the lead entered its current stage; None for a lead that has had no event yet."""
    return state.stage_history[-1][1] if state.stage_history else None


@dataclass
class VelocityReplay(Simulation):
    transitions: list[Transition] = field(default_factory=list)
    snapshots: dict[date, Snapshot] = field(default_factory=dict)
    account_stages: dict[str, tuple[str, float]] = field(default_factory=dict)  # account -> (stage, since)
    _moment: tuple[float, Sequence[Change], str] = (0.0, (), "")  # the lead change accounts follow

    def replay(self, events: Iterable[Event], until: date) -> VelocityReplay:
        """Every event before 00:00 UTC of `until`, with a snapshot at each midnight up to `until`'s."""
        end = day_start(until)
        ordered = sorted((event for event in events if event.ts < end), key=lambda event: event.ts)
        day = day_of(ordered[0].ts) if ordered else until
        for event in ordered:
            while day < day_of(event.ts):
                day += timedelta(days=1)
                self._midnight(day)
            self.feed(event)
        while day < until:
            day += timedelta(days=1)
            self._midnight(day)
        if until not in self.snapshots:
            self.snapshots[until] = self._snapshot(end)
        self.now = end
        return self

    def _midnight(self, day: date) -> None:
        now = day_start(day)
        for state in list(self.leads.values()):
            self._catch_up(state, now)
        self.snapshots[day] = self._snapshot(now)

    def _snapshot(self, now: float) -> Snapshot:
        leads: dict[str, int] = {}
        cold: dict[str, int] = {}
        for state in self.leads.values():
            if state.lead.startswith("anon:") or not state.stage_history:
                continue
            leads[state.stage] = leads.get(state.stage, 0) + 1
            if view(self.model, state, now)["cold"]:
                cold[state.stage] = cold.get(state.stage, 0) + 1
        accounts: dict[str, int] = {}
        for key, account in self.accounts.items():
            if account.members and key in self.account_stages:
                stage = self.account_stages[key][0]
                accounts[stage] = accounts.get(stage, 0) + 1
        return Snapshot(leads=leads, accounts=accounts, cold=cold)

    # --- Simulation's engine calls, with the moves kept ---------------------------------------------

    def _apply(self, state: LeadState, event: Event, count: bool = True) -> None:
        """Simulation._apply, keeping the outcome: its stage moves and its causes."""
        self._catch_up(state, event.ts)
        account_before = state.account
        entered_at = _entered_at(state)
        outcome = apply_event(self.model, state, event)
        if count:
            self.counts[outcome.status] += 1
        self.alerts.extend(outcome.alerts)
        if outcome.status == "scored":
            self._record(state, outcome, event.type, entered_at, event.ts)
            self._moment = (event.ts, outcome.changes, event.type)
            self._update_account(state, account_before, event)

    def _catch_up(self, state: LeadState, now: float) -> None:
        """Simulation's catch-up (decay, cold marking) as it is; a stage it moves was moved by decay."""
        entered_at = _entered_at(state)
        before = state.stage
        self._moment = (now, (), "decay")
        super()._catch_up(state, now)
        if entered_at is None or state.stage == before or state.lead.startswith("anon:"):
            return
        cause = "decay" if before in self.model.stage_position else "model change"
        moved = stage_transition(state.lead, "lead", now, before, state.stage, entered_at, cause, self.model.stage_ids)
        if moved is not None:
            self.transitions.append(moved)

    def _record(self, state: LeadState, outcome: Outcome, event_type: str, entered_at: float | None, at: float) -> None:
        if not state.lead.startswith("anon:"):
            self.transitions.extend(transitions_from_outcome(state.lead, outcome, event_type, entered_at, at=at))

    def _update_account(self, state: LeadState, previous: str | None, event: Event | None) -> None:
        super()._update_account(state, previous, event)
        for key in dict.fromkeys((previous, state.account)):
            if key:
                self._move_account(key)

    def _move_account(self, key: str) -> None:
        account = self.accounts.get(key)
        if account is None or not account.members:
            return
        at, changes, event_type = self._moment
        ids = self.model.stage_ids
        stage = ids[self.model.stage_index_for(self.account_score(key))]
        before = self.account_stages.get(key)
        from_stage, since = before if before is not None else (None, None)
        direction = (
            "entry" if from_stage is None else ("forward" if ids.index(stage) > ids.index(from_stage) else "back")
        )
        transition = stage_transition(
            key, "account", at, from_stage, stage, since, cause_of(changes, direction, event_type), ids
        )
        if transition is not None:
            self.transitions.append(transition)
            self.account_stages[key] = (stage, at)


def replay(model: CompiledModel, events: Iterable[Event], until: date) -> VelocityReplay:
    return VelocityReplay(model).replay(events, until)


def report_from_events(model: CompiledModel, events: Iterable[Event], today: date) -> VelocityReport:
    """The report the morning of `today` would bring, had these events been scored live."""
    run = replay(model, events, today)
    return velocity_report(aggregate_days(run.transitions), run.snapshots, today, model.stage_ids)
