"""Calibration on hand-made events whose numbers are known: the seed's 5 + 3 + 4 = 12 -> 8.33 points, and a
conversion table counted by hand."""

from __future__ import annotations

import json

import pytest
from conftest import event, model

from leadscore.core.calibration import MIN_LEADS, calibrate, lead_threshold
from leadscore.core.loader import load_text
from leadscore.core.state import Event

STAGED = """\
name: staged
event_types: [demo_request]
stages:
  - {id: awareness, min: 0, max: 32}
  - {id: consideration, min: 33, max: 66}
  - {id: decision, min: 67, max: 99}
  - {id: sales_ready, min: 100}
rules:
  - {id: blog, when: {event: page_view}, points: 1, stage: awareness}
  - {id: whitepaper, when: {event: download}, points: 2, stage: consideration}
  - {id: webinar, when: {event: webinar_attend}, points: 3, stage: decision}
  - {id: demo, when: {event: demo_request}, points: 100, stage: decision}
  - {id: offer-click, when: {event: email_click}, points: 4}
"""

VISITS = """\
name: visits
rules:
  - {id: visit, when: {event: page_view}, points: 10}
alerts:
  lead: {threshold: 50}
"""


def journey(lead: str, awareness: int, consideration: int, webinars: int, start: float = 0) -> list[Event]:
    """Staged interactions spread over days, then a demo request: sales-ready on the last one."""
    kinds = ["page_view"] * awareness + ["download"] * consideration + ["webinar_attend"] * webinars
    events = [event(kind, start + index * 0.1, lead) for index, kind in enumerate(kinds)]
    return [*events, event("demo_request", start + len(kinds) * 0.1, lead)]


def visits(lead: str, count: int, start: float = 0) -> list[Event]:
    return [event("page_view", start + index * 0.01, lead, url="/") for index in range(count)]


# --- interactions before sales-ready (seed 003) ------------------------------------------------------


def test_the_seeds_equal_parts_from_three_sales_ready_leads() -> None:
    events = [
        *journey("a@acme.com", 5, 3, 3),  # 5 / 3 / 4 counting the demo request
        *journey("b@acme.com", 4, 4, 3),  # 4 / 4 / 4
        *journey("c@acme.com", 6, 2, 3),  # 6 / 2 / 4
        *visits("d@acme.com", 10),  # 10 points: never sales-ready, left out
        # after becoming sales-ready: not counted
        *[event("page_view", 5, "a@acme.com") for _ in range(4)],
        event("download", 5, "b@acme.com"),
        event("email_click", 5, "c@acme.com"),
    ]
    result = calibrate(model(STAGED), events)

    assert result.leads == 4
    assert [reach.lead for reach in result.reached] == ["a@acme.com", "b@acme.com", "c@acme.com"]
    assert [reach.interactions for reach in result.reached] == [
        {"awareness": 5, "consideration": 3, "decision": 4},
        {"awareness": 4, "consideration": 4, "decision": 4},
        {"awareness": 6, "consideration": 2, "decision": 4},
    ]
    assert {reach.by for reach in result.reached} == {"stage"}
    assert result.threshold == 100 and result.threshold_from == "sales_ready_score"
    assert result.sales_ready_stage == "sales_ready"

    stages = {row.stage: row for row in result.stages}
    assert list(stages) == ["awareness", "consideration", "decision"]  # sales_ready has no content
    assert [stages[s].average for s in stages] == [5, 3, 4]
    assert [stages[s].median for s in stages] == [5, 3, 4]
    assert result.total_average == 12
    assert result.points_per_interaction == pytest.approx(100 / 12)
    assert round(result.points_per_interaction) == 8
    for row in result.stages:
        assert row.suggested_points == pytest.approx(8.3333, abs=1e-4)
        assert row.suggested_readiness == pytest.approx(8.3333, abs=1e-4)
    assert stages["awareness"].stage_share == pytest.approx(500 / 12)
    assert stages["consideration"].stage_share == pytest.approx(25)
    # the model today: 1 per awareness item, 2 per consideration item, (3 + 100) / 2 per decision item
    assert [(stages[s].current_rules, stages[s].current_average_points) for s in stages] == [
        (1, 1),
        (1, 2),
        (2, 51.5),
    ]
    assert stages["decision"].current_readiness == 51.5
    assert result.too_few  # 3 < 20


def test_medians_differ_from_averages_when_one_lead_is_unusual() -> None:
    events = [*journey("a@acme.com", 1, 1, 0), *journey("b@acme.com", 2, 1, 0), *journey("c@acme.com", 9, 1, 0)]
    awareness = calibrate(model(STAGED), events).stages[0]
    assert (awareness.average, awareness.median) == (4, 2)


def test_the_lead_alert_threshold_counts_as_sales_ready_by_score() -> None:
    text = STAGED + "alerts:\n  lead: {threshold: 15}\n"
    events = [*visits("a@acme.com", 14), event("download", 1, "a@acme.com"), *visits("b@acme.com", 3)]
    result = calibrate(model(text), events)
    assert result.threshold == 15 and result.threshold_from == "lead"
    (reach,) = result.reached
    assert (reach.lead, reach.by, reach.score) == ("a@acme.com", "score", 16)
    assert reach.interactions == {"awareness": 14, "consideration": 1, "decision": 0}
    assert result.points_per_interaction == pytest.approx(100 / 15)


def test_the_lowest_lead_threshold_wins_and_account_alerts_do_not_count() -> None:
    text = (
        STAGED
        + "alerts:\n"
        + "  lead: {threshold: 90}\n"
        + "  ready: {kind: lead_qualified, threshold: 80}\n"
        + "  account: {threshold: 10}\n"
    )
    assert lead_threshold(load_text(text).spec) == (80, "ready")
    assert lead_threshold(load_text(STAGED).spec) == (100, "sales_ready_score")


