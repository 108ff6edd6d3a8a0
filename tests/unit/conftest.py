"""Small builders for core tests: a model from inline YAML, events at readable times."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from leadscore.core.compiler import CompiledModel, compile_model
from leadscore.core.engine import apply_event, new_lead
from leadscore.core.loader import load_text
from leadscore.core.state import Event, LeadState, Outcome
from leadscore.core.units import DAY

LEAD = "ann@acme.com"
T0 = 1_780_000_000.0 - (1_780_000_000.0 % DAY)  # a UTC midnight (2026-05-28, a Thursday)
_ids = itertools.count(1)


def model(text: str) -> CompiledModel:
    return compile_model(load_text(text))


def event(
    type_: str,
    day: float = 0,
    lead: str = LEAD,
    profile: dict[str, Any] | None = None,
    id: str | None = None,
    **properties: Any,
) -> Event:
    return Event(id or f"e{next(_ids)}", type_, lead, T0 + day * DAY, properties, profile)


class Lead:
    """A lead under test: feeds events and remembers each outcome."""

    def __init__(self, compiled: CompiledModel, key: str = LEAD) -> None:
        self.model = compiled
        self.state: LeadState = new_lead(compiled, key)
        self.outcomes: list[Outcome] = []

    def feed(self, *events: Event) -> Outcome:
        for item in events:
            self.outcomes.append(apply_event(self.model, self.state, item))
        return self.outcomes[-1]

    @property
    def changes(self):
        return [change for outcome in self.outcomes for change in outcome.changes]


@pytest.fixture
def lead_of():
    return Lead
