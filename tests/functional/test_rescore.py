"""Rescore on deploy, on moto through the handlers AWS runs: a model change moves every lead to
the new model by replaying its logged events, equal lead by lead to scoring the same events from
scratch; a crash halfway then resumed gives the same; live events during the run count once;
crossings the change causes are recorded and, by default, never emailed."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from leadscore.adapters.dynamodb import AccountItem, AlertItem, LeadItem, LeadRepository, inline_scores, unpack_state
from leadscore.core.compiler import compile_model
from leadscore.core.events import parse_event
from leadscore.core.loader import load_text
from leadscore.core.simulation import simulate

OLD = """
name: rescore-test
decay: {after_inactive: 30d, every: 7d, percent: 10%}
cold_lead: {no_increase_for: 45d}
accounts: {match_by: [email_domain], aggregate: mean_of_top, top: 2}
stages:
  - {id: awareness, min: 0, max: 32}
  - {id: consideration, min: 33, max: 66}
  - {id: decision, min: 67}
alerts:
  lead: {threshold: 80, rearm_below: 60, notify: [sales@vendor.example]}
  account: {threshold: 70, rearm_below: 50, notify: [abm@vendor.example]}
rules:
  - {id: visit, when: {event: page_view}, points: 5}
  - {id: pricing, when: {event: page_view, url: {contains: /pricing}}, points: 10}
  - {id: webinar, when: {event: webinar_attend}, points: 20}
  - {id: paper, when: {event: download}, points: 15}