def test_anonymous_visits_count_for_the_lead_they_are_linked_to() -> None:
    events = [
        *[event("page_view", index * 0.1, "anon:v-1") for index in range(5)],
        event("identify", 1, "a@acme.com", anonymous_id="v-1"),
        *journey("a@acme.com", 0, 3, 3, start=2),
    ]
    result = calibrate(model(STAGED), events)
    assert result.leads == 1
    (reach,) = result.reached
    assert reach.interactions == {"awareness": 5, "consideration": 3, "decision": 4}


def test_no_lead_sales_ready_gives_no_split() -> None:
    result = calibrate(model(STAGED), visits("a@acme.com", 5))
    assert result.reached == ()
    assert result.total_average == 0 and result.points_per_interaction is None
    assert [row.average for row in result.stages] == [0, 0, 0]
    assert result.too_few


# --- does the threshold separate converting leads (seed 004) -----------------------------------------


def conversion_events() -> list[Event]:
    """Peak scores before converting, counted by hand (10 points a visit, threshold 50)."""
    return [
        *visits("p1@acme.com", 6),  # 60, converts
        event("deal_won", 1, "p1@acme.com"),
        *visits("p2@acme.com", 6),  # 60, does not
        *visits("p3@acme.com", 3),  # 30, converts, and the 100 points after it do not count
        event("deal_won", 1, "p3@acme.com"),
        *visits("p3@acme.com", 10, start=2),
        *visits("p4@acme.com", 2),  # 20, does not
        event("crm_note", 1, "p4@acme.com", note="call in Q1"),  # a type the model does not know
        *visits("p5@acme.com", 5),  # exactly 50, a customer
        event("customer", 1, "p5@acme.com"),
        *visits("p6@acme.com", 4),  # 40, an opportunity
        event("opportunity_created", 1, "p6@acme.com"),
        *visits("p7@acme.com", 7),  # 70, does not
        event("deal_won", 1, "p8@acme.com"),  # converted without any scored activity
        event("deal_won", 1, "p8@acme.com", id="p8-won"),  # a second one changes nothing
    ]


def cells(check) -> tuple[int, int, int, int]:
    return check.converted_qualified, check.converted_not_qualified, check.not_converted_qualified, check.neither


def test_the_confusion_table_at_the_threshold_and_nearby() -> None:
    result = calibrate(model(VISITS), conversion_events())
    conversion = result.conversion
    assert conversion is not None
    assert conversion.types == ("customer", "deal_won", "opportunity_created")
    assert (conversion.leads, conversion.converted) == (8, 5)

    current = conversion.current
    assert current.threshold == 50
    assert cells(current) == (2, 3, 2, 1)  # p1 p5 | p3 p6 p8 | p2 p7 | p4
    assert (current.qualified, current.converted) == (4, 5)
    assert current.precision == 0.5
    assert current.recall == 0.4

    nearby = {check.threshold: check for check in conversion.alternatives}
    assert list(nearby) == [30, 40, 60, 70]
    assert cells(nearby[30]) == (4, 1, 2, 1)
    assert (nearby[30].precision, nearby[30].recall) == (pytest.approx(2 / 3), 0.8)
    assert cells(nearby[40]) == (3, 2, 2, 1)
    assert cells(nearby[60]) == (1, 4, 2, 1)
    assert cells(nearby[70]) == (0, 5, 1, 2)
    assert (nearby[70].precision, nearby[70].recall) == (0, 0)
    assert conversion.better() is nearby[30]  # best balance of precision and recall
    assert conversion.too_few  # 4 qualified < 20

    assert result.unknown_event_types == {"crm_note": 1, "customer": 1, "deal_won": 4, "opportunity_created": 1}


def test_an_explicit_conversion_type_counts_only_that_type() -> None:
    conversion = calibrate(model(VISITS), conversion_events(), ["deal_won"]).conversion
    assert conversion is not None and conversion.types == ("deal_won",)
    assert cells(conversion.current) == (1, 2, 3, 2)  # p1 | p3 p8 | p2 p5 p7 | p4 p6


def test_no_conversion_events_means_no_table() -> None:
    result = calibrate(model(VISITS), visits("a@acme.com", 6))
    assert result.conversion is None
    assert result.conversion_types == ("customer", "deal_won", "opportunity_created")
    assert result.unknown_event_types == {}
    missing = calibrate(model(VISITS), conversion_events(), ["signed_contract"])
    assert missing.conversion is None and missing.conversion_types == ("signed_contract",)


def test_enough_qualified_leads_lift_the_warnings() -> None:
    events = []
    for number in range(MIN_LEADS):
        lead = f"l{number}@acme.com"
        events += journey(lead, 2, 1, 1, start=number)
        if number % 2:
            events.append(event("deal_won", number + 0.9, lead))
    events += visits("cold@acme.com", 3)
    result = calibrate(model(STAGED), events)
    assert len(result.reached) == MIN_LEADS and not result.too_few
    assert result.conversion is not None and not result.conversion.too_few
    assert cells(result.conversion.current) == (10, 0, 10, 1)


def test_the_result_is_plain_json() -> None:
    data = json.loads(json.dumps(calibrate(model(VISITS), conversion_events()).as_dict()))
    assert data["threshold"] == 50 and data["leads"] == 8
    assert data["conversion"]["current"]["precision"] == 0.5
    assert [alt["threshold"] for alt in data["conversion"]["alternatives"]] == [30, 40, 60, 70]
    assert data["interactions"]["stages"] == [] and data["interactions"]["points_per_interaction"] is None
    assert data["unknown_event_types"]["crm_note"] == 1
