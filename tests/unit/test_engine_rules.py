"""Each rule kind of the language, scored through apply_event."""

from __future__ import annotations

import json

import pytest
from conftest import LEAD, T0, Lead, event, model

from leadscore.core.engine import apply_decay, main_score, new_lead, score_event, view
from leadscore.core.state import LeadState
from leadscore.core.units import DAY

WHITEPAPER = """
rules:
  - id: wp
    description: Downloaded a white paper
    when: {event: download, asset: "whitepaper-*"}
    readiness: 30%
    stage: consideration
    limit: once
"""


def test_readiness_is_a_percentage_of_the_sales_ready_score():
    ann = Lead(model(WHITEPAPER))
    outcome = ann.feed(event("download", asset="Whitepaper-AI"))
    assert outcome.score_after == 30
    change = outcome.changes[0]
    assert (change.rule, change.dimension, change.delta, change.before, change.after) == ("wp", "engagement", 30, 0, 30)
    assert change.why == "Downloaded a white paper: readiness 30% x 100 = 30"


def test_changing_the_sales_ready_score_rescales_every_percentage_rule():
    ann = Lead(
        model(
            "sales_ready_score: 200\nstages: [{id: all, min: 0}]\n"
            + WHITEPAPER.replace("    stage: consideration\n", "")
        )
    )
    assert ann.feed(event("download", asset="whitepaper-x")).score_after == 60


def test_events_that_do_not_match_give_nothing():
    ann = Lead(model(WHITEPAPER))
    assert ann.feed(event("download", asset="case-study-1"), event("page_view", url="/whitepaper-x")).changes == []
    assert main_score(ann.model, ann.state) == 0


def test_once_per_lead():
    ann = Lead(model(WHITEPAPER))
    ann.feed(event("download", asset="whitepaper-a"))
    second = ann.feed(event("download", asset="whitepaper-b", day=30))
    assert second.changes == [] and second.skipped[0].reason == "limit: once per lead, already given"


def test_negative_points_lower_engagement_down_to_the_floor_and_history_keeps_the_delta():
    ann = Lead(
        model(
            """
rules:
  - {id: visit, when: {event: page_view}, points: 10}
  - {id: unsub, when: {event: email_unsubscribe}, points: -25}
"""
        )
    )
    ann.feed(event("page_view"))
    outcome = ann.feed(event("email_unsubscribe"))
    change = outcome.changes[0]
    assert (change.delta, change.before, change.after) == (-25, 10, 0)
    assert outcome.score_after == 0
    # re-engaging counts from the floor, not from -15
    assert ann.feed(event("page_view")).score_after == 10


def test_max_per_day_counts_in_the_event_own_day_even_when_it_arrives_late():
    ann = Lead(model("rules:\n  - {id: visit, when: {event: page_view}, points: 1, limit: {max: 2, per: day}}\n"))
    ann.feed(event("page_view", day=0), event("page_view", day=0.1), event("page_view", day=0.2))
    assert ann.state.engagement == 2
    ann.feed(event("page_view", day=1.5))  # the next day
    late = ann.feed(event("page_view", day=0.9))  # late: day 0 is full already
    assert late.changes == [] and "at most 2 per day" in late.skipped[0].reason
    late_other_day = ann.feed(event("page_view", day=1.1))  # day 1 has one credit: room for one more
    assert late_other_day.changes[0].delta == 1
    assert ann.state.engagement == 4


@pytest.mark.parametrize(
    ("per", "days", "credited"), [("week", [0, 1, 2, 3, 4, 5, 6, 7, 8], None), ("month", [0, 10, 20, 40], None)]
)
def test_max_per_week_and_month_follow_calendar_periods(per, days, credited):
    from leadscore.core.compiler import period_bucket

    ann = Lead(model(f"rules:\n  - {{id: r, when: {{event: page_view}}, points: 1, limit: {{max: 1, per: {per}}}}}\n"))
    ann.feed(*[event("page_view", day=d) for d in days])
    periods = {period_bucket(per, T0 + d * DAY) for d in days}
    assert ann.state.engagement == len(periods)


