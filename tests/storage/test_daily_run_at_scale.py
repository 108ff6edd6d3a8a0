"""The daily run on a generated dataset of 1,200 leads, on DynamoDB Local (real conditions, real
transactions, and linear in the table size where in-process moto copies tables per transaction):
after each run, every stored lead equals `leadscore simulate --at` the same instant, lead for lead.

The run is the deployed one minus the queues: the walker pages each DueIndex shard (a small page,
so pagination is exercised) and each tick it would queue goes through the scoring service, which
is what the consumer does with it. Events reach the service before the run that follows them."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import datetime
from types import SimpleNamespace

import boto3
import pytest

from leadscore.adapters.dynamodb import LeadRepository, unpack_state
from leadscore.core.compiler import compile_model
from leadscore.core.events import parse_event
from leadscore.core.loader import load_text
from leadscore.core.simulation import simulate
from leadscore.local.stack import REGION, create_tables, storage_settings
from leadscore.service.decaying import DueLeadsWalker, WorkItem
from leadscore.service.scoring import AcceptedEvent, ScoringService, schedule_tick

LEADS = 1200
RUNS = (
    "2026-09-01T05:00:00Z",
    "2026-09-20T05:00:00Z",
    "2026-10-10T05:00:00Z",
    "2026-11-05T05:00:00Z",
    "2026-12-01T05:00:00Z",
)
MODEL = """
decay: {after_inactive: 21d, every: 7d, percent: 15%, floor: 5}
cold_lead: {no_increase_for: 40d}
scores:
  data_platform: {label: Data platform, decay: true}
  analytics: {label: Analytics}
stages:
  - {id: awareness, min: 0, max: 29}
  - {id: consideration, min: 30, max: 59}
  - {id: decision, min: 60}
alerts:
  lead: {threshold: 60, rearm_below: 40, notify: [sales@vendor.example]}
rules:
  - {id: visit, when: {event: page_view}, points: 4, scores: [main, data_platform]}
  - {id: pricing, when: {event: page_view, url: {contains: /pricing}}, points: 11}
  - {id: click, when: {event: email_click}, points: 6, scores: [main, analytics]}
  - {id: webinar, when: {event: webinar_attend}, points: 25}
  - {id: paper, when: {event: download}, points: 9, scores: [data_platform]}
"""
TYPES = ("page_view", "page_view", "page_view", "email_click", "webinar_attend", "download")


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def generated_events(seed: int = 8) -> list[dict]:
    """Leads with bursts of activity between early August and the end of November, then silence."""
    rng = random.Random(seed)
    start, end = at("2026-08-01T00:00:00Z"), at("2026-11-30T00:00:00Z")
    events = []
    for n in range(LEADS):
        lead = f"lead{n:04d}@co{n % 97}.example"
        for burst in range(rng.randint(1, 3)):
            when = rng.uniform(start, end)
            for k in range(rng.randint(1, 4)):
                kind = rng.choice(TYPES)
                properties = {"url": rng.choice(["/pricing", "/blog", "/docs"])} if kind == "page_view" else {}
                stamp = datetime.fromtimestamp(when + k * rng.uniform(60, 3 * 86_400)).astimezone()
                events.append(
                    {
                        "id": f"{n}-{burst}-{k}",
                        "type": kind,
                        "email": lead,
                        "timestamp": stamp.isoformat(),
                        "properties": properties,
                    }
                )
    return events


class Ticks:
    """Stands in for the scoring queue: the walker's ticks, to be handed to the service."""

    def __init__(self) -> None:
        self.leads: list[str] = []

    def send_ticks(self, leads, when: float) -> None:
        self.leads.extend(leads)


class Pages:
    """Stands in for the work queue: the next page of each shard."""

    def __init__(self) -> None:
        self.items: list[WorkItem] = []

    def put(self, items) -> None:
        self.items.extend(items)


@pytest.fixture
def dynamodb_local_engine(dynamodb_local):
    """DynamoDB Local only: in-process moto copies its tables in every transaction (too slow here)."""
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=dynamodb_local)
    tables = create_tables(client, prefix=f"t{uuid.uuid4().hex[:8]}")
    settings = storage_settings(tables, dynamodb_local)
    return SimpleNamespace(
        settings=settings,
        service=lambda text: ScoringService(LeadRepository(settings), compile_model(load_text(text))),
    )


def run_daily(service, when: float) -> int:
    ticks, pages = Ticks(), Pages()
    walker = DueLeadsWalker(service.repository, ticks, pages, page=25)
    walker.start(when)
    while pages.items:
        walker.walk(pages.items.pop())
    for start in range(0, len(ticks.leads), 10):  # SQS batches of ten ticks
        batch = [
            AcceptedEvent(schedule_tick(lead, when), {}, f"tick-{lead}", "schedule")
            for lead in ticks.leads[start : start + 10]
        ]
        assert service.score(batch).failures == []
    return len(ticks.leads)


def stored(engine) -> dict[str, dict]:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=engine.settings.dynamodb_endpoint)
    states = {}
    for page in client.get_paginator("scan").paginate(TableName=engine.settings.leads_table, ConsistentRead=True):
        for item in page["Items"]:
            if "state" in item:
                states[item["lead"]["S"]] = unpack_state(item["state"]["B"])
    return states


def test_after_every_run_1200_stored_leads_equal_simulate_at_the_same_instant(dynamodb_local_engine):
    engine = dynamodb_local_engine
    service = engine.service(MODEL)
    model = compile_model(load_text(MODEL))
    events = generated_events()
    parsed = [parse_event(raw) for raw in events]
    sent: set[str] = set()
    touched = 0
    for day in RUNS:
        arrived = defaultdict(list)
        for raw, event in zip(events, parsed, strict=True):
            if raw["id"] not in sent and event.ts <= at(day):
                arrived[event.lead].append(AcceptedEvent(event, raw, f"m-{raw['id']}"))
                sent.add(raw["id"])
        for items in arrived.values():  # one lead's news since the last run shares a batch
            assert service.score(sorted(items, key=lambda item: item.event.ts)).failures == []
        touched += run_daily(service, at(day))
        expected = {lead["lead"]: lead for lead in simulate(model, parsed, at(day)).report()["leads"]}
        states = stored(engine)
        assert len(states) == len({e.lead for e in parsed if e.ts <= at(day)})
        for lead, state in states.items():
            simulated = expected[lead]
            assert state["engagement"] == pytest.approx(simulated["engagement"]), (day, lead)
            for score in ("data_platform", "analytics"):
                assert state["extras"].get(score, 0.0) == pytest.approx(simulated["extras"].get(score, 0.0)), (
                    day,
                    lead,
                    score,
                )
            assert state["stage"] == simulated["stage"], (day, lead)
            assert (state.get("cold_since") is not None) == simulated["cold"], (day, lead)
    assert len(states) == LEADS
    assert touched > LEADS  # most leads were decayed or marked cold at least once, many several times
    assert sum(1 for state in states.values() if state.get("cold_since") is not None) > LEADS // 4
