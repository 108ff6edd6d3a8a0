"""A lead rebuilt from its event log under the deployed model: what a model change does to it.

The event log keeps every accepted event as received, so a lead's state under a new model is
its logged events replayed from scratch, the way `simulate` replays an events file: in time
order, anonymous browsing credited once the visitor was linked, decay caught up before each
event. The scoring path calls this when it loads a lead whose state was built under another
model version (a rescore run's visit, or a live event that got there first), so a lead never
mixes points of two models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..adapters.dynamodb import LeadRepository, StoredLead
from ..core.compiler import CompiledModel
from ..core.engine import fit_points, main_score, new_lead
from ..core.events import EventError, anonymous_lead, parse_event
from ..core.simulation import Simulation
from ..core.state import Alert, Change, Event, LeadState, Outcome

MODEL_CHANGE = "model_change"  # like ticks, not an event type anyone can send (the doors refuse it)
MAX_REPLAYED = 100  # an anonymous visitor brings its newest 100 events, as when it was linked


def model_change_event(lead: str, at: float, version: str) -> Event:
    """A rescore run's visit to one lead: replay it under `version` and catch decay up to `at`."""
    return Event(f"model:{version}", MODEL_CHANGE, lead, at, {})


@dataclass
class Replayed:
    state: LeadState
    events: int  # logged events replayed (the anonymous visitor's included)


def _parsed(payloads: list[dict[str, Any]], lead: str | None = None) -> list[Event]:
    events = []
    for payload in payloads:
        try:
            event = parse_event(payload)
        except EventError:
            continue  # accepted once under an older format; the live path skips it the same way
        events.append(event if lead is None else event._replace(lead=lead))
    return events


def replay_lead(
    repository: LeadRepository, model: CompiledModel, lead: str, at: float, stored: StoredLead | None = None
) -> Replayed:
    """The lead as if every one of its logged events had been scored under `model` from the start,
    with decay and cold marking caught up to `at` (the visit's time, or the first new event's), so
    what the change moved is measured on the lead as it stands then, not as it stood at its last
    event (a quiet lead's decay would otherwise look like a second move at the same instant).
    `stored`: the lead as the caller loaded it (its item, where its newest events wait, is not read again)."""
    events = _parsed(repository.logged_events(lead, known=stored))
    for anonymous in dict.fromkeys(_linked(events)):
        alias = repository.load(anonymous)
        if alias is None or alias.merged_into != lead:
            continue  # the visitor was refused to this lead (it belonged to another): its browsing never moved it
        events.extend(_parsed(repository.logged_events(anonymous, newest=MAX_REPLAYED, known=alias), anonymous))
    newest = max((event.ts for event in events), default=at)
    run = Simulation(model, skip_unknown_types=True).run(events, max(at, newest))
    state = run.leads.get(lead)
    if state is None:  # nothing left to replay (its events are past the log's retention)
        state = new_lead(model, lead)
    return Replayed(state, len(events))


def linked_anonymous_id(event: Event) -> str | None:
    """An email event that carries an anonymous id links that visitor to the lead."""
    if event.lead.startswith("anon:"):
        return None
    for source in (event.properties, event.profile or {}):
        value = source.get("anonymous_id")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _linked(events: list[Event]) -> list[str]:
    found = []
    for event in events:
        anonymous_id = linked_anonymous_id(event)
        if anonymous_id is not None:
            found.append(anonymous_lead(anonymous_id))
    return found


def model_change_outcome(
    model: CompiledModel, before: LeadState, score_before: float, after: LeadState, old_version: str, at: float
) -> Outcome:
    """The model change as one history entry: how each score moved, and the lead alerts the
    change itself made cross (a crossing that already happened under the old model is not new)."""
    event_id = f"model:{old_version}->{model.version}"
    why = f"model {old_version} -> {model.version}: every logged event replayed under the new rules"
    changes = []

    def moved(dimension: str, old: float, new: float) -> None:
        if round(new - old, 9):
            changes.append(Change(event_id, "model change", dimension, new - old, old, new, why))

    moved("engagement", before.engagement, after.engagement)
    moved("fit", fit_points(before), fit_points(after))
    for name in sorted(set(before.extras) | set(after.extras)):
        moved(name, before.extras.get(name, 0.0), after.extras.get(name, 0.0))
    if before.stage != after.stage:  # forward or back by the new model's stages (a removed one counts as before all)
        step = model.stage_position.get(after.stage, 0) - model.stage_position.get(before.stage, -1)
        changes.append(Change(event_id, "model change", "stage", float(step), before.stage, after.stage, why))
    score_after = main_score(model, after)
    newly = [name for name in after.disarmed if name not in before.disarmed]
    alerts = [
        Alert(alert.kind, after.lead, score_after, alert.threshold, at, f"model-{model.version}", alert.name)
        for alert in model.lead_alerts
        if alert.name in newly
    ]
    return Outcome("scored", changes, score_before, score_after, before.stage, after.stage, alerts, [])

