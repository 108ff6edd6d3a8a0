"""The daily run on the local stack: N leads, half of them due, decayed through the real handlers
(scheduler start, work items, ticks, consumer). Prints leads/s and the DynamoDB calls per decayed
lead, and per lead that was not due (the target: at most 1 read and 1 conditional write per
decayed lead, nothing for the others), with the extrapolation to 1,000,000 leads.

Queues, SSM and SES are moto; DynamoDB is moto (`--engine moto`, quick, far slower than DynamoDB
per call) or Amazon's DynamoDB Local (`--engine dynamodb-local`, what 50,000 leads are measured
on). Leads/s on either is a floor for Lambda against DynamoDB; the call counts are exact.

`--accounts` puts the leads in companies (two per company): an account's stage follows its
members' scores, so a decayed member also reads its account's members (one Query).

Usage: python benchmarks/daily_decay.py [--leads 5000] [--engine moto|dynamodb-local] [--accounts]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

MODEL = """
decay: {after_inactive: 30d, every: 7d, percent: 10%}
cold_lead: {no_increase_for: 45d}
rules:
  - {id: visit, when: {event: page_view}, points: 10}
"""
DAY = 86_400.0
START = 1_790_000_000.0  # 2026-09-21


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--engine", choices=("moto", "dynamodb-local"), default="moto")
    parser.add_argument("--accounts", action="store_true", help="two leads per company instead of free-mail leads")
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_DEV", "false")
    model_dir = Path(tempfile.mkdtemp())
    (model_dir / "model.yaml").write_text(MODEL)

    from botocore.client import BaseClient

    from leadscore.adapters.queue import message_body
    from leadscore.core.events import parse_event
    from leadscore.local.stack import LambdaContext, local_aws, provision

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    local = dynamodb_local() if args.engine == "dynamodb-local" else None
    with local_aws():
        stack = provision(endpoint_url=local.endpoint if local else None)
        os.environ["MODEL_PATH"] = str(model_dir)
        from leadscore.handlers import consumer, runtime, schedule

        runtime.reset()
        consumer.service.cache_clear()
        schedule.walker.cache_clear()
        schedule.reporting.cache_clear()
        # Half the leads were last active 40 days before the run (a decay step is due), half 5 days.
        for start in range(0, args.leads, 10):
            records = []
            for n in range(start, min(start + 10, args.leads)):
                quiet = n % 2 == 0
                event = {
                    "id": f"e{n}",
                    "type": "page_view",
                    "email": f"lead{n}@co{n // 2}.example" if args.accounts else f"lead{n}@gmail.com",
                    "timestamp": START - (40 if quiet else 5) * DAY,
                }
                records.append({"messageId": f"m{n}", "body": message_body(parse_event(event), event, "tracking")})
            consumer.handler({"Records": records}, LambdaContext())

        phase = "start"
        calls: dict[str, Counter[str]] = {"start": Counter(), "walk": Counter(), "ticks": Counter()}
        original = BaseClient._make_api_call

        def counting(self, operation_name, api_params):
            if self.meta.service_model.service_name == "dynamodb":
                calls[phase][operation_name] += 1
            return original(self, operation_name, api_params)

        BaseClient._make_api_call = counting
        began = time.perf_counter()
        schedule.handler({"at": datetime.fromtimestamp(START, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}, LambdaContext())
        phase = "walk"
        walked = stack.run_daily(
            lambda event, context: schedule.handler(event, context) if "Records" in event else {}, START
        )
        phase = "ticks"
        ticking = time.perf_counter()
        drained = stack.drain(consumer.handler, max_rounds=10_000_000)
        elapsed = time.perf_counter() - began
        ticks_elapsed = time.perf_counter() - ticking
        BaseClient._make_api_call = original
    if local:
        local.stop()

    due = (args.leads + 1) // 2
    ticks = calls["ticks"]
    print(
        f"daily run over {args.leads:,} leads on {args.engine}, {due:,} due"
        f"{', two per company' if args.accounts else ', no companies (free mail)'}: "
        f"{drained['delivered']:,} ticks scored, {drained['failed']} failed"
    )
    print(
        f"  {due / elapsed:,.0f} decayed leads/s end to end ({elapsed:.1f} s); the ticks alone {due / ticks_elapsed:,.0f}/s "
        f"({ticks_elapsed:.1f} s) in one consumer, a floor: the stand-ins are slower than DynamoDB"
    )
    print(f"  the run's start (velocity roll-up and report): {json.dumps(dict(sorted(calls['start'].items())))}")
    print(
        f"  walking the due index ({walked['work_items']} work items): {json.dumps(dict(sorted(calls['walk'].items())))}"
    )
    print(f"  the ticks in the consumer: {json.dumps(dict(sorted(ticks.items())))}")
    print(
        f"  per decayed lead: {ticks['GetItem'] / due:.2f} reads (GetItem), "
        f"{(ticks['PutItem'] + ticks['TransactWriteItems']) / due:.2f} conditional writes "
        f"({ticks['PutItem'] / due:.2f} PutItem of the lead alone, {ticks['TransactWriteItems'] / due:.2f} transactions), "
        f"{ticks['UpdateItem'] / due:.2f} member scores written after the lead (UpdateItem of a small account's summary), "
        f"{ticks['Query'] / due:.2f} account reads (Query of its members)"
    )
    print("  per lead not due: 0 reads, 0 writes (it is not in the due index's pages)")
    per_million = 500_000 / due
    print(
        f"  1,000,000 leads, half due: {500_000 / 1000:,.0f} work items of 1,000 leads, 500,000 ticks; at these call counts "
        f"{ticks['GetItem'] * per_million:,.0f} reads, {(ticks['PutItem'] + ticks['TransactWriteItems']) * per_million:,.0f} "
        f"conditional writes, {ticks['UpdateItem'] * per_million:,.0f} member scores in their accounts and "
        f"{ticks['Query'] * per_million:,.0f} account queries; at {due / ticks_elapsed:,.0f} ticks/s in one consumer "
        f"{500_000 / (due / ticks_elapsed) / 60:,.0f} min (the consumer's reserved concurrency divides it)"
    )
    return 0 if drained["failed"] == 0 else 1


class _DynamoDBLocal:
    def __init__(self, process, endpoint: str) -> None:
        self.process, self.endpoint = process, endpoint

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def dynamodb_local() -> _DynamoDBLocal:
    """Amazon's DynamoDB Local from .dynamodb-local/ (scripts/dynamodb-local.sh installs it), in memory."""
    import socket
    import subprocess

    import boto3

    jar_dir = Path(__file__).resolve().parents[1] / ".dynamodb-local"
    if not (jar_dir / "DynamoDBLocal.jar").exists():
        raise SystemExit("DynamoDB Local is not installed: run scripts/dynamodb-local.sh")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        "java",
        f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar_dir / "DynamoDBLocal.jar"),
    ]
    process = subprocess.Popen(
        [*command, "-inMemory", "-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("dynamodb", region_name="eu-west-1", endpoint_url=endpoint)
    deadline = time.time() + 30
    while True:
        try:
            client.list_tables()
            return _DynamoDBLocal(process, endpoint)
        except Exception:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("DynamoDB Local did not start") from None
            time.sleep(0.2)


if __name__ == "__main__":
    raise SystemExit(main())
