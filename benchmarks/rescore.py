"""Rescore on deploy, measured: N leads seeded under an old model, a new model deployed, every lead
moved to it through the real code (Rescoring.start, then its work items until none are left).
Prints the seeding time, leads/s, DynamoDB calls and request units per rescored lead, the cost
per 1,000,000 leads on demand, an extrapolation to 1,000,000 leads on AWS, and checks a random
sample of leads against scoring their events from scratch under the new model.

Seeding does not push 300,000 events through the consumer: each lead's 4-8 events (leads in
companies of five, one in 25 on free mail) are replayed in memory under the old model with
`simulate` (caught up to the last daily run, as the schedule's decay and cold marking leave
them), and the items the consumer would have written are put with BatchWriteItem: the lead
(packed state, score, stage, account, due time, old model version, version 1), one event-log
item holding its events as `_history_and_log` logs them, the account's member items and its
summary (total, members, stage, alerts waiting to re-arm). History, alert and velocity items are
not seeded: a rescore never reads them. Before that, a sample of leads is scored through the
real scoring service on separate tables and compared item by item with what seeding writes.

DynamoDB is moto (`--engine moto`, in-process, quick, far slower per call than DynamoDB) or
Amazon's DynamoDB Local (`--engine dynamodb-local`, what the figures are measured on). The
run's work queue (`--queue`): `sqs` is moto's SQS FIFO queue with the real RescoreQueue producer
(one message group per segment, as the deployed function uses); `memory` is an in-process FIFO
stand-in with the same semantics (one message in flight per group, deduplicated by body) that
keeps moto out of the process, so DynamoDB Local's calls are not slowed by moto's interception.
`auto` (the default): sqs on moto, memory on DynamoDB Local. `--workers N` threads take work
items concurrently (different segments, as concurrent Lambdas would).

Calls are counted by wrapping botocore's BaseClient._make_api_call. Request units are priced
from each request's and response's item sizes by DynamoDB's rules (as write_units.py does; a
Scan from the scanned count and the seeded lead items' mean size; index writes as an upper
bound, two per rewritten index entry), with what the engine reports via ReturnConsumedCapacity
shown for reference only.

Usage: python benchmarks/rescore.py [--leads 50000] [--engine moto|dynamodb-local] [--segments 16]
       [--page 100] [--workers N] [--queue auto|memory|sqs] [--sample 300]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "benchmarks"))

OLD = """
name: rescore-bench
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
# The deploy: page views and pricing pages count more (most leads' scores move, some change stage).
NEW = OLD.replace("points: 5}", "points: 8}").replace("points: 10}", "points: 25}")
NOW = datetime.fromisoformat("2026-11-20T06:00:00+00:00").timestamp()  # the rescore run's clock
SEEDED_AT = NOW - 6 * 3600  # 00:00 UTC, the last daily run before the deploy: decay and cold marking caught up to it
DAY = 86_400

