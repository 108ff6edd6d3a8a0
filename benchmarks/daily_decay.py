"""The daily run on the local stack (moto): N leads, half of them due, decayed through the real
handlers (scheduler start, work items, ticks, consumer). Prints leads/s and the DynamoDB calls
per decayed lead, and per lead that was not due (the target: at most 1 read and 1 conditional
write per decayed lead, nothing for the others), with the extrapolation to 1,000,000 leads.

moto is far slower than DynamoDB, so leads/s here is a floor; the call counts are exact.

Usage: python benchmarks/daily_decay.py [--leads 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
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
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    model_dir = Path(tempfile.mkdtemp())
    (model_dir / "model.yaml").write_text(MODEL)

    from botocore.client import BaseClient

    from leadscore.adapters.queue import message_body
    from leadscore.core.events import parse_event
    from leadscore.local.stack import LambdaContext, local_aws, provision

    with local_aws():
        stack = provision()
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
                    "email": f"lead{n}@co{n % 500}.example",
                    "timestamp": START - (40 if quiet else 5) * DAY,
                }
                records.append({"messageId": f"m{n}", "body": message_body(parse_event(event), event, "tracking")})
            consumer.handler({"Records": records}, LambdaContext())

        calls: Counter[str] = Counter()
        original = BaseClient._make_api_call

        def counting(self, operation_name, api_params):
            if self.meta.service_model.service_name == "dynamodb":
                calls[operation_name] += 1
            return original(self, operation_name, api_params)

        BaseClient._make_api_call = counting
        began = time.perf_counter()
        stack.run_daily(schedule.handler, START)
        drained = stack.drain(consumer.handler, max_rounds=10_000_000)
        elapsed = time.perf_counter() - began
        BaseClient._make_api_call = original

    due = (args.leads + 1) // 2
    rolled_up = calls["Query"] - 16 - 0  # the due-index pages; the rest is the velocity roll-up
    print(f"daily run over {args.leads} leads on moto, {due} due: {drained['delivered']} ticks scored, {drained['failed']} failed")
    print(f"  {due / elapsed:,.0f} decayed leads/s end to end ({elapsed:.1f} s), a floor: moto is slower than DynamoDB")
    print("  DynamoDB calls during the run, by operation: " + json.dumps(dict(sorted(calls.items()))))
    print(f"  per decayed lead: {calls['GetItem'] / due:.2f} reads (GetItem), {calls['TransactWriteItems'] / due:.2f} conditional writes (one transaction)")
    print(f"  per lead not due: 0 reads, 0 writes (it is not in the due index's pages); index pages read: 16 + {max(0, rolled_up)} roll-up queries")
    print(f"  1,000,000 leads, half due: {500_000 / 1000:,.0f} work items of 1,000 leads, 500,000 ticks; at these call counts "
          f"{calls['GetItem'] / due * 500_000:,.0f} reads and {calls['TransactWriteItems'] / due * 500_000:,.0f} transactions")
    return 0 if drained["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
