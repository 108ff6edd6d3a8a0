"""The daily run on moto, time frozen: decay and cold marking for the leads that are due, through
the scoring path; stored scores equal `leadscore simulate --at` the same instant; reruns and a
crash halfway change nothing more; a cold lead is published for nurturing and cleared by activity."""

from __future__ import annotations

from datetime import datetime

import pytest
from botocore.client import BaseClient

from leadscore.adapters.dynamodb import AlertItem, LeadItem, unpack_state
from leadscore.core.compiler import compile_model
from leadscore.core.events import parse_event
from leadscore.core.loader import load_text
from leadscore.core.simulation import simulate

MODEL = """
decay: {after_inactive: 30d, every: 7d, percent: 10%}
cold_lead: {no_increase_for: 45d}
scores:
  data_platform: {label: Data platform, decay: true}
stages:
  - {id: awareness, min: 0, max: 32}
  - {id: consideration, min: 33, max: 66}
  - {id: decision, min: 67}
alerts:
  lead: {threshold: 60, rearm_below: 40, notify: [sales@vendor.example]}
rules:
  - {id: visit, when: {event: page_view}, points: 10, scores: [main, data_platform]}
  - {id: webinar, when: {event: webinar_attend}, points: 30}
"""
DAY = 86_400.0


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def daily(api, tmp_path, monkeypatch):
    (tmp_path / "model.yaml").write_text(MODEL)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path))
    from leadscore.handlers import consumer, notifier, runtime, schedule

    runtime.reset()
    consumer.service.cache_clear()
    notifier.notifier.cache_clear()
    schedule.walker.cache_clear()
    api.schedule = schedule
    return api


def history() -> list[dict]:
    """The traffic of three leads over two months, as the consumer gets it."""
    events = []
    for i in range(3):  # ann: active early, then silent: decays and turns cold
        events.append({"id": f"a{i}", "type": "page_view", "email": "ann@acme.example", "timestamp": f"2026-08-0{i + 1}T09:00:00Z"})
    events.append({"id": "a9", "type": "webinar_attend", "email": "ann@acme.example", "timestamp": "2026-08-04T09:00:00Z"})
    for i in range(2):  # bob: a little activity in September
        events.append({"id": f"b{i}", "type": "page_view", "email": "bob@acme.example", "timestamp": f"2026-09-1{i}T09:00:00Z"})
    events.append({"id": "c0", "type": "webinar_attend", "email": "cy@acme.example", "timestamp": "2026-10-01T09:00:00Z"})
    return events


def score_directly(api, events: list[dict]) -> None:
    """Straight into the consumer (the doors refuse timestamps this old relative to the run's clock)."""
    from leadscore.adapters.queue import message_body
    from leadscore.local.stack import LambdaContext

    records = [
        {"messageId": event["id"], "body": message_body(parse_event(event), event, "tracking"), "attributes": {}}
        for event in events
    ]
    assert api.consumer.handler({"Records": records}, LambdaContext())["batchItemFailures"] == []


def stored() -> dict[str, dict]:
    return {item.lead: unpack_state(item.state) for item in LeadItem.scan() if item.state}


def run_day(api, when: float, **kwargs) -> None:
    api.stack.run_daily(api.schedule.handler, when, **kwargs)
    assert api.drain()["failed"] == 0


def test_the_daily_run_leaves_stored_scores_equal_to_simulate_at_the_same_instant(daily):
    api = daily
    sent: set[str] = set()
    for day in ("2026-09-15T05:00:00Z", "2026-10-01T05:00:00Z", "2026-10-20T05:00:00Z", "2026-11-10T05:00:00Z"):
        arrived = [e for e in history() if e["id"] not in sent and at(e["timestamp"]) <= at(day)]
        if arrived:  # what happened before the run reached the consumer before it
            score_directly(api, arrived)
            sent.update(e["id"] for e in arrived)
        run_day(api, at(day))
        expected = simulate(compile_model(load_text(MODEL)), [parse_event(e) for e in history()], at(day)).report()
        by_lead = {lead["lead"]: lead for lead in expected["leads"]}
        for lead, state in stored().items():
            simulated = by_lead[lead]
            assert state["engagement"] == pytest.approx(simulated["engagement"]), (day, lead)
            assert state["extras"].get("data_platform", 0.0) == pytest.approx(simulated["extras"]["data_platform"]), (day, lead)
            assert state["stage"] == simulated["stage"], (day, lead)
            assert (state.get("cold_since") is not None) == simulated["cold"], (day, lead)


