"""Load and loss check: a bounded load through `leadscore serve`, then a reconciliation of what was stored.

Loopback only, a fixed number of events, stops by itself. It starts `leadscore serve` (or uses one
given with --url), sends signed /events batches, Segment /v1/batch calls and form posts from
several threads, with redelivered ids and concurrent hits on the same leads and accounts; waits
for the queue to drain; then checks that every accepted event was scored exactly once, that each
lead's score equals the sum of its history's deltas, that each account's total equals the sum of
its members' scores, and that there is one alert (and one email) per threshold crossing. Prints
events/s and p50/p99 latencies (request -> stored score, crossing -> email in the outbox); exits 1
when anything does not reconcile.

    .venv/bin/python benchmarks/load_check.py --events 2000 --threads 8
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))

from leadscore.adapters.packing import unpack  # noqa: E402
from leadscore.local.stack import basic_auth, signed_headers  # noqa: E402

EVENT_TYPES = [  # (type, properties): a mix that takes some leads over the alert threshold
    ("page_view", {"url": "https://www.fjordline.example/pricing"}),
    ("page_view", {"url": "https://www.fjordline.example/blog/data-mesh"}),
    ("webinar_attend", {}),
    ("download", {"asset": "whitepaper-data-mesh"}),
    ("demo_request", {}),
    ("trial_start", {}),
]
SEGMENT_EVENTS = [("File Downloaded", {"asset": "case-study-polderbank"}), ("Webinar Attended", {})]


def loopback_only(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"load_check: {url} is not a loopback address; this generator only loads this machine")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Load:
    def __init__(self, url: str, info: dict[str, Any], events: int, leads: int, accounts: int, seed: int) -> None:
        self.url, self.info = url, info
        self.random = random.Random(seed)
        self.total = events
        self.leads = [f"lead{i:04d}@acct{i % accounts:03d}.example" for i in range(leads)]
        self.lock = threading.Lock()
        self.accepted: dict[str, float] = {}  # event id -> when its request was sent
        self.forms: dict[str, list[float]] = defaultdict(list)  # lead -> sent times of accepted distinct form posts
        self.refused: Counter[int] = Counter()
        self.requests = 0
        self.duplicates = 0
        self.form_ids: set[str] = set()  # the generator's ids of form posts

    def plan(self, duplicate_rate: float) -> list[tuple[str, Any]]:
        """The sends, fixed before any is made: (kind, payload); a share are redeliveries of earlier ones."""
        sends: list[tuple[str, Any]] = []
        made = 0
        serial = 0
        hot = self.leads[: max(2, len(self.leads) // 20)]  # a few leads many threads hit at once
        while made < self.total:
            kind = self.random.choices(["events", "segment", "form"], weights=[6, 3, 1])[0]
            size = 1 if kind == "form" else min(self.random.randint(1, 10), self.total - made)
            batch = []
            for _ in range(size):
                serial += 1
                lead = self.random.choice(hot if self.random.random() < 0.3 else self.leads)
                batch.append((f"load-{serial:07d}", lead))
            sends.append((kind, batch))
            made += size
            if sends and self.random.random() < duplicate_rate:
                sends.append(self.random.choice(sends))  # the same ids again: a client's retry
                self.duplicates += 1
        self.random.shuffle(sends)
        return sends

    def send(self, kind: str, batch: list[tuple[str, str]], session: requests.Session) -> None:
        sent = time.time()
        if kind == "events":
            events = []
            for event_id, lead in batch:
                event_type, properties = EVENT_TYPES[int(event_id[-7:]) % len(EVENT_TYPES)]
                events.append({"id": event_id, "type": event_type, "email": lead, "timestamp": now_iso(), "properties": properties})
            body = json.dumps({"batch": events}).encode()
            response = session.post(
                self.url + "/events", data=body, headers=signed_headers(self.info["tracking_secret"], body, int(sent)), timeout=30
            )
        elif kind == "segment":
            calls = []
            for event_id, lead in batch:
                name, properties = SEGMENT_EVENTS[int(event_id[-7:]) % len(SEGMENT_EVENTS)]
                calls.append({"type": "track", "event": name, "userId": lead, "messageId": event_id, "properties": properties, "timestamp": now_iso()})
            body = json.dumps({"batch": calls}).encode()
            response = session.post(
                self.url + "/v1/batch", data=body, headers={**basic_auth(self.info["server_write_key"]), "content-type": "application/json"}, timeout=30
            )
        else:
            [(event_id, lead)] = batch
            fields = {"email": lead, "nps": str(int(event_id[-7:]) % 11), "comment": event_id, "website": ""}
            response = session.post(
                self.url + "/forms/nps-survey", data=urlencode(fields), headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30
            )
        with self.lock:
            self.requests += 1
            if 200 <= response.status_code < 300:
                for event_id, lead in batch:
                    if kind == "form" and event_id not in self.accepted:
                        self.forms[lead].append(sent)
                    self.accepted.setdefault(event_id, sent)
            else:
                self.refused[response.status_code] += 1


def scan(table: Any) -> list[dict[str, Any]]:
    items, start = [], None
    while True:
        page = table.scan(**({"ExclusiveStartKey": start} if start else {}))
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def number(value: Any) -> float:
    return float(value) if isinstance(value, Decimal | int | float) else 0.0


def stored_json(value) -> str:
    """A history body or a lead's pending records as stored: zlib-compressed binary (boto3 gives a
    Binary), or text written before."""
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, str) else unpack(bytes(raw)).decode("utf-8")


def reconcile(load: Load, info: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    dynamodb = boto3.resource(  # moto's server: fake credentials, never a real account
        "dynamodb",
        region_name="eu-west-1",
        endpoint_url=info["aws_endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    tables = {logical: dynamodb.Table(name) for logical, name in info["tables"].items()}
    problems: list[str] = []
    # the history written out as items, and what still waits in each lead's item (`pending`)
    history = [
        (item["lead"], [{"recorded_at": item["recorded_at"], **entry} for entry in json.loads(stored_json(item["events"]))])
        for item in scan(tables["HistoryTable"])
    ]
    for item in scan(tables["LeadsTable"]):
        if item.get("pending") is not None:
            for record in json.loads(stored_json(item["pending"]))["history"]:
                history.append((item["lead"], [{"recorded_at": record["recorded_at"], **entry} for entry in record["entries"]]))
    scored: Counter[str] = Counter()
    recorded: dict[str, float] = {}
    deltas: dict[str, float] = defaultdict(float)
    form_ids: dict[str, set[str]] = defaultdict(set)
    crossings: list[tuple[str, float]] = []  # (alert id, when the save that crossed was recorded)
    for lead, entries in history:
        for event in entries:
            scored[event["event_id"]] += 1
            recorded.setdefault(event["event_id"], number(event["recorded_at"]))
            deltas[lead] += number(event["score_after"]) - number(event["score_before"])
            if event["event_type"] == "form_submit":
                form_ids[lead].add(event["event_id"])
            for alert in event.get("alerts") or []:
                crossings.append((f"{alert.get('name')}#{alert.get('subject')}#{alert.get('event_id')}", number(event["recorded_at"])))
    twice = [event_id for event_id, count in scored.items() if count > 1]
    if twice:
        problems.append(f"{len(twice)} event(s) scored more than once, e.g. {twice[:3]}")
    missing = [event_id for event_id in load.accepted if event_id not in scored and event_id not in load.form_ids]
    if missing:  # a form's id is the server's own (a hash of its answers): forms are reconciled by count below
        problems.append(f"{len(missing)} accepted event(s) never scored, e.g. {missing[:3]}")
    for lead, sent in load.forms.items():
        if len(form_ids.get(lead, set())) != len(sent):
            problems.append(f"{lead}: {len(sent)} distinct forms accepted, {len(form_ids.get(lead, set()))} scored")
    leads = {item["lead"]: item for item in scan(tables["LeadsTable"]) if "state" in item}
    for lead, item in leads.items():
        if abs(number(item.get("score")) - deltas.get(lead, 0.0)) > 1e-6:
            problems.append(f"{lead}: stored score {number(item.get('score'))} but history deltas sum to {deltas.get(lead, 0.0)}")
    members: dict[str, list[str]] = defaultdict(list)
    summaries: dict[str, dict[str, Any]] = {}
    for item in scan(tables["AccountsTable"]):
        if item["sk"] == "#summary":
            summaries[item["account"]] = item
        elif item.get("lead"):
            members[item["account"]].append(item["lead"])
    for account, leads_of in members.items():
        expected = sum(number(leads[lead].get("score")) for lead in leads_of if lead in leads)
        total = number(summaries.get(account, {}).get("total"))
        if abs(total - expected) > 1e-6 or number(summaries.get(account, {}).get("members")) != len(leads_of):
            problems.append(f"account {account}: total {total} over {summaries.get(account, {}).get('members')} members, leads sum to {expected} over {len(leads_of)}")
    alerts = scan(tables["AlertsTable"])
    alert_ids = Counter(item["alert_id"] for item in alerts)
    lead_alerts = {item["alert_id"] for item in alerts if item.get("subject_type") == "lead"}
    crossing_ids = Counter(alert_id for alert_id, _ in crossings)
    if set(crossing_ids) != lead_alerts or any(count > 1 for count in crossing_ids.values()):
        problems.append(f"{len(crossings)} lead crossing(s) in history but {len(lead_alerts)} lead alert(s) recorded")
    if any(count > 1 for count in alert_ids.values()):
        problems.append("an alert id was recorded twice")
    outbox = Path(info["outbox"])
    email_latency = []
    crossed_at = {alert_id: at for alert_id, at in crossings}
    for item in alerts:
        if item.get("status") != "sent":
            problems.append(f"alert {item['alert_id']} is {item.get('status')}, not sent")
            continue
        if not item.get("recipients"):
            continue
        mail = [path for path in outbox.glob("*.eml") if item.get("message_id") and re.sub(r"[^A-Za-z0-9._-]", "_", str(item["message_id"])) in path.name]
        if len(mail) != 1:
            problems.append(f"alert {item['alert_id']}: {len(mail)} email(s) in the outbox")
            continue
        at = crossed_at.get(item["alert_id"], number(item.get("created_at")))
        email_latency.append(mail[0].stat().st_mtime - at)
    latency = [recorded[event_id] - sent for event_id, sent in load.accepted.items() if event_id in recorded]
    figures = {
        "accepted": len(load.accepted),
        "scored": len(scored),
        "leads": len(leads),
        "accounts": len(members),
        "alerts": len(alerts),
        "duplicate_alert_ids": sum(1 for count in alert_ids.values() if count > 1),
        "score_p50": percentile(latency, 0.5),
        "score_p99": percentile(latency, 0.99),
        "email_p50": percentile(email_latency, 0.5),
        "email_p99": percentile(email_latency, 0.99),
        "emails": len(email_latency),
    }
    return problems, figures


def start_serve(outbox: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "leadscore.local.serve", "--port", "0", "--outbox", str(outbox)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    for line in process.stdout:
        found = re.search(r" on (http://127\.0\.0\.1:\d+)", line)
        if found:
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
            return process, found.group(1)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise SystemExit("load_check: leadscore serve did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=2000, help="distinct events to send (default 2000)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--leads", type=int, default=0, help="default: events / 10")
    parser.add_argument("--accounts", type=int, default=0, help="default: leads / 5")
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of sends redelivered (default 0.1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", help="a running `leadscore serve` (loopback only); default: start one")
    parser.add_argument("--outbox", type=Path, default=Path("/tmp/leadscore-load-check-outbox"))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 0 < args.events <= 1_000_000:
        raise SystemExit("load_check: --events must be 1 to 1,000,000")
    process = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        args.outbox.mkdir(parents=True, exist_ok=True)
        for old in [*args.outbox.glob("*.eml"), *args.outbox.glob("*.html")]:
            old.unlink()
        process, url = start_serve(args.outbox)
    loopback_only(url)
    try:
        info = requests.get(url + "/_local", timeout=10).json()
        loopback_only(info["aws_endpoint_url"])
        leads = args.leads or max(2, args.events // 10)
        load = Load(url, info, args.events, leads, args.accounts or max(1, leads // 5), args.seed)
        sends = load.plan(args.duplicates)
        load.form_ids = {event_id for kind, batch in sends if kind == "form" for event_id, _ in batch}
        started = time.monotonic()
        local = threading.local()

        def one(send: tuple[str, Any]) -> None:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            load.send(send[0], send[1], local.session)

        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            list(pool.map(one, sends))
        sent_seconds = time.monotonic() - started
        while True:
            drained = requests.post(url + "/_local/drain", params={"timeout": 120}, timeout=180).json()
            if drained["idle"]:
                break
            if time.monotonic() - started > 1800:
                raise SystemExit("load_check: the queue did not drain in 30 minutes")
        total_seconds = time.monotonic() - started
        problems, figures = reconcile(load, info)
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    figures.update(
        {
            "requests": load.requests,
            "redelivered_sends": load.duplicates,
            "refused": dict(load.refused),
            "send_seconds": round(sent_seconds, 2),
            "scored_events_per_second": round(figures["scored"] / total_seconds, 1),
            "requests_per_second": round(load.requests / sent_seconds, 1),
            "problems": problems,
        }
    )
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{figures['accepted']} events accepted in {load.requests} requests ({load.duplicates} redelivered sends, "
            f"refused {dict(load.refused) or 'none'}) from {args.threads} threads over {figures['leads']} leads "
            f"and {figures['accounts']} accounts"
        )
        print(
            f"sustained: {figures['scored_events_per_second']} events/s scored end to end "
            f"({figures['requests_per_second']} requests/s answered)"
        )
        print(
            f"request -> stored score: p50 {figures['score_p50']:.3f}s, p99 {figures['score_p99']:.3f}s; "
            f"crossing -> email: p50 {figures['email_p50']:.3f}s, p99 {figures['email_p99']:.3f}s "
            f"({figures['emails']} emails, {figures['alerts']} alerts)"
        )
        print("reconciled: every accepted event scored once, leads = their history, accounts = their leads, one alert per crossing"
              if not problems else "NOT reconciled:\n  " + "\n  ".join(problems[:20]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
