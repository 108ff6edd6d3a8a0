"""What a save costs in DynamoDB capacity units, per event, through the real scoring service on
Amazon's DynamoDB Local: events spread one per lead per batch (the common case) and ten events
of one lead per batch. Shipped model, leads in companies.

Two figures per operation: the units DynamoDB's pricing rules give for the items written and
read (item size rounded up to 1 KB per write unit, 4 KB per read unit, transactional writes
and reads counted twice: the AWS bill), computed from each request and response, and what
DynamoDB Local reports with ReturnConsumedCapacity (it counts transactional writes twice again,
so its figure is shown for reference only). Then the cost per million events at on-demand
prices: $1.25 per million write request units, $0.25 per million read request units.

A lead's item keeps its latest saves' history and event log until they fill it to about 2 KB,
then writes them out in a transaction; the spread case therefore scores several events per lead
(--rounds), one per batch, so the saves that write out are counted with those that do not.

Last, a season of traffic as it comes (--season-leads leads, 120 days, each event its own batch,
new leads among them, the daily run every morning waking the leads the DueIndex says are due),
once with the DueIndex entry rewritten to the exact due time at every save and once as shipped
(a lower bound, corrected by the schedule's visit): write units per event with the schedule's
visits and the index writes included.

Usage: python benchmarks/write_units.py [--leads 300] [--rounds 24] [--season-leads 100]
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import sys
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "benchmarks"))

WRITE_PRICE = 1.25  # $ per million write request units (on-demand)
READ_PRICE = 0.25  # $ per million read request units
TARGETS = (4, 1.5, 4, 4)  # write units per event: spread, grouped, the score moving (large, small accounts)


def attribute_size(value: dict) -> int:
    """DynamoDB's item size rules: names and values in bytes (numbers about 1 byte per 2 digits)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return math.ceil(len(inner.lstrip("-").replace(".", "")) / 2) + 1
    if kind == "B":  # bytes here (botocore base64-encodes them on the wire); billed by their length
        return len(inner) if isinstance(inner, bytes | bytearray) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS"):
        return sum(len(str(v).encode()) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) for v in inner)
    return len(str(inner).encode())


def item_size(item: dict) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


WRITE_PARTS = {  # (request kind, template table) -> what it is, in the order a label lists them
    ("Put", "LeadsTable"): "lead",
    ("Put", "AccountsTable"): "member",
    ("Delete", "AccountsTable"): "member removed",
    ("Update", "AccountsTable"): "account summary",
    ("Put", "HistoryTable"): "history written out",
    ("Put", "EventLogTable"): "history written out",
    ("Put", "AlertsTable"): "alert",
    ("Update", "AlertsTable"): "alert delivery",
    ("Put", "MetricsTable"): "velocity",
}


def write_shape(operation: str, params: dict) -> str:
    """What one write request holds, in words: "lead + member + account summary (transaction)"."""
    if operation == "TransactWriteItems":
        entries = [next(iter(entry.items())) for entry in params["TransactItems"]]
    else:
        entries = [(operation.removesuffix("Item"), params)]
    found = {
        WRITE_PARTS.get((kind, table), f"{kind} {table}")
        for kind, body in entries
        if kind != "ConditionCheck"
        for table in [body["TableName"].rsplit("-", 1)[-1]]
    }
    order = list(dict.fromkeys(WRITE_PARTS.values()))
    parts = sorted(found, key=lambda part: (order.index(part) if part in order else len(order), part))
    return " + ".join(parts) + (" (transaction)" if operation == "TransactWriteItems" else "")