WRITE_PRICE = 1.25  # $ per million write request units (on-demand)
READ_PRICE = 0.25  # $ per million read request units
LAMBDA_GB_SECOND = 0.0000166667  # $ per GB-s (x86)
LAMBDA_REQUEST = 0.20  # $ per million requests
ONE_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, a share below it
SQS_FIFO_REQUEST = 0.50  # $ per million FIFO requests
CAPACITY_OPERATIONS = {
    "GetItem",
    "Query",
    "Scan",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the leads and their events ------------------------------------------------------------------


def lead_name(n: int) -> str:
    return f"lead{n}@gmail.com" if n % 25 == 24 else f"lead{n}@company{n // 5}.example"


def generate(leads: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """4-8 events per lead over the last three months (one in five leads quiet for 50+ days):
    page views (a third of them pricing pages), downloads and webinars. Whole seconds, as logged."""
    rng = random.Random(seed)
    by_lead: dict[str, list[dict[str, Any]]] = {}
    for n in range(leads):
        lead = lead_name(n)
        quiet = rng.random() < 0.2
        events = []
        for k in range(rng.randint(4, 8)):
            kind = rng.choices(["page_view", "download", "webinar_attend"], weights=[6, 2, 2])[0]
            ago = rng.randint(50, 120) if quiet else rng.randint(1, 90)
            ts = int(NOW) - ago * DAY - rng.randint(0, 36_000)
            if kind == "page_view":
                page = rng.choice(["/pricing", "/pricing/enterprise", "/blog/data-mesh", "/product", "/docs/start"])
                properties: dict[str, Any] = {
                    "url": f"https://vendor.example{page}",
                    "referrer": "https://search.example/",
                }
            elif kind == "download":
                properties = {"asset": rng.choice(["whitepaper-data-governance", "buyers-guide", "roi-sheet"])}
            else:
                properties = {"webinar": rng.choice(["security-suite", "data-mesh-101"]), "minutes": rng.randint(5, 60)}
            events.append(
                {"id": f"e{n}-{k}", "type": kind, "email": lead, "timestamp": iso(ts), "properties": properties}
            )
        by_lead[lead] = sorted(events, key=lambda e: (e["timestamp"], e["id"]))
    return by_lead


# --- seeding: the items the consumer would have written ------------------------------------------


class Seed:
    """Every item of the seeded leads under `model`, caught up to `at` (PynamoDB model instances)."""

    def __init__(self, model: Any, by_lead: dict[str, list[dict[str, Any]]], at: float, retention_days: int) -> None:
        from leadscore.adapters.dynamodb import (
            INLINE_MEMBERS,
            SUMMARY,
            AccountItem,
            EventLogItem,
            LeadItem,
            due_shard,
            member_key,
            pack_state,
            sort_key,
        )
        from leadscore.core.accounts import aggregate_summary
        from leadscore.core.engine import main_score
        from leadscore.core.events import event_to_json, format_timestamp, parse_event
        from leadscore.core.simulation import simulate
        from leadscore.service.scoring import next_due_at

        parsed = {lead: [parse_event(raw) for raw in events] for lead, events in by_lead.items()}
        began = time.perf_counter()
        run = simulate(model, [event for events in parsed.values() for event in events], at)
        self.simulated = time.perf_counter() - began
        self.leads: list[Any] = []
        self.logs: list[Any] = []
        self.accounts: list[Any] = []
        self.scores: dict[str, float] = {}
        self.stages: dict[str, str] = {}
        members: dict[str, dict[str, float]] = {}
        last_activity: dict[str, float] = {}
        for lead, events in parsed.items():
            state = run.leads[lead]
            score = main_score(model, state)
            due = next_due_at(model, state)
            self.scores[lead], self.stages[lead] = score, state.stage
            self.leads.append(
                LeadItem(
                    lead,
                    version=1,
                    state=pack_state(state),
                    score=score,
                    stage=state.stage,
                    account=state.account,
                    model_version=model.version,
                    updated_at=at,
                    due_shard=due_shard(lead) if due is not None else None,
                    due_at=due,
                )
            )
            raws = {raw["id"]: raw for raw in by_lead[lead]}
            ordered = sorted(events, key=lambda e: (e.ts, e.id))
            received = ordered[-1].ts
            entries = [
                {
                    "id": event.id,
                    "type": event.type,
                    "at": format_timestamp(event.ts),
                    "payload": raws[event.id],
                    "event": event_to_json(event),
                }
                for event in ordered
            ]
            self.logs.append(
                EventLogItem(
                    lead,
                    sort_key(ordered[0].ts, 1),
                    events=json.dumps(entries, separators=(",", ":"), default=str),
                    received_at=received,
                    expires_at=int(received + retention_days * 86400),
                )
            )
            if state.account:
                members.setdefault(state.account, {})[lead] = score
                last_activity[state.account] = max(last_activity.get(state.account, 0.0), state.last_activity)
        spec = model.spec.accounts
        for account, scores in members.items():
            total = sum(scores.values())
            best = sorted(scores.values(), reverse=True)
            stage = model.stage_ids[model.stage_index_for(aggregate_summary(total, len(scores), best, spec))]
            disarmed = run.accounts[account].disarmed if account in run.accounts else set()
            small = len(scores) <= INLINE_MEMBERS  # its members inline in the summary, as saves keep them
            if not small:
                for lead, score in scores.items():
                    self.accounts.append(
                        AccountItem(account, f"member#{lead}", lead=lead, member_score=score, updated_at=at)
                    )
            self.accounts.append(
                AccountItem(
                    account,
                    SUMMARY,
                    total=None if small else total,
                    members=len(scores),
                    stage=stage,
                    stage_since=last_activity[account],
                    disarmed=set(disarmed) or None,
                    updated_at=at,
                    inline={member_key(lead): score for lead, score in scores.items()} if small else None,
                    inline_version=1 if small else None,
                )
            )
        self.members = members

    def write(self, client: Any, tables: dict[str, str], threads: int = 4) -> int:
        """BatchWriteItem, 25 items a call, unprocessed items retried; returns the calls made."""
        requests = []
        for logical, items in (
            ("LeadsTable", self.leads),
            ("EventLogTable", self.logs),
            ("AccountsTable", self.accounts),
        ):
            table = tables[logical]
            requests.extend((table, {"PutRequest": {"Item": item.serialize()}}) for item in items)
        chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]
        with ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(lambda chunk: batch_write(client, chunk), chunks))


def batch_write(client: Any, chunk: list[tuple[str, dict[str, Any]]]) -> int:
    pending: dict[str, list[dict[str, Any]]] = {}
    for table, request in chunk:
        pending.setdefault(table, []).append(request)
    for attempt in range(20):
        unprocessed = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not unprocessed:
            return attempt + 1
        pending = unprocessed
        time.sleep(min(1.0, 0.01 * 2**attempt))
    raise SystemExit(f"BatchWriteItem left {sum(map(len, pending.values()))} items unprocessed after 20 attempts")


