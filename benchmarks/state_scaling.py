"""What one save costs as the state behind it grows: accounts of 1 to 10,000 members, and leads
with 10 to 1,000 events behind them. Through the real scoring service (shipped model) on Amazon's
DynamoDB Local; units priced by DynamoDB's rules from each request (as write_units.py does).

Accounts: members written directly, as their saves leave them (a small account's scores inline in
its summary; a large one's member items and their sum in the summary), then new buyers of that
company send their first event (which moves their score, so the account moves too): median wall
time per save, DynamoDB calls, items read, read and write units, as ratios to the 1-member account. Target: a save on a 10,000-member account costs at most 2x one on
a 1-member account, in time and in capacity units.

Leads: a lead with N events over the past year sends one more: the same figures, as ratios to a
10-event lead. The lead item keeps what scoring needs (points per rule, recent gains, stage
history, the ids of events inside the late-events window for exact redelivery), not the events.

Usage: python benchmarks/state_scaling.py [--members 1,100,1000,10000] [--history 10,100,1000] [--saves 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT / "benchmarks"))

START = 1_796_000_000.0  # 2026-11-30
TARGET = 2.0  # a 10,000-member account's save <= 2x a 1-member account's, in time and units


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="1,100,1000,10000")
    parser.add_argument("--history", default="10,100,1000")
    parser.add_argument("--saves", type=int, default=7)
    args = parser.parse_args()
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)

    import boto3
    from daily_decay import dynamodb_local
    from write_units import Meter

    from leadscore.adapters.dynamodb import INLINE_MEMBERS, SUMMARY, AccountItem, LeadItem, LeadRepository, member_key
    from leadscore.core.compiler import compile_model
    from leadscore.core.events import parse_event
    from leadscore.core.loader import load_model
    from leadscore.local.stack import REGION, create_tables, storage_settings
    from leadscore.service.scoring import AcceptedEvent, ScoringService

    counter = iter(range(10**9))

    def event(
        email: str, kind: str = "download", properties: dict | None = None, profile: dict | None = None, at: float = 0.0
    ):
        n = next(counter)
        raw = {
            "id": f"e{n}",
            "type": "identify" if profile else kind,
            "email": email,
            "timestamp": at or START + n,
            "properties": properties if properties is not None else {"asset": f"whitepaper-{n % 5}"},
        }
        if profile:
            raw["profile"] = profile
        return AcceptedEvent(parse_event(raw), raw, f"m{n}")

    local = dynamodb_local()
    try:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=local.endpoint)
        tables = create_tables(client, prefix=f"ss{uuid.uuid4().hex[:6]}")
        settings = storage_settings(tables, local.endpoint)
        service = ScoringService(LeadRepository(settings), compile_model(load_model(ROOT / "rules")))
        meter = Meter().attach(service)

        def snapshot() -> tuple[float, float, int, int]:
            return (
                meter.priced.get("read", 0),
                meter.priced.get("write", 0),
                sum(meter.calls.values()),
                meter.items_read,
            )

        def measure(save) -> dict[str, float]:
            """Medians over the saves of (seconds, read units, write units, calls, items read)."""
            rows = []
            for i in range(args.saves):
                before = snapshot()
                started = time.perf_counter()
                result = save(i)
                elapsed = time.perf_counter() - started
                assert not result.failures, result.failures
                after = snapshot()
                rows.append((elapsed, *(a - b for a, b in zip(after, before, strict=True))))
            names = ("ms", "read", "write", "calls", "items_read")
            return {
                name: statistics.median(row[k] for row in rows) * (1000 if name == "ms" else 1)
                for k, name in enumerate(names)
            }

        for i in range(20):  # warm up DynamoDB Local's JIT and the service before timing anything
            service.score([event(f"warm{i}@warm.example")])
        table = AccountItem.Meta.table_name
        accounts = {}
        for size in [int(s) for s in args.members.split(",")]:
            domain = f"size{size}.example"
            requests = [
                {
                    "PutRequest": {
                        "Item": {
                            "account": {"S": domain},
                            "sk": {"S": f"member#m{i}@{domain}"},
                            "lead": {"S": f"m{i}@{domain}"},
                            "member_score": {"N": str(i % 40)},
                        }
                    }
                }
                for i in range(size)
            ]
            summary = {
                "account": {"S": domain},
                "sk": {"S": SUMMARY},
                "members": {"N": str(size)},
                "stage": {"S": "awareness"},
            }
            if size < INLINE_MEMBERS:  # a small account: its members' scores in its summary
                inline = {
                    member_key(r["PutRequest"]["Item"]["lead"]["S"]): r["PutRequest"]["Item"]["member_score"]
                    for r in requests
                }
                summary |= {"inline": {"M": inline}, "inline_version": {"N": "1"}}
            else:  # a large one: an item per member, their sum in the summary
                for first in range(0, len(requests), 25):
                    client.batch_write_item(RequestItems={table: requests[first : first + 25]})
                summary["total"] = {"N": str(sum(i % 40 for i in range(size)))}
            client.put_item(TableName=table, Item=summary)
            accounts[size] = measure(lambda i, d=domain: service.score([event(f"new{i}@{d}")]))

        leads = {}
        for history in [int(s) for s in args.history.split(",")]:
            email = f"history{history}@co{history}.example"
            profile = {"job_title": "Head of Data", "employees": 2500, "country": "NO"}
            year = 365 * 86_400
            service.score([event(email, profile=profile, at=START - year - 60)])
            kinds = [("page_view", {"url": "https://fjordline.example/blog/data-mesh"}), ("download", None)]
            for first in range(0, history, 10):  # its events spread over the past year, as a long-lived lead's are
                service.score(
                    [
                        event(email, *kinds[(first + k) % 2], at=START - year + (first + k) * year / history)
                        for k in range(min(10, history - first))
                    ]
                )
            item = LeadItem.get(email, consistent_read=True)
            size = len(item.state or b"")
            leads[history] = {
                **measure(lambda i, e=email: service.score([event(e, "page_view", {"url": "https://x.example/"})])),
                "state_bytes": size,
            }
        # a flood: 1,000 events inside the late-events window, every id remembered (12 bytes each)
        flood = "flood@co-flood.example"
        for first in range(0, 1000, 10):
            service.score([event(flood, "page_view", None, at=START - 86_400 + (first + k) * 86.4) for k in range(10)])
        flooded = {
            **measure(lambda i: service.score([event(flood, "page_view", {"url": "https://x.example/"})])),
            "state_bytes": len(LeadItem.get(flood, consistent_read=True).state or b""),
        }
    finally:
        local.stop()

    def table_of(title: str, rows: dict[int, dict[str, float]], unit: str, extra: str | None = None) -> dict[int, dict]:
        base = rows[min(rows)]
        print(title)
        header = f"{unit:>9}{'ms/save':>10}{'x':>7}{'calls':>7}{'items read':>12}{'RRU':>7}{'x':>7}{'WRU':>7}{'x':>7}"
        print(header + (f"{'state bytes':>13}" if extra else ""))
        ratios = {}
        for key, row in rows.items():
            ratio = {
                "ms": row["ms"] / base["ms"],
                "read": row["read"] / base["read"],
                "write": row["write"] / base["write"],
            }
            ratios[key] = ratio
            line = (
                f"{key:>9,}{row['ms']:>10.1f}{ratio['ms']:>6.2f}x{row['calls']:>7.0f}{row['items_read']:>12.0f}"
                f"{row['read']:>7.1f}{ratio['read']:>6.2f}x{row['write']:>7.1f}{ratio['write']:>6.2f}x"
            )
            print(line + (f"{row[extra]:>13,.0f}" if extra else ""))
        print()
        return ratios

    print(f"one save through the scoring service on DynamoDB Local, shipped model; medians of {args.saves} saves")
    print()
    by_members = table_of(
        "by account size (a new member's first event: its score and the account move)", accounts, "members"
    )
    table_of(
        "by lead history (one more page view for a lead with N events over the past year)",
        leads,
        "events",
        "state_bytes",
    )
    print(
        f"a flood (1,000 events in one day, all inside the late-events window, every id remembered): "
        f"{flooded['ms']:.1f} ms/save, {flooded['read']:.1f} RRU, {flooded['write']:.1f} WRU, "
        f"state {flooded['state_bytes']:,.0f} bytes"
    )
    print()
    if 1 in by_members and 10000 in by_members:
        worst = by_members[10000]
        for label, key in (("time", "ms"), ("read units", "read"), ("write units", "write")):
            verdict = "met" if worst[key] <= TARGET else "NOT met"
            print(
                f"target a save on a 10,000-member account <= {TARGET}x a 1-member one in {label}: {worst[key]:.2f}x -> {verdict}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