def test_a_rerun_the_same_day_and_a_rerun_after_a_crash_halfway_change_nothing_more(daily):
    api = daily
    score_directly(api, history())
    when = at("2026-10-20T05:00:00Z")
    run_day(api, when, max_items=5)  # the run dies after 5 of its 16 work items
    run_day(api, when)  # the scheduler retries the whole run
    once = stored()
    versions = {item.lead: item.version for item in LeadItem.scan()}
    run_day(api, when)  # and someone starts it by hand again
    assert stored() == once
    assert {item.lead: item.version for item in LeadItem.scan()} == versions


def test_a_quiet_lead_decays_in_steps_and_the_history_says_decay(daily):
    api = daily
    score_directly(api, history())
    run_day(api, at("2026-09-15T05:00:00Z"))  # ann: last activity 4 Aug; steps due 3, 10 Sep
    ann = stored()["ann@acme.example"]
    assert ann["engagement"] == pytest.approx(60 * 0.9 * 0.9)
    assert ann["extras"]["data_platform"] == pytest.approx(30 * 0.9 * 0.9)
    from leadscore.adapters.dynamodb import LeadRepository
    from leadscore.settings import STORAGE, Settings

    newest = LeadRepository(Settings.from_env(required=STORAGE)).history("ann@acme.example", limit=1)
    assert [entry["event_type"] for entry in newest] == ["decay"]


def test_a_cold_lead_is_published_once_and_new_activity_clears_it(daily):
    api = daily
    score_directly(api, history())
    run_day(api, at("2026-09-25T05:00:00Z"))  # ann: no increase since 4 Aug: cold since 18 Sep
    ann = stored()["ann@acme.example"]
    assert ann["cold_since"] == at("2026-09-18T09:00:00Z")
    run_day(api, at("2026-09-26T05:00:00Z"))
    cold = [item for item in AlertItem.scan() if item.kind == "lead_cold"]
    assert [item.subject for item in cold] == ["ann@acme.example"]  # once, not once per run
    assert cold[0].recipients == []  # published for a nurture track; nobody is emailed
    score_directly(api, [{"id": "a10", "type": "webinar_attend", "email": "ann@acme.example", "timestamp": "2026-09-27T09:00:00Z"}])
    assert stored()["ann@acme.example"]["cold_since"] is None


def test_the_run_reads_the_due_index_and_never_scans(daily, monkeypatch):
    api = daily
    score_directly(api, history())
    calls: list[str] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", _recording(calls, BaseClient._make_api_call))
    api.stack.run_daily(api.schedule.handler, at("2026-10-20T05:00:00Z"))
    assert "Scan" not in calls and calls.count("Query:DueIndex") == 16  # one page per shard: three leads


def _recording(calls: list[str], original):
    def record(self, operation_name, api_params):
        index = api_params.get("IndexName") if isinstance(api_params, dict) else None
        calls.append(f"{operation_name}:{index}" if index else operation_name)
        return original(self, operation_name, api_params)

    return record


def test_the_due_index_holds_only_leads_with_something_due(daily):
    api = daily
    score_directly(api, history())
    items = {item.lead: item for item in LeadItem.scan()}
    assert all(item.due_at is not None and item.due_shard.startswith("due#") for item in items.values())
    ann = items["ann@acme.example"]
    assert ann.due_at == at("2026-09-03T09:00:00Z")  # 30 days after the last activity: the first step


def test_an_event_that_postpones_the_due_time_leaves_the_index_entry_and_the_early_visit_corrects_it(daily):
    """The DueIndex entry is a lower bound: a later event does not rewrite it (two write units a
    save), the run wakes the lead early, changes no score, writes the exact time, and decays it then."""
    api = daily
    score_directly(api, history())
    later = {"id": "a20", "type": "page_view", "email": "ann@acme.example", "timestamp": "2026-08-20T09:00:00Z"}
    score_directly(api, [later])  # ann's decay now starts 19 Sep, her cold mark 4 Oct
    ann = LeadItem.get("ann@acme.example")
    assert ann.due_at == at("2026-09-03T09:00:00Z") and ann.version == 2  # saved, entry left as it was
    before = stored()["ann@acme.example"]

    run_day(api, at("2026-09-04T05:00:00Z"))  # woken early: nothing is due yet
    ann = LeadItem.get("ann@acme.example")
    assert stored()["ann@acme.example"] == before
    assert ann.due_at == at("2026-09-19T09:00:00Z") and ann.version == 3  # the exact time, one save

    run_day(api, at("2026-09-05T05:00:00Z"))  # not woken again before then
    assert LeadItem.get("ann@acme.example").version == 3

    when = at("2026-09-20T05:00:00Z")
    run_day(api, when)
    events = [parse_event(e) for e in [*history(), later]]
    expected = {lead["lead"]: lead for lead in simulate(compile_model(load_text(MODEL)), events, when).report()["leads"]}
    state = stored()["ann@acme.example"]
    assert state["engagement"] == pytest.approx(expected["ann@acme.example"]["engagement"])
    assert state["engagement"] == pytest.approx(before["engagement"] * 0.9)  # the first step, due 19 Sep
    assert LeadItem.get("ann@acme.example").due_at == at("2026-09-26T09:00:00Z")  # the next step