def test_cooldown_blocks_credits_closer_than_the_cooldown_on_either_side():
    ann = Lead(model("rules:\n  - {id: click, when: {event: email_click}, points: 3, limit: {cooldown: 1h}}\n"))
    ann.feed(event("email_click", day=0))
    assert ann.feed(event("email_click", day=0.5 / 24)).changes == []  # 30 min later
    assert ann.feed(event("email_click", day=2 / 24)).changes[0].delta == 3  # 2 h later
    assert ann.feed(event("email_click", day=1.5 / 24)).changes == []  # late, 30 min from both


def test_rule_cap_clips_the_last_credit_and_then_stops():
    ann = Lead(model("rules:\n  - {id: cs, when: {event: download}, points: 20, cap: 50}\n"))
    deltas = [ann.feed(event("download")).changes for _ in range(4)]
    assert [c[0].delta if c else 0 for c in deltas] == [20, 20, 10, 0]
    assert "(rule cap 50)" in deltas[2][0].why
    assert ann.outcomes[-1].skipped[0].reason == "cap reached"


def test_group_cap_bounds_all_rules_of_the_group_together():
    ann = Lead(
        model(
            """
groups: {email: {cap: 10}}
rules:
  - {id: open, when: {event: email_open}, points: 4, group: email}
  - {id: click, when: {event: email_click}, points: 3, group: email}
"""
        )
    )
    for _ in range(3):
        ann.feed(event("email_open"), event("email_click"))
    assert ann.state.engagement == 10
    assert ann.state.rule_points == {"open": 7, "click": 3}


def test_extra_scores_take_points_besides_or_instead_of_the_main_score():
    ann = Lead(
        model(
            """
scores: {analytics: {}, payments: {floor: -5}}
rules:
  - {id: docs, when: {event: page_view, url: "*/docs/*"}, points: 2, scores: [analytics]}
  - {id: trial, when: {event: trial_start}, points: 40, scores: [main, analytics]}
  - {id: refund, when: {event: refund_page}, points: -10, scores: [payments]}
event_types: [trial_start, refund_page]
"""
        )
    )
    ann.feed(event("page_view", url="https://x/docs/a"), event("trial_start"), event("refund_page"))
    assert ann.state.extras == {"analytics": 42, "payments": -5}
    assert ann.state.engagement == 40
    assert view(ann.model, ann.state, T0)["extras"] == {"analytics": 42, "payments": -5}


FIT = """
rules:
  - {id: director, fit: {job_title: {contains: [director, head of]}}, readiness: 30%}
  - {id: big, fit: {employees: {min: 1000}}, readiness: 30%}
  - {id: competitor, fit: {email: {domain: rival.com}}, points: -100}
  - {id: visit, when: {event: page_view}, points: 10}
"""


def test_fit_counts_at_most_the_explicit_share_so_fit_alone_is_never_sales_ready():
    ann = Lead(model(FIT))
    outcome = ann.feed(event("identify", profile={"job_title": "Head of Data", "employees": 5000}))
    assert [(c.rule, c.delta) for c in outcome.changes if c.dimension == "fit"] == [("director", 30), ("big", 30)]
    assert outcome.score_after == 50  # 60 fit, counted up to 50% of 100
    facts = view(ann.model, ann.state, T0)
    assert (facts["fit"], facts["fit_counted"]) == (60, 50)


def test_fit_rules_follow_the_profile_when_it_changes():
    ann = Lead(model(FIT))
    ann.feed(event("identify", profile={"job_title": "Director", "employees": 10}))
    outcome = ann.feed(event("identify", profile={"job_title": "Analyst", "employees": 2000}))
    assert sorted((c.rule, c.delta) for c in outcome.changes) == [("big", 30), ("director", -30)]
    assert ann.state.fit_rules == {"big": 30}
    removed = ann.feed(event("identify", profile={"employees": None}))  # a cleared field
    assert [(c.rule, c.delta, c.why) for c in removed.changes] == [("big", -30, "profile no longer matches")]