def raw_item(item: Any) -> dict[str, Any]:
    """An item as the API carries it (PynamoDB's serialisation), for comparing and sizing."""
    return item.serialize()


# --- the seeding check: a sample scored through the real consumer path ----------------------------


def check_seeding(
    model: Any, by_lead: dict[str, list[dict[str, Any]]], endpoint: str | None, client: Any
) -> tuple[list[str], int, int]:
    """Score the sample's events through the scoring service (batches of ten, in time order, as the
    consumer receives them) with a daily run at 00:00 UTC (a tick for each lead the DueIndex has
    due, as the schedule sends them) up to the last one before the deploy, on tables of its own, and compare every
    lead, event-log and account item with what seeding writes for the same events. Problems found."""
    from leadscore.adapters.dynamodb import (
        DUE_SHARDS,
        SUMMARY,
        AccountItem,
        LeadItem,
        LeadRepository,
        inline_scores,
        unpack_state,
    )
    from leadscore.core.events import parse_event
    from leadscore.local.stack import create_tables, storage_settings
    from leadscore.service.scoring import AcceptedEvent, ScoringService, schedule_tick

    tables = create_tables(client, prefix=f"rescore-bench-check-{uuid.uuid4().hex[:6]}")
    repository = LeadRepository(storage_settings(tables, endpoint))
    service = ScoringService(repository, model)
    raws = sorted((raw for events in by_lead.values() for raw in events), key=lambda e: (e["timestamp"], e["id"]))
    first_day = math.floor(parse_event(raws[0]).ts / DAY) * DAY + DAY
    days = [float(day) for day in range(int(first_day), int(SEEDED_AT) + 1, DAY)]  # the daily runs, 00:00 UTC
    position = 0
    for day in days:
        upto = position
        while upto < len(raws) and parse_event(raws[upto]).ts < day:
            upto += 1
        for start in range(position, upto, 10):
            batch = [AcceptedEvent(parse_event(raw), raw, raw["id"]) for raw in raws[start : min(start + 10, upto)]]
            result = service.score(batch)
            if result.failures:
                return [f"the consumer path failed: {result.failures[:2]}"], 0, 0
        position = upto
        due = [
            lead
            for shard in range(DUE_SHARDS)
            for lead in repository.due_leads(f"due#{shard:02d}", day, limit=10_000)[0]
        ]
        ticks = [AcceptedEvent(schedule_tick(lead, day), {}, f"tick-{lead}", "schedule") for lead in due]
        if ticks and service.score(ticks).failures:
            return ["a daily tick failed on the consumer path"], 0, 0
    if position != len(raws) or days[-1] != SEEDED_AT:
        return ["the check's events or days do not line up with the seeding's"], 0, 0
    seed = Seed(model, by_lead, SEEDED_AT, repository.settings.event_retention_days)
    problems = []

    def close(a: Any, b: Any) -> bool:
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
        if isinstance(a, list | tuple) and isinstance(b, list | tuple):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        return a == b

    for seeded in seed.leads:
        lead = seeded.lead
        scored = LeadItem.get(lead, consistent_read=True)
        consumer, seeded_state = unpack_state(scored.state), unpack_state(seeded.state)
        # when decay moved a stage, the daily tick's day is recorded, the replay's end in the seed
        timed = (
            [stage for stage, _, _ in consumer.pop("stage_history")],
            [stage for stage, _, _ in seeded_state.pop("stage_history")],
        )
        if timed[0] != timed[1]:
            problems.append(f"{lead}: stage history {timed[0]} (consumer) != {timed[1]}")
        if not close(consumer, seeded_state):
            differs = sorted(key for key in consumer if not close(consumer[key], seeded_state.get(key)))
            problems.append(f"{lead}: state differs in {differs}")
        for field in ("score", "stage", "account", "model_version", "due_shard"):
            if not close(getattr(scored, field), getattr(seeded, field)):
                problems.append(f"{lead}: {field} {getattr(scored, field)!r} (consumer) != {getattr(seeded, field)!r}")
        # the consumer's DueIndex entry is a lower bound of the exact due time the seed writes
        if (scored.due_at is None) != (seeded.due_at is None) or (
            scored.due_at is not None and scored.due_at > seeded.due_at + 1e-6
        ):
            problems.append(f"{lead}: due_at {scored.due_at!r} (consumer) is not at or before {seeded.due_at!r}")
        logged = sorted(repository.logged_entries(lead), key=lambda e: (e["at"], e["id"]))
        if logged != sorted(json.loads(seed.logs[seed.leads.index(seeded)].events), key=lambda e: (e["at"], e["id"])):
            problems.append(f"{lead}: event log entries differ")
    for seeded in seed.accounts:
        scored = AccountItem.get(seeded.account, seeded.sk, consistent_read=True)
        fields = ("lead", "member_score") if seeded.sk != SUMMARY else ("total", "members", "stage", "disarmed")
        for field in fields:
            if not close(getattr(scored, field), getattr(seeded, field)):
                problems.append(
                    f"{seeded.account} {seeded.sk}: {field} {getattr(scored, field)!r} != {getattr(seeded, field)!r}"
                )
        if seeded.sk == SUMMARY and not close(inline_scores(scored), inline_scores(seeded)):
            problems.append(f"{seeded.account}: inline members {inline_scores(scored)} != {inline_scores(seeded)}")
    return problems, len(seed.leads), len(seed.members)


