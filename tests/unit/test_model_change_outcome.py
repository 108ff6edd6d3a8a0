"""What a model change records for one lead: each score's move under rule `model change`, and only
the crossings the change itself caused (an alert already fired under the old model is not new)."""

from __future__ import annotations

from leadscore.core.compiler import compile_model
from leadscore.core.engine import apply_event, main_score, new_lead
from leadscore.core.loader import load_text
from leadscore.core.state import Event
from leadscore.service.replaying import model_change_outcome

OLD = """
alerts:
  lead: {threshold: 30, rearm_below: 10, notify: [sales@vendor.example]}
rules:
  - {id: visit, when: {event: page_view}, points: 10}
"""
NEW = OLD.replace("points: 10}", "points: 20}")


def scored(model_text: str, visits: int):
    model = compile_model(load_text(model_text))
    state = new_lead(model, "ann@acme.example")
    for i in range(visits):
        apply_event(model, state, Event(f"v{i}", "page_view", state.lead, 1_790_000_000.0 + i, {}))
    return model, state


def test_a_lead_the_change_pushes_over_a_threshold_gets_one_alert_caused_by_the_model():
    old_model, before = scored(OLD, 2)  # 20 points: under 30
    model, after = scored(NEW, 2)  # 40 points: over
    outcome = model_change_outcome(model, before, main_score(old_model, before), after, old_model.version, 5.0)
    assert [(a.name, a.event_id, a.ts) for a in outcome.alerts] == [("lead", f"model-{model.version}", 5.0)]
    [change] = [c for c in outcome.changes if c.dimension == "engagement"]
    assert (change.rule, change.delta, change.before, change.after) == ("model change", 20.0, 20.0, 40.0)
    assert old_model.version in change.why and model.version in change.why
    assert (outcome.score_before, outcome.score_after) == (20.0, 40.0)


def test_a_lead_already_over_the_threshold_is_not_alerted_again():
    old_model, before = scored(OLD, 4)  # 40: fired under the old model
    model, after = scored(NEW, 4)  # 80
    outcome = model_change_outcome(model, before, main_score(old_model, before), after, old_model.version, 5.0)
    assert outcome.alerts == []
    assert [c.delta for c in outcome.changes if c.dimension == "engagement"] == [40.0]


def test_an_unchanged_lead_records_no_change():
    old_model, before = scored(OLD, 1)
    model, after = scored(OLD.replace("sales@", "team@"), 1)  # another version, the same scores
    outcome = model_change_outcome(model, before, main_score(old_model, before), after, old_model.version, 5.0)
    assert outcome.changes == [] and outcome.alerts == []