def test_email_domain_alone_scores_fit_on_the_first_event():
    spy = Lead(model(FIT), "spy@rival.com")
    outcome = spy.feed(event("page_view", lead="spy@rival.com"))
    assert [(c.rule, c.delta) for c in outcome.changes] == [("competitor", -100), ("visit", 10)]
    assert outcome.score_after == 0


def test_counters_count_interactions_per_content_stage_and_named_counters():
    ann = Lead(
        model(
            """
rules:
  - {id: blog, when: {event: page_view, url: "*/blog/*"}, points: 1, stage: awareness, limit: once}
  - {id: blog2, when: {event: page_view, url: "*/blog/deep-*"}, points: 1, stage: awareness}
  - {id: demo, when: {event: demo_request}, points: 60, stage: decision, counter: demos}
event_types: [demo_request]
"""
        )
    )
    ann.feed(event("page_view", url="/blog/deep-dive"), event("page_view", url="/blog/b"), event("demo_request"))
    # one interaction per event per stage, even when two rules of that stage match or a limit held the points
    assert ann.state.counters == {"awareness": 2, "decision": 1, "demos": 1}


STAGED = """
stages:
  - {id: awareness, min: 0, max: 32}
  - {id: consideration, min: 33, max: 66}
  - {id: decision, min: 67, max: 99}
  - {id: sales_ready, min: 100, requires_content: false}
advance_requires_content: GATED
rules:
  - {id: blog, when: {event: page_view}, points: 20, stage: awareness}
  - {id: wp, when: {event: download}, points: 5, stage: consideration, limit: once}
  - {id: pricing, when: {event: pricing}, points: 5, stage: decision}
event_types: [pricing]
"""


def test_stages_are_score_bands_and_every_move_is_in_the_history():
    ann = Lead(model(STAGED.replace("GATED", "false")))
    stages = [ann.feed(event("page_view", day=d)).stage_after for d in range(5)]
    assert stages == ["awareness", "consideration", "consideration", "decision", "sales_ready"]
    assert [entry[0] for entry in ann.state.stage_history] == [
        "awareness",
        "consideration",
        "decision",
        "sales_ready",
    ]
    move = next(c for c in ann.changes if c.dimension == "stage" and c.after == "decision")
    assert move.why == "score 80 after blog"


def test_with_gating_a_lead_enters_a_stage_only_after_content_of_that_stage():
    ann = Lead(model(STAGED.replace("GATED", "true")))
    for day in range(3):
        ann.feed(event("page_view", day=day))  # 60 points of awareness content
    assert ann.state.stage == "awareness"
    assert [entry[0] for entry in ann.state.stage_history] == ["awareness"]
    ann.feed(event("download", day=3))  # consideration content
    assert ann.state.stage == "consideration"
    ann.feed(event("download", day=4))  # no points (once), still counts as an interaction
    ann.feed(event("page_view", day=5), event("page_view", day=6))  # 105 points, no decision content
    assert ann.state.stage == "consideration"
    ann.feed(event("pricing", day=7))
    assert ann.state.stage == "sales_ready"  # sales_ready itself needs no content


def test_grade_temperature_and_matrix_label():
    compiled = model(FIT + "fit_grades: {A: 40, B: 20, C: 0}\ntemperature: {hot: 30, warm: 10, cold: 0}\n")
    ann = Lead(compiled)
    ann.feed(event("identify", profile={"job_title": "Director", "employees": 9000}))
    ann.feed(*[event("page_view") for _ in range(3)])
    facts = view(compiled, ann.state, T0)
    assert (facts["grade"], facts["temperature"], facts["matrix"]) == ("A", "hot", "A1")
    cold_lead = Lead(compiled, "bob@x.org")
    cold_lead.feed(event("identify", lead="bob@x.org", profile={"job_title": "intern"}))
    assert view(compiled, cold_lead.state, T0)["matrix"] == "C3"