# --- the run's queue ---------------------------------------------------------------------------


class MemoryFifo:
    """RescoreQueue's send(items), in memory, with SQS FIFO's semantics for this queue: one message
    group per segment (`<run>-<segment>`), one message of a group in flight at a time, a message
    deduplicated by its body's hash; a failed message comes back first in its group."""

    name = "in-memory FIFO stand-in (RescoreQueue.send semantics)"

    def __init__(self) -> None:
        self.groups: dict[str, deque[str]] = {}
        self.in_flight: set[str] = set()
        self.sent: set[str] = set()
        self.condition = threading.Condition()
        self.sends = 0

    def send(self, items: Any) -> None:
        with self.condition:
            self.sends += 1
            for item in items:
                body = json.dumps(item, sort_keys=True, separators=(",", ":"))
                digest = hashlib.sha256(body.encode()).hexdigest()
                if digest in self.sent:
                    continue
                self.sent.add(digest)
                self.groups.setdefault(f"{item['run']}-{item['segment']}"[:128], deque()).append(body)
            self.condition.notify_all()

    def take(self) -> tuple[Any, dict[str, Any]] | None:
        with self.condition:
            while True:
                for group, bodies in self.groups.items():
                    if bodies and group not in self.in_flight:
                        self.in_flight.add(group)
                        body = bodies.popleft()
                        return (group, body), json.loads(body)
                if not self.in_flight:
                    return None
                self.condition.wait()

    def finish(self, handle: Any, ok: bool) -> None:
        group, body = handle
        with self.condition:
            self.in_flight.discard(group)
            if not ok:
                self.groups[group].appendleft(body)
            self.condition.notify_all()


class SqsFifo:
    """moto's SQS FIFO queue with the real RescoreQueue producer; workers receive one message at a time."""

    name = "SQS FIFO (moto) through RescoreQueue"

    def __init__(self) -> None:
        import boto3

        from leadscore.adapters.queue import RescoreQueue
        from leadscore.local.stack import REGION

        self.client = boto3.client("sqs", region_name=REGION)
        self.url = self.client.create_queue(
            QueueName=f"rescore-bench-{uuid.uuid4().hex[:8]}.fifo",
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": "false",
                "DeduplicationScope": "messageGroup",
            },
        )["QueueUrl"]
        self.producer = RescoreQueue(self.url, self.client)
        self.busy = 0
        self.lock = threading.Lock()

    def send(self, items: Any) -> None:
        self.producer.send(items)

    def take(self) -> tuple[Any, dict[str, Any]] | None:
        while True:
            with self.lock:
                idle = self.busy == 0  # read before receiving: every send happens while its sender is busy
            messages = self.client.receive_message(QueueUrl=self.url, MaxNumberOfMessages=1, VisibilityTimeout=600).get(
                "Messages", []
            )
            if messages:
                with self.lock:
                    self.busy += 1
                return messages[0]["ReceiptHandle"], json.loads(messages[0]["Body"])
            if idle:
                return None
            time.sleep(0.005)

    def finish(self, handle: Any, ok: bool) -> None:
        if ok:
            self.client.delete_message(QueueUrl=self.url, ReceiptHandle=handle)
        else:
            self.client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=handle, VisibilityTimeout=0)
        with self.lock:
            self.busy -= 1


# --- counting calls and pricing request units ----------------------------------------------------