"""
# The pull request: pricing pages count much more, webinars less, downloads a little more.
NEW = OLD.replace("points: 10}", "points: 35}").replace("points: 20}", "points: 10}").replace(
    "points: 15}", "points: 20}"
)
NOW = datetime.fromisoformat("2026-11-20T06:00:00+00:00").timestamp()


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def generated(leads: int = 40, seed: int = 7) -> list[dict]:
    """Leads of six companies browsing, downloading and attending webinars over two months."""
    rng = random.Random(seed)
    events = []
    for n in range(leads):
        lead = f"lead{n}@company{n % 6}.example"
        for k in range(rng.randint(1, 8)):
            kind = rng.choice(["page_view", "page_view", "webinar_attend", "download"])
            day = rng.randint(1, 60)
            ts = at("2026-09-01T08:00:00Z") + day * 86_400 + rng.randint(0, 36_000)
            event = {"id": f"{n}-{k}", "type": kind, "email": lead, "timestamp": iso(ts)}
            if kind == "page_view":
                event["properties"] = {"url": rng.choice(["https://vendor.example/pricing", "https://vendor.example/blog"])}
            events.append(event)
    return sorted(events, key=lambda e: e["timestamp"])


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def deploy(api, tmp_path, monkeypatch):
    """Deploy a model: the functions load it on their next cold start, as after `sam deploy`."""
    from leadscore.handlers import consumer, notifier, rescore, runtime

    def to(model: str) -> None:
        folder = tmp_path / f"model-{abs(hash(model))}"
        folder.mkdir(exist_ok=True)
        (folder / "model.yaml").write_text(model)
        monkeypatch.setenv("MODEL_PATH", str(folder))
        runtime.reset()
        consumer.service.cache_clear()
        notifier.notifier.cache_clear()
        rescore.rescoring.cache_clear()
        rescore.rescoring().clock = lambda: NOW  # the run's visits happen at NOW

    api.deploy = to
    api.rescore = rescore
    to(OLD)
    yield api
    rescore.rescoring.cache_clear()  # its clients and queue belong to this test's stack


def score_directly(api, events: list[dict]) -> None:
    from leadscore.adapters.queue import message_body
    from leadscore.local.stack import LambdaContext

    for start in range(0, len(events), 10):
        records = [
            {"messageId": e["id"], "body": message_body(parse_event(e), e, "tracking"), "attributes": {}}
            for e in events[start : start + 10]
        ]
        assert api.consumer.handler({"Records": records}, LambdaContext())["batchItemFailures"] == []


def stored() -> dict[str, dict]:
    return {item.lead: unpack_state(item.state) for item in LeadItem.scan() if item.state}


def assert_equal_to_scoring_from_scratch(model: str, events: list[dict], when: float) -> None:
    expected = simulate(compile_model(load_text(model)), [parse_event(e) for e in events], when)
    states = stored()
    assert set(states) == set(expected.leads)
    for lead, state in states.items():
        simulated = expected.leads[lead]
        assert state["engagement"] == pytest.approx(simulated.engagement), lead
        assert state["rule_points"] == pytest.approx(simulated.rule_points), lead
        assert state["stage"] == simulated.stage, lead
        assert (state.get("cold_since") is not None) == (simulated.cold_since is not None), lead
        assert sorted(state["disarmed"]) == sorted(simulated.disarmed), lead
    # accounts re-aggregated: every membership and every summary equals the replay's members
    members: dict[str, dict[str, float]] = {}
    for item in AccountItem.scan():
        if item.sk.startswith("member#"):
            members.setdefault(item.account, {})[item.lead] = float(item.member_score)
        elif item.sk == "#summary" and item.inline is not None:  # a small account's members, inline
            members.setdefault(item.account, {}).update(inline_scores(item))
    for account, result in expected.accounts.items():
        assert members[account] == pytest.approx(result.members), account
        summary = AccountItem.get(account, "#summary")
        total = sum(inline_scores(summary).values()) if summary.inline is not None else float(summary.total)
        assert total == pytest.approx(sum(result.members.values())), account
        assert int(summary.members) == len(result.members), account


def model_version(model: str) -> str:
    return load_text(model).version


def test_a_deployed_model_change_rescores_every_lead_as_if_scored_from_scratch(deploy):
    api = deploy
    events = generated()
    score_directly(api, events)
    api.stack.run_daily(_schedule(), NOW - 86_400)  # decay and cold marking as of yesterday
    assert api.drain()["failed"] == 0
    cold_before = {lead for lead, state in stored().items() if state.get("cold_since") is not None}
    assert cold_before, "the dataset has leads that are cold before the change"
    alerts_before = {item.alert_id for item in AlertItem.scan()}
    api.deploy(NEW)
    run = api.stack.run_rescore(api.rescore.handler)
    assert run["started"] and run["failed"] == 0
    assert_equal_to_scoring_from_scratch(NEW, events, NOW)
    # a lead cold already is not published as turning cold again
    again = [a for a in AlertItem.scan() if a.alert_id not in alerts_before and a.kind == "lead_cold"]
    assert not [a.subject for a in again if a.subject in cold_before]
    assert {item.model_version for item in LeadItem.scan() if item.state} == {model_version(NEW)}
    # the history says "model change", with both versions, for each lead whose scores moved
    histories = every_history()
    changed = [entry for entries in histories.values() for entry in entries if entry["event_type"] == "model_change"]
    assert changed and all(
        entry["model_versions"] == {"from": model_version(OLD), "to": model_version(NEW)} for entry in changed
    )
    assert all(change["rule"] == "model change" for entry in changed for change in entry["changes"])
    # measured on the lead as it stands at the visit (decay caught up): no decay moves it again then
    for lead, entries in histories.items():
        times = {e["at"] for e in entries if e["event_type"] == "model_change"}
        assert not [e for e in entries if e["event_type"] == "decay" and e["at"] in times], lead
    # the run is complete, and checking again starts nothing
    from leadscore.local.stack import LambdaContext

    progress = api.rescore.handler({"check": "model"}, LambdaContext())
    assert progress["started"] is None
    assert progress["progress"]["segments_done"] == progress["progress"]["segments"]
    assert progress["progress"]["leads_scanned"] == len(stored())


def test_a_crash_halfway_then_resumed_gives_the_same_result(deploy, monkeypatch):
    api = deploy
    events = generated(seed=11)
    score_directly(api, events)
    api.deploy(NEW)
    monkeypatch.setenv("RESCORE_SEGMENTS", "4")
    api.deploy(NEW)
    from leadscore.service import rescoring

    # the worker dies after saving some leads of a page, before its cursor moves: the page's
    # message comes back, as SQS redelivers it when a Lambda dies
    original = rescoring.RescoreRuns.advance
    calls = {"n": 0}

    def dies_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the Lambda ran out of time")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(rescoring.RescoreRuns, "advance", dies_once)
    first = api.stack.run_rescore(api.rescore.handler, max_items=3)
    assert first["failed"] >= 1
    versions = {item.lead: item.version for item in LeadItem.scan() if item.state}
    rest = api.stack.run_rescore(api.rescore.handler)
    assert rest["started"] is None and rest["failed"] == 0  # the same run, resumed
    assert_equal_to_scoring_from_scratch(NEW, events, NOW)
    # a lead rescored before the crash was not rewritten again: one save for the model change
    after = {item.lead: item.version for item in LeadItem.scan() if item.state}
    assert all(after[lead] - versions[lead] in (0, 1) for lead in versions)
    assert any(after[lead] == versions[lead] for lead in versions)  # some were done before the crash


def test_live_events_during_the_rescore_count_once(deploy):
    api = deploy
    events = generated(seed=5)
    early, late = events[:-30], events[-30:]
    score_directly(api, early)
    api.deploy(NEW)  # the new consumer runs before the run has visited anyone
    live = [dict(e, timestamp=e["timestamp"]) for e in late]
    score_directly(api, live[:15])  # these leads are replayed by the consumer first
    api.stack.run_rescore(api.rescore.handler, max_items=2)
    score_directly(api, live[15:])
    score_directly(api, live[:20])  # and redelivered: duplicates
    api.stack.run_rescore(api.rescore.handler)
    assert_equal_to_scoring_from_scratch(NEW, early + live, NOW)


def test_crossings_caused_by_the_change_are_recorded_and_not_emailed_by_default(deploy):
    api = deploy
    events = generated(seed=3)
    score_directly(api, events)
    api.stack.deliver_alerts(_notifier())
    sent_before = _sent()
    before = {item.alert_id for item in AlertItem.scan()}
    api.deploy(NEW)
    api.stack.run_rescore(api.rescore.handler)
    # (a lead the visit finds quiet for 45 days turns cold, as the daily run would have marked it:
    # published for a nurture track, emailed to nobody)
    caused = [item for item in AlertItem.scan() if item.alert_id not in before and item.kind != "lead_cold"]
    assert caused, "the new model makes some leads cross their thresholds"
    assert {item.status for item in caused} == {"suppressed"}
    assert {item.model_version for item in caused} == {model_version(NEW)}
    api.stack.deliver_alerts(_notifier())
    assert _sent() == sent_before  # no email for a crossing the model change caused


def test_the_notify_policy_emails_the_crossings_a_change_causes(deploy):
    api = deploy
    events = generated(seed=3)
    score_directly(api, events)
    api.stack.deliver_alerts(_notifier())
    sent_before = _sent()
    before = {item.alert_id for item in AlertItem.scan()}
    api.deploy(NEW + "model_change: {alerts: notify}\n")
    api.stack.run_rescore(api.rescore.handler)
    caused = [item for item in AlertItem.scan() if item.alert_id not in before and item.kind != "lead_cold"]
    assert caused and {item.status for item in caused} == {"pending"}
    api.stack.deliver_alerts(_notifier())
    assert _sent() == sent_before + len([item for item in caused if item.recipients])


def _schedule():
    from leadscore.handlers import schedule

    schedule.walker.cache_clear()
    return schedule.handler


def _notifier():
    from leadscore.handlers import notifier

    return notifier.handler


def _sent() -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return len(ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages)


def every_history() -> dict[str, list[dict]]:
    """Each lead's whole history as the product reads it (written out, or waiting in its item)."""
    from leadscore.settings import STORAGE, Settings

    repository = LeadRepository(Settings.from_env(required=STORAGE))
    return {item.lead: repository.history(item.lead, limit=100_000) for item in LeadItem.scan() if item.state}