def test_momentum_tells_active_from_latent_leads():
    compiled = model(
        "momentum: {window: 7d, active_at: 30}\nrules:\n  - {id: v, when: {event: page_view}, points: 10}\n"
    )
    burst, latent = Lead(compiled, "a@x.org"), Lead(compiled, "b@x.org")
    burst.feed(*[event("page_view", lead="a@x.org", day=60 + d / 10) for d in range(3)])
    latent.feed(*[event("page_view", lead="b@x.org", day=d * 20) for d in range(4)])
    now = T0 + 61 * DAY
    assert view(compiled, burst.state, now)["activity"] == "active"
    assert view(compiled, latent.state, now)["activity"] == "latent"
    assert view(compiled, latent.state, now)["momentum"] == 10


@pytest.mark.parametrize(
    ("answer", "category"),
    [(0, "detractor"), (6, "detractor"), (7, "passive"), (9, "promoter"), ("10", "promoter"), ("n/a", None)],
)
def test_nps_answer_is_stored_and_categorised(answer, category):
    compiled = model("nps: {field: nps}\n")
    ann = Lead(compiled)
    ann.feed(event("form_submit", profile={"nps": answer}))
    facts = view(compiled, ann.state, T0)
    assert facts["nps"] == answer and facts["nps_category"] == category


ALERTING = """
alerts:
  lead: {threshold: 50, rearm_below: 30}
decay: {after_inactive: 10d, every: 5d, percent: 50%, floor: 0}
cold_lead: {no_increase_for: 20d}
rules:
  - {id: v, when: {event: page_view}, points: 20}
"""


def test_lead_alert_fires_once_per_crossing_and_again_after_rearming():
    compiled = model(ALERTING)
    ann = Lead(compiled)
    alerts = [ann.feed(event("page_view", day=d)).alerts for d in (0, 0.1, 0.2, 0.3)]
    assert [len(a) for a in alerts] == [0, 0, 1, 0]
    assert alerts[2][0].score == 60 and alerts[2][0].threshold == 50
    apply_decay(compiled, ann.state, T0 + 30 * DAY)  # 80 -> 10: below 30, re-armed
    assert "lead" not in ann.state.disarmed
    assert ann.state.engagement == 5  # four decay steps of 50%
    refire = [ann.feed(event("page_view", day=31 + d / 10)).alerts for d in range(3)]
    assert [len(a) for a in refire] == [0, 0, 1]


def test_decay_steps_after_inactivity_only_on_engagement_and_not_below_its_floor():
    compiled = model(ALERTING + "  - {id: boss, fit: {job_title: boss}, points: 20}\n")
    ann = Lead(compiled)
    ann.feed(event("page_view", day=0, profile={"job_title": "boss"}), event("page_view", day=0))
    assert ann.state.engagement == 40
    assert apply_decay(compiled, ann.state, T0 + 9 * DAY).changes == []  # not inactive long enough
    first = apply_decay(compiled, ann.state, T0 + 10 * DAY)
    assert (first.changes[0].before, first.changes[0].after) == (40, 20)
    assert apply_decay(compiled, ann.state, T0 + 10 * DAY).changes == []  # idempotent for the same now
    later = apply_decay(compiled, ann.state, T0 + 20 * DAY)  # two more steps: 20 -> 5
    assert later.changes[0].after == 5 and "2 decay step(s)" in later.changes[0].why
    assert main_score(compiled, ann.state) == 25  # fit untouched


def test_points_decay_stops_at_its_floor():
    compiled = model(
        "decay: {after_inactive: 1d, every: 1d, points: 15, floor: 10}\nrules:\n  - {id: v, when: {event: page_view}, points: 40}\n"
    )
    ann = Lead(compiled)
    ann.feed(event("page_view"))
    apply_decay(compiled, ann.state, T0 + 100 * DAY)
    assert ann.state.engagement == 10