class Meter:
    """Counts every DynamoDB and SQS call made while active, and prices DynamoDB's request units
    from the items written and read (see the module's docstring)."""

    def __init__(self, tables: dict[str, str], lead_item_size: float) -> None:
        from write_units import item_size, write_units

        self.item_size, self.write_units = item_size, write_units
        self.leads_table, self.accounts_table = tables["LeadsTable"], tables["AccountsTable"]
        self.logical = {name: logical.removesuffix("Table") for logical, name in tables.items()}
        self.transacted: Counter[str] = Counter()  # items in transactions, by table and kind
        self.transacted_units: Counter[str] = Counter()  # their write units, by table
        self.lead_item_size = lead_item_size
        self.active = False
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.sqs: Counter[str] = Counter()
        self.priced: Counter[str] = Counter()
        self.reported: Counter[str] = Counter()
        self.by_operation: dict[str, Counter[str]] = {}

    def install(self) -> Callable[[], None]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        meter = self

        def counting(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            if not meter.active or service not in ("dynamodb", "sqs"):
                return original(client, operation_name, api_params)
            if service == "sqs":
                with meter.lock:
                    meter.sqs[operation_name] += 1
                return original(client, operation_name, api_params)
            if operation_name in CAPACITY_OPERATIONS:
                api_params = {**api_params, "ReturnConsumedCapacity": "TOTAL"}
            response = original(client, operation_name, api_params)
            meter.add(operation_name, api_params, response)
            return response

        BaseClient._make_api_call = counting

        def uninstall() -> None:
            BaseClient._make_api_call = original

        return uninstall

    def add(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        units: Counter[str] = Counter()
        if operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                kind, body = next(iter(entry.items()))
                size = self.item_size(body["Item"]) if kind == "Put" else 1024  # an update/delete: at most 1 KB here
                units["write"] += 2 * self.write_units(size)  # transactional: twice
                table = body.get("TableName")
                with self.lock:
                    self.transacted[f"{self.logical.get(table, table)} {kind}"] += 1
                    self.transacted_units[self.logical.get(table, table)] += 2 * self.write_units(size)
                if kind == "Put" and table == self.leads_table and "due_shard" in body["Item"]:
                    units["index"] += 2  # DueIndex (keys only): old entry out, new one in, at most
                elif kind == "Put" and table == self.accounts_table and "member_score" in body["Item"]:
                    units["index"] += 2  # ByScore: the member's old score out, new one in, at most
                elif kind == "Delete" and table == self.accounts_table:
                    units["index"] += 1
        elif operation == "PutItem":
            units["write"] += self.write_units(self.item_size(params["Item"]))
        elif operation in ("UpdateItem", "DeleteItem"):
            units["write"] += 1
        elif operation == "GetItem":
            size = self.item_size(response["Item"]) if "Item" in response else 0
            units["read"] += max(1, math.ceil(size / 4096)) * (1 if params.get("ConsistentRead") else 0.5)
        elif operation == "Query":
            size = sum(self.item_size(item) for item in response.get("Items", []))
            units["read"] += max(1, math.ceil(size / 4096)) * (1 if params.get("ConsistentRead") else 0.5)
        elif operation == "Scan":  # charged on the full items read, before projection and filter
            size = int(response.get("ScannedCount", 0)) * self.lead_item_size
            units["read"] += max(1, math.ceil(size / 4096)) * (1 if params.get("ConsistentRead") else 0.5)
        consumed = response.get("ConsumedCapacity")
        reported = sum(
            float(entry.get("CapacityUnits", 0))
            for entry in (consumed if isinstance(consumed, list) else [consumed] if consumed else [])
        )
        with self.lock:
            self.calls[operation] += 1
            self.priced.update(units)
            self.reported["write" if operation in WRITES else "read"] += reported
            self.by_operation.setdefault(operation, Counter()).update(units)


# --- the run -------------------------------------------------------------------------------------


def run_workers(rescoring: Any, queue: Any, workers: int) -> dict[str, int]:
    """Take work items until none are left, `workers` at a time (a failed one is redone)."""
    totals: Counter[str] = Counter()
    lock = threading.Lock()

    def worker() -> None:
        while True:
            taken = queue.take()
            if taken is None:
                return
            handle, item = taken
            try:
                page = rescoring.work(item)
            except Exception as error:  # noqa: BLE001 - retried, as SQS redelivers a failed work item
                queue.finish(handle, ok=False)
                with lock:
                    totals["failed"] += 1
                    if totals["failed"] == 1:
                        print(f"  a work item failed (redone): {type(error).__name__}: {str(error)[:300]}", flush=True)
                    if totals["failed"] > 100:
                        print("  more than 100 work items failed: this worker stops", flush=True)
                        return
                continue
            queue.finish(handle, ok=True)
            with lock:
                totals["work_items"] += 1
                totals[page.status] += 1
                totals["scanned"] += page.scanned
                totals["rescored"] += page.rescored

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(totals)


def verify(
    repository: Any, model: Any, by_lead: dict[str, list[dict[str, Any]]], sample: list[str]
) -> tuple[int, int, list[str], int]:
    """The sampled leads' stored state against simulate(new model, their events, at=NOW); their
    accounts' member items and summary against simulating all the members' events."""
    from leadscore.core.engine import main_score
    from leadscore.core.events import parse_event
    from leadscore.core.simulation import simulate

    exact, problems = 0, []
    accounts: set[str] = set()
    for lead in sample:
        expected = simulate(model, [parse_event(raw) for raw in by_lead[lead]], NOW).leads[lead]
        stored = repository.load(lead)
        state = stored.state if stored else None
        ok = (
            state is not None
            and stored.model_version == model.version
            and math.isclose(state.engagement, expected.engagement, abs_tol=1e-9)
            and state.stage == expected.stage
            and state.rule_points.keys() == expected.rule_points.keys()
            and all(math.isclose(state.rule_points[k], v, abs_tol=1e-9) for k, v in expected.rule_points.items())
            and math.isclose(stored.score or 0.0, main_score(model, expected), abs_tol=1e-9)
        )
        if ok:
            exact += 1
        elif len(problems) < 5:
            got = (state.engagement, state.stage, state.rule_points, stored.model_version) if state else None
            problems.append(
                f"{lead}: stored {got} != expected {(expected.engagement, expected.stage, expected.rule_points)}"
            )
        if state is not None and state.account:
            accounts.add(state.account)
    accounts_exact = 0
    by_account: dict[str, list[str]] = {}
    for lead in by_lead:
        domain = lead.split("@", 1)[1]
        by_account.setdefault(domain, []).append(lead)
    for account in sorted(accounts):
        events = [parse_event(raw) for lead in by_account.get(account, []) for raw in by_lead[lead]]
        expected_members = simulate(model, events, NOW).accounts[account].members
        members, _ = repository.account_members(account)
        view = repository.account(account)
        ok = (
            members.keys() == expected_members.keys()
            and all(math.isclose(members[k], v, abs_tol=1e-6) for k, v in expected_members.items())
            and view.count == len(expected_members)
            and math.isclose(view.total, sum(expected_members.values()), abs_tol=1e-6)
        )
        if ok:
            accounts_exact += 1
        elif len(problems) < 10:
            problems.append(
                f"account {account}: members {members} (total {view.total}, count {view.count}) != {expected_members}"
            )
    return exact, accounts_exact, problems, len(accounts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--engine", choices=("moto", "dynamodb-local"), default="moto")
    parser.add_argument("--segments", type=int, default=16)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--queue", choices=("auto", "memory", "sqs"), default="auto")
    parser.add_argument("--sample", type=int, default=300, help="leads checked against scoring from scratch")
    parser.add_argument("--check-leads", type=int, default=100, help="leads scored through the consumer path first")
    parser.add_argument("--latency-ms", default="5,10", help="per-call DynamoDB latencies for the extrapolation")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    queue_kind = args.queue if args.queue != "auto" else ("sqs" if args.engine == "moto" else "memory")
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

    import boto3

    from leadscore.adapters.dynamodb import LeadItem, LeadRepository
    from leadscore.adapters.runs import RescoreRuns
    from leadscore.core.compiler import compile_model
    from leadscore.core.events import event_to_json, parse_event
    from leadscore.core.loader import load_text
    from leadscore.local.stack import REGION, create_tables, local_aws, storage_settings
    from leadscore.service.rescoring import Rescoring
    from leadscore.service.scoring import ScoringService

    old_model, new_model = compile_model(load_text(OLD)), compile_model(load_text(NEW))

    def say(line: str = "") -> None:
        print(line, flush=True)

    with ExitStack() as stack:
        endpoint = None
        if args.engine == "dynamodb-local":
            from daily_decay import dynamodb_local

            local = dynamodb_local()
            stack.callback(local.stop)
            endpoint = local.endpoint
        if args.engine == "moto" or queue_kind == "sqs":
            stack.enter_context(local_aws())
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)

        began = time.perf_counter()
        by_lead = generate(args.leads, args.seed)
        generated = time.perf_counter() - began
        events = sum(map(len, by_lead.values()))

        # the seeding is checked first: a sample scored through the consumer path on tables of its own
        check_rng = random.Random(args.seed + 1)
        companies = sorted({n // 5 for n in range(args.leads)})
        check_companies = set(check_rng.sample(companies, min(len(companies), max(1, args.check_leads // 5))))
        checked = {lead: by_lead[lead] for n, lead in enumerate(by_lead) if n // 5 in check_companies}
        checking = time.perf_counter()
        problems, leads_checked, accounts_checked = check_seeding(old_model, checked, endpoint, client)
        check_seconds = time.perf_counter() - checking

        began = time.perf_counter()
        tables = create_tables(client, prefix=f"rescore-bench-{uuid.uuid4().hex[:6]}")
        settings = storage_settings(tables, endpoint)
        seeding = time.perf_counter()
        seed = Seed(old_model, by_lead, SEEDED_AT, settings.event_retention_days)
        built = time.perf_counter() - seeding
        writing = time.perf_counter()
        batch_calls = seed.write(client, tables, threads=4 if args.engine == "dynamodb-local" else 1)
        written = time.perf_counter() - writing
        seeded_seconds = generated + (time.perf_counter() - seeding)

        from write_units import item_size

        lead_item_size = sum(item_size(raw_item(item)) for item in seed.leads) / len(seed.leads)
        log_item_size = sum(item_size(raw_item(item)) for item in seed.logs) / len(seed.logs)

        # the seeded items load as the scoring path reads them
        repository = LeadRepository(settings)
        shape_rng = random.Random(args.seed + 2)
        for lead in shape_rng.sample(sorted(by_lead), min(20, len(by_lead))):
            stored = repository.load(lead)
            assert stored is not None and stored.state is not None and stored.version == 1, lead
            assert stored.model_version == old_model.version and stored.state.lead == lead, lead
            assert stored.score == seed.scores[lead] and stored.state.stage == seed.stages[lead], lead
            assert repository.logged_events(lead) == [event_to_json(parse_event(raw)) for raw in by_lead[lead]], lead
            if stored.state.account:
                view = repository.account(stored.state.account, 2)
                assert view.count == len(seed.members[stored.state.account]), lead
        free_mail = sum(1 for lead in by_lead if lead.endswith("@gmail.com"))

        say(
            f"rescore of {args.leads:,} leads on {args.engine}; queue: {(MemoryFifo if queue_kind == 'memory' else SqsFifo).name}; "
            f"{args.segments} segments, pages of {args.page}, {args.workers} worker(s)"
        )
        say(
            f"  model {old_model.version} -> {new_model.version} (page views 5 -> 8 points, pricing pages 10 -> 25); "
            f"{events:,} events ({events / args.leads:.1f} per lead), {len(seed.members):,} companies, {free_mail:,} free-mail leads"
        )
        say(
            f"  seeding: {seeded_seconds:.1f} s (events generated {generated:.1f} s, simulated under the old model "
            f"{seed.simulated:.1f} s, items built {built - seed.simulated:.1f} s, "
            f"{len(seed.leads) + len(seed.logs) + len(seed.accounts):,} items written in {batch_calls:,} BatchWriteItem calls "
            f"{written:.1f} s); mean lead item {lead_item_size:,.0f} B, event-log item {log_item_size:,.0f} B"
        )
        if problems:
            say(f"  seeding NOT faithful to the consumer path ({len(problems)} differences), e.g.:")
            for problem in problems[:8]:
                say(f"    {problem}")
            return 1
        say(
            f"  seeding faithful: {leads_checked}/{leads_checked} leads and {accounts_checked}/{accounts_checked} accounts "
            f"scored through the scoring service (batches of 10, daily ticks of the due leads) on separate tables equal the seeded "
            f"items (state but when decay moved a stage, score, stage, account, due time, event log; members, total, "
            f"count, stage) ({check_seconds:.1f} s)"
        )

        # the deploy: the new model, run through the real code
        queue: Any = MemoryFifo() if queue_kind == "memory" else SqsFifo()
        runs = RescoreRuns(settings)
        repository = LeadRepository(settings)
        scoring = ScoringService(repository, new_model, clock=lambda: NOW)
        rescoring = Rescoring(
            repository, runs, queue, scoring, clock=lambda: NOW, segments=args.segments, page=args.page
        )
        meter = Meter(tables, lead_item_size)
        uninstall = meter.install()
        meter.active = True
        cpu = time.process_time()
        began = time.perf_counter()
        run = rescoring.start()
        totals = run_workers(rescoring, queue, args.workers)
        elapsed = time.perf_counter() - began
        cpu_seconds = time.process_time() - cpu
        meter.active = False
        progress = rescoring.progress()
        uninstall()

        rescored = totals.get("rescored", 0)
        per = max(1, rescored)
        say(
            f"  run {run}: {totals.get('scanned', 0):,} leads scanned, {rescored:,} rescored, "
            f"{totals.get('work_items', 0):,} work items ({totals.get('stale', 0)} stale), {totals.get('failed', 0)} failed and redone; "
            f"progress: {progress.get('segments_done')}/{progress.get('segments')} segments done, "
            f"{progress.get('leads_rescored', 0):,} rescored"
        )
        say(
            f"  rescore: {elapsed:.1f} s wall, {rescored / elapsed:,.0f} leads/s; CPU in this process {cpu_seconds:.1f} s "
            f"({cpu_seconds / per * 1000:.2f} ms per lead{', the DynamoDB stand-in included' if args.engine == 'moto' else ', DynamoDB Local runs in its own process'})"
        )
        calls = dict(sorted(meter.calls.items()))
        total_calls = sum(calls.values())
        say(
            "  DynamoDB calls per rescored lead: "
            + ", ".join(f"{operation} {count / per:.3f}" for operation, count in calls.items())
            + f"; total {total_calls / per:.3f}"
        )
        say(f"  DynamoDB calls in all: {json.dumps(calls)}; SQS calls: {json.dumps(dict(sorted(meter.sqs.items())))}")
        read, write, index = (meter.priced[k] / per for k in ("read", "write", "index"))
        say(
            f"  request units per lead, priced from item sizes by DynamoDB's rules: {read:.2f} read, {write:.2f} write "
            f"(transactional writes counted twice) + {index:.2f} index writes (upper bound)"
        )
        say(
            "    by operation: "
            + "; ".join(
                f"{operation} " + ", ".join(f"{k} {v / per:.2f}" for k, v in sorted(units.items()))
                for operation, units in sorted(meter.by_operation.items())
                if units
            )
        )
        say(
            "    transaction items per lead: "
            + ", ".join(f"{key} {count / per:.2f}" for key, count in sorted(meter.transacted.items()))
            + "; their write units per lead: "
            + ", ".join(f"{key} {units / per:.2f}" for key, units in sorted(meter.transacted_units.items()))
        )
        say(
            f"    as {args.engine} reports them (ReturnConsumedCapacity, reference only): "
            f"{meter.reported['read'] / per:.2f} read, {meter.reported['write'] / per:.2f} write"
        )

        # cost and extrapolation to 1,000,000 leads, at the memory the template gives RescoreFunction
        from leadscore.local.stack import read_template

        memory_mb = int(read_template()["Resources"]["RescoreFunction"]["Properties"]["MemorySize"])
        LAMBDA_GB, LAMBDA_CPU_SHARE = memory_mb / 1024, min(1.0, memory_mb / ONE_VCPU_MB)  # noqa: N806
        million = 1_000_000
        pages = math.ceil(million / args.page)
        dynamo_cost = (write + index) * WRITE_PRICE + read * READ_PRICE
        cpu_per_lead = cpu_seconds / per
        lambda_requests = (pages + 1) * LAMBDA_REQUEST / million
        lambda_cpu_cost = million * cpu_per_lead * LAMBDA_GB * LAMBDA_GB_SECOND + lambda_requests
        sqs_calls_per_page = 3  # send (the next page), receive, delete: one each per work item
        sqs_cost = pages * sqs_calls_per_page * SQS_FIFO_REQUEST / million
        latencies = [float(x) for x in args.latency_ms.split(",")]
        worst = max(latencies) / 1000
        lambda_wait_cost = (
            million * (cpu_per_lead / LAMBDA_CPU_SHARE + total_calls / per * worst) * LAMBDA_GB * LAMBDA_GB_SECOND
            + lambda_requests
        )
        say(
            f"  cost per 1,000,000 leads on demand: DynamoDB ${(write + index) * WRITE_PRICE:.2f} writes "
            f"(${write * WRITE_PRICE:.2f} tables + ${index * WRITE_PRICE:.2f} indexes) + ${read * READ_PRICE:.2f} reads; "
            f"Lambda ${lambda_cpu_cost:.2f} ({memory_mb:,} MB, duration = the CPU measured here per lead, {pages + 1:,} requests); "
            f"SQS FIFO ${sqs_cost:.3f}; total ${dynamo_cost + lambda_cpu_cost + sqs_cost:.2f}"
        )
        say(
            f"    Lambda if each lead also waits {max(latencies):.0f} ms per DynamoDB call and a {memory_mb:,} MB function's CPU share "
            f"({LAMBDA_CPU_SHARE:.2f} vCPU) stretches the CPU time: ${lambda_wait_cost:.2f}; total "
            f"${dynamo_cost + lambda_wait_cost + sqs_cost:.2f}"
        )
        concurrency = min(50, 64)
        for latency in latencies:
            per_lead = total_calls / per * latency / 1000 + cpu_per_lead / LAMBDA_CPU_SHARE
            minutes = million / concurrency * per_lead / 60
            say(
                f"  EXTRAPOLATION, not a measurement: 1,000,000 leads, 64 segments, 50 concurrent workers, {latency:.0f} ms per "
                f"DynamoDB call: {total_calls / per:.2f} calls x {latency:.0f} ms + {cpu_per_lead * 1000:.1f} ms CPU / "
                f"{LAMBDA_CPU_SHARE:.2f} vCPU = {per_lead * 1000:.0f} ms per lead; {million // concurrency:,} leads per worker: "
                f"about {minutes:.0f} min"
            )

        # correctness: every lead moved, the sample equal to scoring from scratch under the new model
        stale = 0
        changed_score = changed_stage = 0
        for item in LeadItem.scan(attributes_to_get=["lead", "model_version", "score", "stage", "state"]):
            if not item.state:
                continue
            if item.model_version != new_model.version:
                stale += 1
            if not math.isclose(float(item.score or 0), seed.scores[item.lead], abs_tol=1e-9):
                changed_score += 1
            if item.stage != seed.stages[item.lead]:
                changed_stage += 1
            del item
        say(
            f"  the deploy moved {changed_score:,} scores ({changed_score / args.leads:.0%}) and {changed_stage:,} stages "
            f"({changed_stage / args.leads:.0%}); leads still under the old model: {stale}"
        )
        sample = random.Random(args.seed + 3).sample(sorted(by_lead), min(args.sample, len(by_lead)))
        exact, accounts_exact, mismatches, accounts = verify(repository, new_model, by_lead, sample)
        say(
            f"  accounts of the sample: {accounts_exact}/{accounts} equal to their members scored from scratch (members, total, count)"
        )
        for mismatch in mismatches:
            say(f"    {mismatch}")
        say(f"exact: {exact}/{len(sample)} sampled leads equal scoring from scratch under the new model")
    ok = exact == len(sample) and accounts_exact == accounts and stale == 0 and totals.get("failed", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
