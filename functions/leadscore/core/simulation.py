"""Replays events through a model in memory: what `simulate` and `diff` show before a merge.

It follows the production path's rules: events in time order; decay (extra scores included)
and cold marking caught up before each event and at the end, as the daily schedule does, so a
lead's scores equal what production stores after its scheduled decay; anonymous visits
credited to the lead once a form or identify links them; account scores and alerts
re-evaluated after every lead change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .accounts import aggregate
from .alerts import engaged_buyers
from .compiler import CompiledModel
from .engine import apply_decay, apply_event, main_score, mark_cold, new_lead, view
from .frozen import BUILTIN_EVENT_TYPES
from .state import Alert, Event, LeadState, Outcome


class Step(NamedTuple):
    """One engine call on the watched lead, in replay order: the unit of `simulate --lead`."""

    kind: str  # 'event', 'decay', 'cold', or 'unknown' (an event type the model does not know: not replayed)
    ts: float
    event: Event | None
    outcome: Outcome | None  # None for 'unknown'
    linked: bool = False  # an anonymous visit credited when the visitor was linked to the lead


def known_event_types(model: CompiledModel) -> frozenset[str]:
    """What the tracking door accepts: the built-in types and the model's `event_types`."""
    return frozenset((*BUILTIN_EVENT_TYPES, *model.spec.event_types))


@dataclass
class AccountResult:
    members: dict[str, float] = field(default_factory=dict)
    disarmed: set[str] = field(default_factory=set)  # account alerts that fired and wait to re-arm


@dataclass
class Simulation:
    model: CompiledModel
    leads: dict[str, LeadState] = field(default_factory=dict)
    accounts: dict[str, AccountResult] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # anon:<id> -> email lead
    pending: dict[str, list[Event]] = field(default_factory=dict)  # anonymous lead -> its events
    counts: dict[str, int] = field(default_factory=lambda: {"scored": 0, "duplicate": 0, "late": 0})
    now: float = 0.0  # the time views are computed at
    # the door refuses unknown types, so a replay of production skips them; calibration keeps them (CRM outcomes)
    skip_unknown_types: bool = False
    unknown_types: dict[str, int] = field(default_factory=dict)  # type -> events skipped
    watch: str | None = None  # a lead whose every engine call is kept in `steps`
    steps: list[Step] = field(default_factory=list)

    def run(self, events: Iterable[Event], at: float | None = None) -> Simulation:
        ordered = sorted(events, key=lambda e: e.ts)
        known = known_event_types(self.model) if self.skip_unknown_types else None
        for event in ordered:
            if at is not None and event.ts > at:
                break
            if known is not None and event.type not in known:
                self.unknown_types[event.type] = self.unknown_types.get(event.type, 0) + 1
                if self.watch is not None and self.aliases.get(event.lead, event.lead) == self.watch:
                    self.steps.append(Step("unknown", event.ts, event, None))
                continue
            self.feed(event)
        end = at if at is not None else (ordered[-1].ts if ordered else 0.0)
        for state in self.leads.values():
            self._catch_up(state, end)
        self.now = end
        return self

    def feed(self, event: Event) -> None:
        lead = self.aliases.get(event.lead, event.lead)
        if lead.startswith("anon:"):
            self.pending.setdefault(lead, []).append(event)
        linked = _linked_anonymous(event)
        state = self.leads.get(lead) or new_lead(self.model, lead)
        self.leads[lead] = state
        if linked and not lead.startswith("anon:") and f"anon:{linked}" not in self.aliases:
            anonymous = f"anon:{linked}"
            self.aliases[anonymous] = lead
            for earlier in self.pending.pop(anonymous, []):  # counted when they first arrived
                self._apply(state, earlier._replace(lead=lead), count=False)
            self.leads.pop(anonymous, None)
        self._apply(state, event._replace(lead=lead))

    def _apply(self, state: LeadState, event: Event, count: bool = True) -> None:
        self._catch_up(state, event.ts)
        account_before = state.account
        outcome = apply_event(self.model, state, event)
        if count:
            self.counts[outcome.status] += 1
        if state.lead == self.watch:
            self.steps.append(Step("event", event.ts, event, outcome, linked=not count))
        self.alerts.extend(outcome.alerts)
        if outcome.status == "scored":
            self._update_account(state, account_before, event)

    def _catch_up(self, state: LeadState, now: float) -> None:
        """What the scheduled function does to a quiet lead up to `now`: decay, then cold marking."""
        spec = self.model.spec
        if spec.decay is not None:
            outcome = apply_decay(self.model, state, now)
            self.alerts.extend(outcome.alerts)
            if outcome.changes:
                self._update_account(state, state.account, None)
                if state.lead == self.watch:
                    self.steps.append(Step("decay", now, None, outcome))
        if spec.cold_lead is not None:
            cooled = mark_cold(self.model, state, now)  # changes no score: accounts and alerts stay as they are
            if cooled.changes and state.lead == self.watch:
                self.steps.append(Step("cold", now, None, cooled))

    def _update_account(self, state: LeadState, previous: str | None, event: Event | None) -> None:
        if previous and previous != state.account and previous in self.accounts:
            self.accounts[previous].members.pop(state.lead, None)
        if not state.account:
            return
        account = self.accounts.setdefault(state.account, AccountResult())
        account.members[state.lead] = main_score(self.model, state)
        score = aggregate(account.members.values(), self.model.spec.accounts)
        for alert in self.model.account_alerts:
            if alert.kind == "engaged_buyers":
                value = float(engaged_buyers(account.members.values(), alert.buyer_score or 0.0))
                qualifies, threshold = value >= (alert.buyers or 1), float(alert.buyers or 1)
            else:
                value, qualifies, threshold = score, alert.qualifies(score), alert.threshold
            fired, armed = alert.step(alert.name not in account.disarmed, value, qualifies)
            if armed:
                account.disarmed.discard(alert.name)
            else:
                account.disarmed.add(alert.name)
            if fired:
                ts = event.ts if event else state.last_activity
                event_id = event.id if event else "decay"
                self.alerts.append(Alert(alert.kind, state.account, value, threshold, ts, event_id, alert.name))

    def account_score(self, account: str) -> float:
        return aggregate(self.accounts[account].members.values(), self.model.spec.accounts)

    def report(self) -> dict[str, Any]:
        """Leads and accounts as plain data, best first."""
        leads = [view(self.model, state, self.now) for state in self.leads.values()]
        leads.sort(key=lambda item: (-item["score"], item["lead"]))
        accounts = []
        for name, account in self.accounts.items():
            if not account.members:
                continue
            best = max(account.members.items(), key=lambda pair: (pair[1], pair[0]))
            accounts.append(
                {
                    "account": name,
                    "score": self.account_score(name),
                    "leads": len(account.members),
                    "top_lead": best[0],
                }
            )
        accounts.sort(key=lambda item: (-item["score"], item["account"]))
        return {
            "model_version": self.model.version,
            "at": self.now,
            "events": dict(self.counts),
            "unknown_event_types": dict(sorted(self.unknown_types.items())),
            "leads": leads,
            "accounts": accounts,
            "alerts": [alert._asdict() for alert in self.alerts],
        }


def _linked_anonymous(event: Event) -> str | None:
    for source in (event.properties, event.profile or {}):
        value = source.get("anonymous_id")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def simulate(
    model: CompiledModel, events: Iterable[Event], at: float | None = None, watch: str | None = None
) -> Simulation:
    """Replay as production would score it; `watch` keeps one lead's every step (see Step)."""
    return Simulation(model, skip_unknown_types=True, watch=watch).run(events, at)