VELOCITY_MODEL = """
name: velocity-test
reports:
  velocity: {to: [marketing@vendor.example]}
stages:
  - {id: awareness, min: 0, max: 32}
  - {id: consideration, min: 33, max: 66}
  - {id: decision, min: 67}
rules:
  - {id: visit, when: {event: page_view}, points: 10}
  - {id: webinar, when: {event: webinar_attend}, points: 30}
  - {id: unsubscribed, when: {event: email_unsubscribe}, points: -40}
"""


def funnel_traffic() -> list[dict]:
    events = []
    for n, day in enumerate(["05", "06", "07", "08"]):  # four leads, moving at different speeds
        lead = f"lead{n}@{'acme' if n < 2 else 'globex'}.example"  # two accounts
        events.append({"id": f"{n}-v", "type": "page_view", "email": lead, "timestamp": f"2026-10-{day}T09:00:00Z"})
        events.append({"id": f"{n}-w", "type": "webinar_attend", "email": lead, "timestamp": f"2026-10-{int(day) + n:02d}T15:00:00Z"})
        if n % 2:
            events.append({"id": f"{n}-x", "type": "webinar_attend", "email": lead, "timestamp": f"2026-10-{int(day) + n + 1:02d}T10:00:00Z"})
    events.append({"id": "1-u", "type": "email_unsubscribe", "email": "lead1@acme.example", "timestamp": "2026-10-12T10:00:00Z"})
    return events


@pytest.fixture
def velocity(api, tmp_path, monkeypatch):
    (tmp_path / "model.yaml").write_text(VELOCITY_MODEL)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path))
    from leadscore.handlers import consumer, runtime, schedule

    runtime.reset()
    consumer.service.cache_clear()
    schedule.walker.cache_clear()
    schedule.reporting.cache_clear()
    api.schedule = schedule
    return api


def test_the_morning_report_comes_from_the_day_figures_matches_a_replay_and_is_emailed_once(velocity):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from leadscore.adapters.metrics import MetricsRepository
    from leadscore.core.velocity import aggregate_days
    from leadscore.core.velocity_replay import replay
    from leadscore.settings import Settings

    api = velocity
    for event in sorted(funnel_traffic(), key=lambda e: e["timestamp"]):  # as they happen, one by one
        score_directly(api, [event])
    run_day(api, at("2026-10-20T05:00:00Z"))
    run_day(api, at("2026-10-20T05:00:00Z"))  # a second run the same morning
    # The stored day aggregates and the morning snapshot equal an in-memory replay of the same events
    model = compile_model(load_text(VELOCITY_MODEL))
    replayed = replay(model, [parse_event(e) for e in funnel_traffic()], datetime(2026, 10, 20).date())
    expected = aggregate_days(replayed.transitions)
    metrics = MetricsRepository(Settings.from_env())
    stored_days = metrics.aggregates(datetime(2026, 9, 1).date(), datetime(2026, 10, 19).date())
    assert {day: a.to_dict() for day, a in stored_days.items() if a.to_dict()} == {day: a.to_dict() for day, a in expected.items()}
    assert len(expected) >= 4 and sum(1 for a in expected.values() if a.stages("account")) >= 3  # accounts moved too
    morning = datetime(2026, 10, 20).date()
    stored_snapshot = metrics.snapshots(morning, morning)[morning]
    assert stored_snapshot == replayed.snapshots[morning] and stored_snapshot.accounts
    # And the report went out once, with the figures as a CSV attachment
    import email
    import email.policy

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
    reports = [email.message_from_string(m.raw_data, policy=email.policy.default) for m in sent]
    assert len(reports) == 1 and "marketing@vendor.example" in str(reports[0]["To"])
    attachment = next(part for part in reports[0].iter_attachments())
    assert attachment.get_filename() == "stage-velocity-2026-10-20.csv"
    assert "awareness" in attachment.get_content()


def test_the_report_command_reads_the_deployed_figures(velocity, capsys, tmp_path):
    from leadscore.cli.main import main

    api = velocity
    score_directly(api, funnel_traffic())
    run_day(api, at("2026-10-20T05:00:00Z"))
    assert main(["report", str(tmp_path), "--date", "2026-10-20", "--csv", str(tmp_path / "figures.csv")]) == 0
    out = capsys.readouterr().out
    assert "Stage velocity" in out and "20 Oct 2026" in out
    assert "awareness" in (tmp_path / "figures.csv").read_text()