def test_a_lead_whose_score_has_not_risen_for_a_while_is_cold():
    compiled = model(ALERTING)
    ann = Lead(compiled)
    ann.feed(event("page_view", day=0))
    assert view(compiled, ann.state, T0 + 19 * DAY)["cold"] is False
    assert view(compiled, ann.state, T0 + 20 * DAY)["cold"] is True


def test_the_same_event_twice_scores_once():
    ann = Lead(model("rules:\n  - {id: v, when: {event: page_view}, points: 5}\n"))
    once = event("page_view", id="same")
    ann.feed(once)
    again = ann.feed(once)
    assert again.status == "duplicate" and again.changes == []
    assert ann.state.engagement == 5


def test_events_further_behind_than_the_late_window_are_not_scored():
    ann = Lead(model("late_events_window: 2d\nrules:\n  - {id: v, when: {event: page_view}, points: 5}\n"))
    ann.feed(event("page_view", day=10))
    assert ann.feed(event("page_view", day=8.5)).status == "scored"
    assert ann.feed(event("page_view", day=7.9)).status == "late"


def test_state_survives_a_json_round_trip_and_scores_the_same_afterwards():
    clicks = "  - {id: c, when: {event: email_click}, points: 1, limit: {cooldown: 1h, max: 3, per: week}}\n"
    compiled = model(
        STAGED.replace("GATED", "true").replace("event_types: [pricing]\n", clicks + "event_types: [pricing]\n")
    )
    ann = Lead(compiled)
    ann.feed(event("page_view"), event("download"), event("email_click"), event("pricing", profile={"x": 1}))
    stored = json.loads(json.dumps(ann.state.to_dict()))
    twin = LeadState.from_dict(stored)
    assert twin == ann.state
    follow_up = [event("email_click", day=0.01), event("email_click", day=1), event("page_view", day=1)]
    for item in follow_up:
        assert score_event(compiled, twin, item)[1] == score_event(compiled, ann.state, item)[1]


def test_score_event_leaves_its_input_untouched():
    compiled = model(WHITEPAPER)
    state = new_lead(compiled, LEAD)
    before = json.dumps(state.to_dict(), sort_keys=True)
    new_state, outcome = score_event(compiled, state, event("download", asset="whitepaper-1"))
    assert json.dumps(state.to_dict(), sort_keys=True) == before
    assert new_state.engagement == 30 and outcome.score_after == 30


def test_a_new_lead_knows_its_account_from_its_email():
    compiled = model("accounts: {free_mail_domains: [mailinator.com]}\n")
    assert new_lead(compiled, "ann@Acme.com").account == "acme.com"
    assert new_lead(compiled, "ann@gmail.com").account is None
    assert new_lead(compiled, "ann@mailinator.com").account is None
    assert new_lead(compiled, "anon:123").account is None


def test_lead_state_stays_small_because_old_limit_state_is_pruned():
    ann = Lead(
        model(
            "late_events_window: 2d\nrules:\n  - {id: v, when: {event: page_view}, points: 0.01, limit: {max: 5, per: day, cooldown: 1m}}\n"
        )
    )
    for day in range(200):
        ann.feed(*[event("page_view", day=day + i / 100) for i in range(3)])
    assert len(ann.state.seen) <= 3 * 4  # only the late window's events
    assert len(ann.state.buckets["v"]) <= 4
    assert len(ann.state.fire_times["v"]) <= 3 * 4


def test_clone_copies_every_field_and_shares_nothing_mutable():
    from dataclasses import fields

    compiled = model(
        "rules:\n  - {id: c, when: {event: email_click}, points: 1, limit: {cooldown: 1m, max: 5, per: day}}\n"
    )
    ann = Lead(compiled)
    ann.feed(event("email_click", profile={"tags": ["a"]}), event("email_click", day=1))
    twin = ann.state.clone()
    assert twin == ann.state
    for item in fields(LeadState):
        value = getattr(twin, item.name)
        if isinstance(value, dict | list):
            assert value is not getattr(ann.state, item.name), item.name
    assert twin.buckets["c"] is not ann.state.buckets["c"]
    assert twin.profile["tags"] is not ann.state.profile["tags"]
