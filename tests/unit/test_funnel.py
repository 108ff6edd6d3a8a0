"""The demo's funnel generator (local/funnel.py): seeded, always within the retention window, and
every event and form answer one the doors accept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from leadscore.core.compiler import compile_model
from leadscore.core.events import parse_event
from leadscore.core.loader import load_model
from leadscore.core.simulation import known_event_types, simulate
from leadscore.ingest.forms import submission_event, validate_submission
from leadscore.local.funnel import DAY, FormPost, Funnel, event_time, generate
from leadscore.settings import Settings

RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = 1_796_000_000.0  # 2026-11-30T00:53:20Z
RETENTION_DAYS = Settings().event_retention_days  # what the tracking door keeps (and accepts)


@pytest.fixture(scope="module")
def model():
    return compile_model(load_model(RULES))


@pytest.fixture(scope="module")
def funnel() -> Funnel:
    return generate(NOW, seed=7, leads=200)


def _times(funnel: Funnel) -> list[float]:
    return [event_time(event) for event in funnel.events] + [form.ts for form in funnel.forms]


def test_the_same_seed_gives_the_same_funnel_and_another_seed_another():
    # Given two funnels from one seed and one from another
    first, again, other = (
        generate(NOW, seed=3, leads=80),
        generate(NOW, seed=3, leads=80),
        generate(NOW, seed=4, leads=80),
    )
    # Then the first two are identical, event ids included, and the third is not
    assert first.events == again.events and first.forms == again.forms and first.leads == again.leads
    assert first.events != other.events


def test_the_default_funnel_has_these_exact_counts(funnel):
    assert len(funnel.leads) == 200
    assert len({lead.email for lead in funnel.leads}) == 200
    assert (
        len({lead.company.domain for lead in funnel.leads if lead.company}) == 40
    )  # 39 of the 40 companies, the competitor
    assert (len(funnel.events), len(funnel.forms)) == (835, 27)
    assert Counter(form.form_id for form in funnel.forms) == {"nps-survey": 21, "contact-sales": 6}
    assert funnel.journeys() == {
        "browsing": 78,
        "researching": 34,
        "gone_cold": 32,
        "nps_customer": 21,
        "evaluating": 17,
        "unsubscribed": 6,
        "job_seeker": 6,
        "sales_ready": 4,
        "competitor": 2,
    }


def test_only_the_timestamps_move_with_now(funnel):
    # Given the same seed generated three days and five hours later
    later = generate(NOW + 3 * DAY + 5 * 3600, seed=7, leads=200)
    # Then the same events happen, each shifted by the same amount
    assert [(e["id"], e["type"], e["email"], e.get("properties")) for e in later.events] == [
        (e["id"], e["type"], e["email"], e.get("properties")) for e in funnel.events
    ]
    shifts = {round(event_time(b) - event_time(a)) for a, b in zip(funnel.events, later.events, strict=True)}
    assert shifts == {3 * 86400 + 5 * 3600}


def test_every_time_is_in_the_past_and_within_the_retention_window(funnel):
    times = _times(funnel)
    assert all(NOW - RETENTION_DAYS * DAY <= ts <= NOW for ts in times)
    assert all(
        NOW - funnel.weeks * 7 * DAY <= ts <= NOW - 3600 for ts in times
    )  # eight weeks, nothing in the last hour
    assert min(times) < NOW - 50 * DAY and max(times) > NOW - 3 * DAY  # it spans the weeks


def test_every_event_parses_as_the_tracking_door_parses_it(funnel, model):
    known = known_event_types(model)
    parsed = [parse_event(event, known, model.spec.nps) for event in funnel.events]
    assert len({event.id for event in parsed}) == len(parsed)
    assert {event.type for event in parsed} >= {
        "identify",
        "page_view",
        "email_open",
        "email_click",
        "download",
        "video_play",
        "webinar_register",
        "webinar_attend",
        "demo_request",
        "email_unsubscribe",
    }
    assert any("position" in event.properties and event.properties.get("percent") for event in parsed)  # seconds -> %
    assert any(str(event.properties.get("url", "")).endswith("/pricing") for event in parsed)


def test_every_form_answer_passes_its_forms_validation(funnel, model):
    for form in funnel.forms:
        fields = {name: values[0] for name, values in parse_qs(form.body(), keep_blank_values=True).items()}
        submission = validate_submission(form.form_id, model.spec.forms[form.form_id], fields)
        assert not submission.is_bot and submission.email == form.email
        parse_event(submission_event(submission, form.ts), known_event_types(model), model.spec.nps)
    answers = [int(form.fields["nps"]) for form in funnel.forms if form.form_id == "nps-survey"]
    assert any(score <= 6 for score in answers) and any(score >= 9 for score in answers)  # detractors and promoters
    bant = [form.fields for form in funnel.forms if form.form_id == "contact-sales"]
    assert {fields["authority"] for fields in bant} >= {"decision_maker", "student"} or len(bant) < 3


def test_the_journeys_end_where_they_should(funnel, model):
    # When the whole funnel (forms as form_submit events) is replayed through the model
    result = simulate(model, [parse_event(event) for event in funnel.as_events()], NOW).report()
    journey = {lead.email: lead.journey for lead in funnel.leads}
    by_journey: dict[str, list[dict]] = {}
    for lead in result["leads"]:
        by_journey.setdefault(journey[lead["lead"]], []).append(lead)
    # Then the hand-raisers are sales-ready, the cold ones cold, the competitors at the bottom
    assert all(lead["stage"] == "sales_ready" for lead in by_journey["sales_ready"])
    assert all(lead["cold"] for lead in by_journey["gone_cold"])
    assert all(lead["score"] == 0 for lead in by_journey["competitor"])
    assert all(lead["stage"] == "awareness" for lead in by_journey["browsing"])
    kinds = Counter(alert["kind"] for alert in result["alerts"])
    assert kinds["lead_score"] >= 4 and kinds["nps_detractor"] >= 1 and kinds["engaged_buyers"] >= 1


def test_scores_do_not_depend_on_the_time_of_day_or_weekday_of_now(model):
    # Given one seed generated at two clocks that differ by 2 days 7 hours (other days, other weeks)
    def outcome(now: float) -> tuple[list[tuple[str, float, str]], Counter[str]]:
        funnel = generate(now, seed=11, leads=120)
        report = simulate(model, [parse_event(event) for event in funnel.as_events()], now).report()
        leads = sorted((lead["lead"], round(lead["score"], 6), lead["stage"]) for lead in report["leads"])
        return leads, Counter(alert["kind"] for alert in report["alerts"])

    # Then every lead ends with the same score and stage, and the same alerts fire
    assert outcome(NOW) == outcome(NOW + 2 * DAY + 7 * 3600)


def test_a_form_post_is_the_body_a_browser_sends_and_the_event_simulate_reads():
    form = FormPost(
        "nps-survey", NOW - DAY, {"email": "a@b.example", "nps": "9", "comment": "ok & fine", "website": ""}
    )
    assert form.body() == "email=a%40b.example&nps=9&comment=ok+%26+fine&website="
    event = form.event("form-1")
    assert event["profile"] == {"nps": 9, "comment": "ok & fine"} and event["properties"] == {"form": "nps-survey"}


def test_impossible_sizes_are_refused():
    with pytest.raises(ValueError):
        generate(NOW, leads=1)
    with pytest.raises(ValueError):
        generate(NOW, accounts=41)