class Meter:
    """Adds up the units of every DynamoDB request, by the pricing rules and as DynamoDB Local reports them."""

    def __init__(self) -> None:
        self.clients: list = []
        self.indexed: dict[tuple[str, ...], tuple | None] = {}  # each item's index entry, across resets
        self.reset()

    def reset(self) -> None:
        self.priced = Counter()
        self.reported = Counter()
        self.calls = Counter()
        self.by_table = Counter()  # write units by table (the template's logical name)
        # write units (index writes included) and requests, by what one write request holds (`write_shape`)
        self.by_write = Counter()
        self.writes = Counter()
        self.items_read = 0

    def attach(self, service) -> Meter:
        """Meter every DynamoDB client a scoring service reads and saves through (its repository's,
        and each table model's own)."""
        from leadscore.adapters.dynamodb import AccountItem, AlertItem, EventLogItem, HistoryItem, LeadItem, MetricsItem

        clients = {id(service.repository._connection.client): service.repository._connection.client}
        for model in (LeadItem, AccountItem, HistoryItem, EventLogItem, AlertItem, MetricsItem):
            client = model._get_connection().connection.client
            clients[id(client)] = client
        for client in clients.values():
            client.meta.events.register("before-parameter-build.dynamodb", self.before)
            client.meta.events.register("after-call.dynamodb", self.after)
        self.clients = list(clients.values())
        return self

    def detach(self) -> None:
        for client in self.clients:
            client.meta.events.unregister("before-parameter-build.dynamodb", self.before)
            client.meta.events.unregister("after-call.dynamodb", self.after)
        self.clients = []

    def before(self, params, model, **_):
        params["ReturnConsumedCapacity"] = "TOTAL"
        self.calls[model.name] += 1
        if model.name in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem"):
            shape, units = write_shape(model.name, params), self.priced["write"]
            self.price_write(params, model)
            self.by_write[shape] += self.priced["write"] - units
            self.writes[shape] += 1

    def price_write(self, params, model) -> None:
        if model.name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                kind, body = next(iter(entry.items()))
                size = item_size(body["Item"]) if kind == "Put" else 1024  # updates/deletes: at most the item
                units = 0 if kind == "ConditionCheck" else 2 * write_units(size)
                self.priced["write"] += units
                self.by_table[body["TableName"].rsplit("-", 1)[-1]] += units
                self.index_write(kind, body)
        elif model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            units = write_units(item_size(params.get("Item", {})) or 1024)
            self.priced["write"] += units
            self.by_table[params["TableName"].rsplit("-", 1)[-1]] += units
            self.index_write(model.name.removesuffix("Item"), params)

    def index_write(self, kind: str, body: dict) -> None:
        """The secondary-index writes a base-table write causes, by DynamoDB's rules: none when the
        item's index entry (its index keys and projected attributes) is unchanged, one to add or
        remove an entry, two when it changes (a delete and a put); entries here are under 1 KB.
        Counted once (DynamoDB does not document transactions doubling them; it may).

        LeadsTable's DueIndex (keys only: due_shard, due_at), AccountsTable's ByScore (member_score,
        projecting lead), AlertsTable's BySubject (keys only: subject, occurred_at). Updates here
        never change those attributes (summary sums, alert delivery state)."""
        table = body["TableName"].rsplit("-", 1)[-1]
        fields = {"LeadsTable": ("due_shard", "due_at"), "AccountsTable": ("member_score", "lead"),
                  "AlertsTable": ("subject", "occurred_at")}.get(table)  # fmt: skip
        if fields is None or kind == "Update":
            return
        names = {"LeadsTable": ("lead",), "AccountsTable": ("account", "sk"), "AlertsTable": ("alert_id",)}[table]
        item = body["Item"] if kind == "Put" else body["Key"]
        key = (table, *(str(item[name]) for name in names))
        entry = tuple(str(item.get(name)) for name in fields) if kind == "Put" and fields[0] in item else None
        before = self.indexed.get(key)
        self.indexed[key] = entry
        units = 0 if before == entry else 1 if before is None or entry is None else 2
        self.priced["write"] += units
        self.priced["index"] += units
        self.by_table[f"{table} index"] += units

    def after(self, parsed, model, **_):
        consumed = parsed.get("ConsumedCapacity")
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            kind = "write" if model.name in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem") else "read"
            self.reported[kind] += entry.get("CapacityUnits", 0)
        if model.name == "GetItem" and "Item" in parsed:
            self.priced["read"] += math.ceil(item_size(parsed["Item"]) / 4096)  # strongly consistent: 1 per 4 KB
            self.items_read += 1
        elif model.name == "Query":
            self.priced["read"] += max(1, math.ceil(sum(item_size(i) for i in parsed.get("Items", [])) / 4096))
            self.items_read += len(parsed.get("Items", []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=24, help="spread events per lead (one per batch)")
    parser.add_argument("--season-leads", type=int, default=None, help="leads in the season's traffic (leads / 3)")
    args = parser.parse_args()
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)

    import boto3
    from daily_decay import dynamodb_local

    from leadscore.adapters.dynamodb import LeadRepository
    from leadscore.core.compiler import compile_model
    from leadscore.core.events import parse_event
    from leadscore.core.loader import load_model
    from leadscore.local.stack import REGION, create_tables, storage_settings
    from leadscore.service.scoring import AcceptedEvent, ScoringService

    local = dynamodb_local()
    try:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=local.endpoint)
        tables = create_tables(client, prefix=f"wu{uuid.uuid4().hex[:6]}")
        settings = storage_settings(tables, local.endpoint)
        service = ScoringService(LeadRepository(settings), compile_model(load_model(ROOT / "rules")))
        meter = Meter().attach(service)

        start = 1_796_000_000.0  # 2026-11-30
        kinds = [
            ("page_view", {"url": "https://fjordline.example/blog/data-mesh"}),
            ("email_click", {"email_kind": "newsletter", "url": "https://fjordline.example/x"}),
            ("download", {"asset": "whitepaper-data-governance"}),
            ("video_play", {"video": "security-suite", "percent": 40}),
        ]

        def company(lead: int) -> str:
            """30 companies of 10 or more buyers each (large accounts); past 2 x leads, 3 a company."""
            return f"co{lead % 30}" if lead < 2 * args.leads else f"small{lead // 3}"

        def event(n: int, lead: int, k: int) -> AcceptedEvent:
            kind, properties = kinds[k % len(kinds)]
            raw = {
                "id": f"e{n}",
                "type": kind,
                "email": f"buyer{lead}@{company(lead)}.example",
                "timestamp": start + n,
                "properties": properties,
            }
            return AcceptedEvent(parse_event(raw), raw, f"m{n}")

        def profiled(lead: int) -> AcceptedEvent:
            """The lead's profile, from an identify call before its events."""
            raw = {
                "id": f"p{lead}",
                "type": "identify",
                "email": f"buyer{lead}@{company(lead)}.example",
                "timestamp": start - 10,
                "profile": {"job_title": "Head of Data", "employees": 2500, "country": "NO"},
            }
            return AcceptedEvent(parse_event(raw), raw, f"pm{lead}")

        # warm every lead with a profile (identify) and 20 events of history: a lived-in lead item
        n = 0
        for lead in range(args.leads):
            batch = []
            for k in range(20):
                batch.append(event(n, lead, k))
                n += 1
            service.score([profiled(lead), *batch[:10]])
            service.score(batch[10:])
        results = {}
        for label, per_batch, rounds in (
            (f"spread: 1 event per lead per batch, {args.rounds} rounds", 1, args.rounds),
            ("grouped: 10 events of one lead per batch, 3 rounds", 10, 3),
        ):
            meter.reset()
            events = 0
            for _ in range(rounds):  # rounds: a lead item fills with waiting history, then writes it out
                for lead in range(args.leads):
                    batch = [event(n + i, lead, n + i) for i in range(per_batch)]
                    n += per_batch
                    service.score(batch)
                    events += per_batch
            results[label] = (events, dict(meter.priced), dict(meter.reported), dict(meter.calls), dict(meter.by_table))
        # the same, on leads early in their journey: each event moves the score, so the account moves
        # too; in those large accounts, then in small ones (3 buyers a company: members inline)
        for label, fresh in (
            ("spread, score moves, large accounts: 1 event per lead per batch, leads with 1 event so far",
             range(args.leads, 2 * args.leads)),
            ("spread, score moves, small accounts: the same, 3 buyers a company",
             range(2 * args.leads, 3 * args.leads)),
        ):  # fmt: skip
            for lead in fresh:
                service.score([profiled(lead), event(n, lead, 0)])
                n += 1
            meter.reset()
            for lead in fresh:
                service.score([event(n, lead, 2)])  # a whitepaper download: points for the lead and its account
                n += 1
            results[label] = (
                len(fresh),
                dict(meter.priced),
                dict(meter.reported),
                dict(meter.calls),
                dict(meter.by_table),
            )
        season = {
            policy: season_of_traffic(local.endpoint, args.season_leads or max(6, args.leads // 3), policy)
            for policy in ("exact", "lower bound")
        }
    finally:
        local.stop()

    print(
        f"capacity per event through the scoring service on DynamoDB Local; shipped model, {args.leads} leads in 30 companies,"
    )
    print("each lead already holding 20 events of history and a profile (the last cases: a profile and one event)")
    verdicts = []
    for (label, (events, priced, reported, calls, by_table)), target in zip(results.items(), TARGETS, strict=True):
        wru, rru = priced.get("write", 0) / events, priced.get("read", 0) / events
        print(f"\n{label}: {events} events, calls {calls}")
        print(f"  priced by DynamoDB's rules: {wru:.2f} write units and {rru:.2f} read units per event")
        print(
            f"  as DynamoDB Local reports them: {reported.get('write', 0) / events:.2f} write, {reported.get('read', 0) / events:.2f} read (for reference)"
        )
        print(f"  per million events on demand: ${wru * WRITE_PRICE:.2f} writes + ${rru * READ_PRICE:.2f} reads")
        shares = ", ".join(f"{table} {units / events:.2f}" for table, units in sorted(by_table.items()))
        print(f"  write units per event by table: {shares}")
        verdict = "met" if wru <= target else "NOT met"
        verdicts.append(f"target {label.split(':')[0]} <= {target} write units per event: {wru:.2f} -> {verdict}")
    print()
    print("\n".join(verdicts))
    print_season(season)
    return 0


SEASON_DAYS = 120


def season_of_traffic(endpoint: str, leads: int, policy: str) -> dict:
    """Leads with events at their own pace (every 1.5, 4, 10 or 30 days on average) over 120 days,
    each event its own batch, and the daily run at 05:00 every day, through the scoring service:
    what the events' saves and the schedule's visits cost, index writes included.

    `policy` "exact": the DueIndex entry rewritten at every save (what the code did before);
    "lower bound": as shipped."""
    import random

    import boto3

    import leadscore.service.scoring as scoring
    from leadscore.adapters.dynamodb import DUE_SHARDS, LeadRepository
    from leadscore.core.compiler import compile_model
    from leadscore.core.events import parse_event
    from leadscore.core.loader import load_model
    from leadscore.local.stack import REGION, create_tables, storage_settings
    from leadscore.service.scoring import AcceptedEvent, ScoringService, schedule_tick

    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    tables = create_tables(client, prefix=f"season{uuid.uuid4().hex[:6]}")
    repository = LeadRepository(storage_settings(tables, endpoint))
    service = ScoringService(repository, compile_model(load_model(ROOT / "rules")))
    kinds = [
        ("page_view", {"url": "https://fjordline.example/blog/data-mesh"}),
        ("email_click", {"email_kind": "newsletter", "url": "https://fjordline.example/x"}),
        ("download", {"asset": "whitepaper-data-governance"}),
        ("video_play", {"video": "security-suite", "percent": 40}),
        ("page_view", {"url": "https://fjordline.example/pricing"}),
        ("webinar_attend", {"webinar": "lakehouse-101"}),
    ]
    rng = random.Random(11)
    day0 = 1_775_000_000.0 - 1_775_000_000.0 % 86_400 + 5 * 3600  # 05:00 UTC, 1 April 2026
    end = day0 + SEASON_DAYS * 86_400
    traffic = []
    for lead in range(leads):
        email = f"buyer{lead}@firm{lead % max(1, leads // 3)}.example"
        gap = (1.5, 4, 10, 30)[lead % 4] * 86_400
        t = day0 + rng.uniform(0, 20 * 86_400)
        raw = {"id": f"s{lead}-p", "type": "identify", "email": email, "timestamp": t,
               "profile": {"job_title": "Head of Data", "employees": 2500, "country": "NO"}}  # fmt: skip
        traffic.append(raw)
        k = 0
        while (t := t + rng.expovariate(1 / gap) + 60) < end:
            kind, properties = kinds[rng.randrange(len(kinds))]
            traffic.append(
                {"id": f"s{lead}-{k}", "type": kind, "email": email, "timestamp": t, "properties": properties}
            )
            k += 1
    traffic.sort(key=lambda raw: raw["timestamp"])

    meter = Meter().attach(service)
    events = visits = 0
    visit_units: Counter = Counter()
    original = scoring.due_to_index
    if policy == "exact":
        scoring.due_to_index = lambda indexed, exact, woken: exact
    try:
        position = 0
        for day in range(1, SEASON_DAYS + 1):
            morning = day0 + day * 86_400
            while position < len(traffic) and traffic[position]["timestamp"] < morning:
                raw = traffic[position]
                service.score([AcceptedEvent(parse_event(raw), raw, raw["id"])])
                position += 1
                events += 1
            before = Counter(meter.priced)
            due = [
                lead
                for shard in range(DUE_SHARDS)
                for lead in repository.due_leads(f"due#{shard:02d}", morning, limit=10_000)[0]
            ]
            for start in range(0, len(due), 10):
                ticks = [
                    AcceptedEvent(schedule_tick(lead, morning), {}, f"tick-{lead}", "schedule")
                    for lead in due[start : start + 10]
                ]
                service.score(ticks)
            visits += len(due)
            visit_units += Counter(meter.priced) - before
    finally:
        scoring.due_to_index = original
        meter.detach()
    return {"events": events, "visits": visits, "priced": dict(meter.priced), "visit_units": dict(visit_units),
            "leads": leads, "by_table": dict(meter.by_table), "by_write": dict(meter.by_write),
            "writes": dict(meter.writes)}  # fmt: skip


def print_season(season: dict) -> None:
    first = next(iter(season.values()))
    print(
        f"\na season of traffic: {first['leads']} leads over {SEASON_DAYS} days, {first['events']} events as they come"
        " (one per batch, new leads among them), the daily run every morning"
    )
    print(
        f"{'DueIndex entry':<28}{'visits':>8}{'WRU/event':>11}{'of which index':>16}{'visits WRU':>12}{'RRU/event':>11}{'$/M events':>12}"
    )
    for policy, figures in season.items():
        events, priced, visit = figures["events"], figures["priced"], figures["visit_units"]
        wru, rru = priced.get("write", 0) / events, priced.get("read", 0) / events
        label = "exact at every save" if policy == "exact" else "lower bound (shipped)"
        print(
            f"{label:<28}{figures['visits']:>8,}{wru:>11.2f}{priced.get('index', 0) / events:>16.2f}"
            f"{visit.get('write', 0) / events:>12.2f}{rru:>11.2f}{wru * WRITE_PRICE + rru * READ_PRICE:>12.2f}"
        )
    for policy, figures in season.items():
        shares = ", ".join(
            f"{table} {units / figures['events']:.2f}" for table, units in sorted(figures["by_table"].items())
        )
        print(f"  {policy}: write units per event by table: {shares}")
    shipped = season["lower bound"]
    wru = shipped["priced"].get("write", 0) / shipped["events"]
    print("  lower bound: where the write units go, by what each write request holds (index writes included):")
    print(f"  {'request':<68}{'requests':>9}{'units each':>12}{'WRU/event':>11}{'share':>7}")
    for shape, units in sorted(shipped["by_write"].items(), key=lambda item: -item[1]):
        requests = shipped["writes"][shape]
        print(
            f"  {shape:<68}{requests:>9,}{units / requests:>12.1f}{units / shipped['events']:>11.2f}"
            f"{units / shipped['priced']['write']:>7.0%}"
        )
    verdict = "met" if wru <= TARGETS[0] else "NOT met"
    print(
        f"target a season's events, the schedule's visits and index writes included, <= {TARGETS[0]} write units per event: {wru:.2f} -> {verdict}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
