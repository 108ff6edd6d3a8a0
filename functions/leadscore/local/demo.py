"""`leadscore demo`: a generated funnel through the real handlers into DynamoDB, then what a marketer sees.

Everything runs in-process on moto: tables built from template.yaml, an SQS FIFO queue, the
tracking secret in SSM, SES writing to an outbox folder. The funnel (local/funnel.py: a few
hundred leads in dozens of accounts over eight weeks up to now) is replayed:
tracking events signed and posted to POST /events in batches, web forms posted to
POST /forms/{formId} (stamped with their own time), the queue drained into the consumer in SQS
batches of 10, lead after lead as a backfill would (see _replay). Then the daily
schedule runs once at now (decay, cold leads, the velocity report email), the alert emails go
through the notifier into the outbox, and the demo prints the leaderboard, the alerts and what to
try next, and writes one HTML page (render/demo_page.py) that a browser opens.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from .funnel import FormPost, Funnel, generate
from .stack import ROOT, LambdaContext, Stack, http_event, local_aws, provision, signed_headers, to_json_bytes

OUTBOX = ROOT / "outbox"  # the emails the demo sends, the demo page and the funnel it replayed
PAGE_NAME = "demo.html"
FUNNEL_NAME = "demo-funnel.jsonl"
DEFAULT_LEADS = 200
DEFAULT_SEED = 7
WEEKS = 8
ACCOUNTS = 40
BATCH = 50  # events per signed POST /events (the door takes up to 100)
TOP_LEADS = 15
TOP_ACCOUNTS = 10


class Progress:
    """A one-line bar on stderr, redrawn with a carriage return; silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.total = 1  # set by `run` once the funnel is generated: the messages to score
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.shown = ""

    def update(self, done: int, label: str) -> None:
        if not self.enabled:
            return
        width = 30
        filled = min(width, width * done // max(self.total, 1))
        line = f"\r{label:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {time.monotonic() - self.started:4.0f}s"
        if line != self.shown:
            self.stream.write(line)
            self.stream.flush()
            self.shown = line

    def done(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * (len(self.shown) - 1) + "\r")
            self.stream.flush()


@contextmanager
def _clock_of(module: Any, at: float) -> Iterator[None]:
    """The forms handler stamps a submission with its clock: a replayed form is stamped with its own time."""
    saved = module.time
    module.time = SimpleNamespace(time=lambda: at)
    try:
        yield
    finally:
        module.time = saved


def _post_events(tracking: Any, secret: str, events: list[dict[str, Any]]) -> int:
    body = to_json_bytes({"batch": events})
    response = tracking.handler(
        http_event("POST", "/events", body, signed_headers(secret, body, int(time.time()))), LambdaContext()
    )
    if response["statusCode"] != 202:
        raise SystemExit(f"POST /events answered {response['statusCode']}: {response['body']}")
    return int(json.loads(response["body"])["accepted"])


def _post_form(forms: Any, form: FormPost) -> None:
    event = http_event(
        "POST",
        f"/forms/{form.form_id}",
        form.body(),
        {"content-type": "application/x-www-form-urlencoded"},
        {"formId": form.form_id},
    )
    with _clock_of(forms, form.ts):
        response = forms.handler(event, LambdaContext())
    if response["statusCode"] != 202:
        raise SystemExit(f"POST /forms/{form.form_id} answered {response['statusCode']}: {response['body']}")


def _discard_metrics() -> None:
    """With metrics disabled Powertools keeps them, and prints them at 100 values anyway: drop them."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        from ..handlers.common import metrics

        metrics.clear_metrics()


def _email(item: dict[str, Any] | FormPost) -> str:
    return item.email if isinstance(item, FormPost) else str(item["email"])


def _replay(funnel: Funnel, stack: Stack, handlers: SimpleNamespace, progress: Progress) -> dict[str, int]:
    """Every event and form, as a backfill: lead after lead, each lead's history in time order; the queue
    is drained after each request, as Lambda would.

    Why lead after lead: the consumer groups a batch by lead, one conditional write per lead, so a
    lead's events arriving together cost one write; in global time order every batch of ten holds
    ten leads, and on moto, whose transactions copy each table they touch, that takes minutes.
    Alert times are the events' own times either way.
    """
    counts = Counter[str]()
    steps = sorted(funnel.steps(), key=lambda step: (_email(step[1]), step[0]))
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        if pending:
            counts["accepted"] += _post_events(handlers.tracking, stack.secret, pending)
            counts["requests"] += 1
            pending.clear()
        counts.update(stack.drain(handlers.consumer.handler))
        _discard_metrics()
        progress.update(counts["delivered"], "scoring the funnel")

    for _, item in steps:
        if isinstance(item, FormPost):
            flush()
            _post_form(handlers.forms, item)
            counts["accepted"] += 1
            counts["forms"] += 1
        else:
            pending.append(item)
            if len(pending) == BATCH:
                flush()
    flush()
    return dict(counts)


def _lead_history(lead: str) -> list[dict[str, Any]]:
    """Every scored change of one lead (events and schedule ticks), oldest first."""
    from ..adapters.dynamodb import LeadRepository
    from ..settings import STORAGE, Settings

    return list(reversed(LeadRepository(Settings.from_env(required=STORAGE)).history(lead, limit=10_000)))


def stored_report(now: float) -> dict[str, Any]:
    """The leaderboard's data, read back from DynamoDB (not from memory)."""
    from ..adapters.dynamodb import SUMMARY, AccountItem, AlertItem, LeadRepository, inline_scores, unpack_state
    from ..core.accounts import aggregate
    from ..core.engine import view
    from ..core.state import LeadState
    from ..handlers import runtime
    from ..settings import STORAGE, Settings

    model = runtime.model()
    repository = LeadRepository(Settings.from_env(required=STORAGE))
    leads = [view(model, LeadState.from_dict(unpack_state(item.state)), now) for item in repository.leads()]
    leads.sort(key=lambda lead: (-lead["score"], lead["lead"]))
    accounts: dict[str, dict[str, float]] = {}
    alerts: list[dict[str, Any]] = []
    for item in AccountItem.scan():
        if item.sk == SUMMARY:
            accounts.setdefault(item.account, {}).update(inline_scores(item) or {})
        elif item.lead is not None:
            member = getattr(item, "member_score", None)  # a member's main score (older items: `score`)
            accounts.setdefault(item.account, {})[item.lead] = float(member if member is not None else item.score or 0)
    for alert in AlertItem.scan():
        alerts.append(
            {
                "ts": alert.occurred_at,
                "kind": alert.kind,
                "subject": alert.subject,
                "score": alert.score,
                "threshold": alert.threshold,
                "status": alert.status,
                "to": list(alert.recipients),
                "message_id": alert.message_id,
            }
        )
    alerts.sort(key=lambda alert: (alert["ts"], alert["kind"], alert["subject"]))
    account_rows = [
        {
            "account": name,
            "score": aggregate(members.values(), model.spec.accounts),
            "leads": len(members),
            "top_lead": max(members.items(), key=lambda pair: (pair[1], pair[0]))[0],
        }
        for name, members in accounts.items()
    ]
    account_rows.sort(key=lambda row: (-row["score"], row["account"]))
    stages = [stage.id for stage in model.spec.stages]
    return {
        "model_version": model.version,
        "model_name": model.spec.name,
        "stages": stages,
        "threshold": model.spec.sales_ready_score,
        "at": now,
        "leads": leads,
        "accounts": account_rows,
        "alerts": alerts,
    }


def _outbox_files(outbox: Path) -> dict[str, str]:
    """Subject of each email the run wrote, by the message's file stem."""
    import email
    import email.policy

    subjects = {}
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subjects[path.stem] = str(message["Subject"] or "")
    return subjects


def run(
    leads: int = DEFAULT_LEADS,
    seed: int = DEFAULT_SEED,
    outbox: Path = OUTBOX,
    now: float | None = None,
    progress: Progress | None = None,
    quiet_logs: bool = True,
) -> dict[str, Any]:
    """Generate the funnel, replay it through the handlers, run the daily schedule at `now`; the report."""
    from ..core.events import format_timestamp  # noqa: F401 - fails early if the package is broken

    if quiet_logs:  # the handlers' structured logs and metrics would drown the leaderboard
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    outbox.mkdir(parents=True, exist_ok=True)
    os.environ["OUTBOX_DIR"] = str(outbox)
    for old in [*outbox.glob("*.eml"), *outbox.glob("*.html")]:  # this run's emails only
        old.unlink()
    now = float(int(time.time() if now is None else now))
    funnel = generate(now, seed=seed, leads=leads, accounts=ACCOUNTS, weeks=WEEKS)
    funnel_file = outbox / FUNNEL_NAME
    funnel_file.write_text(
        "".join(json.dumps(event, separators=(",", ":")) + "\n" for event in funnel.as_events()), encoding="utf-8"
    )
    progress = progress or Progress(enabled=False)
    progress.total = len(funnel.events) + len(funnel.forms)
    with local_aws(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")  # metrics are off here
        stack = provision()
        from aws_lambda_powertools.utilities import parameters

        from ..handlers import consumer, forms, notifier, runtime, schedule, tracking
        from ..handlers import leads as leads_handler

        runtime.reset()
        parameters.clear_caches()
        consumer.service.cache_clear()
        leads_handler.service.cache_clear()
        notifier.notifier.cache_clear()
        schedule.walker.cache_clear()
        schedule.reporting.cache_clear()
        handlers = SimpleNamespace(tracking=tracking, forms=forms, consumer=consumer)
        counts = _replay(funnel, stack, handlers, progress)
        progress.update(counts.get("delivered", 0), "daily schedule")
        daily = stack.run_daily(schedule.handler, now)
        ticks = stack.drain(consumer.handler)  # decay and cold marking go through the scoring queue
        _discard_metrics()
        progress.update(counts.get("delivered", 0), "sending alert emails")
        stack.deliver_alerts(notifier.handler)  # the outbox stream into the notifier, SES on moto
        _discard_metrics()
        report = stored_report(now)
        top = next((lead["lead"] for lead in report["leads"]), None)
        report["history"] = {"lead": top, "points": _lead_history(top) if top else []}
    progress.done()
    report["events"] = {
        "posted": len(funnel.events),
        "forms": len(funnel.forms),
        "accepted": counts.get("accepted", 0),
        "requests": counts.get("requests", 0),
        "delivered": counts.get("delivered", 0),
        "failed": counts.get("failed", 0) + ticks["failed"],
        "ticks": ticks["delivered"],
        "work_items": daily["work_items"],
    }
    report["funnel"] = {
        "seed": seed,
        "weeks": WEEKS,
        "leads": len(funnel.leads),
        "accounts": len({lead.company.domain for lead in funnel.leads if lead.company}),
        "journeys": dict(sorted(funnel.journeys().items())),
        "start": now - WEEKS * 7 * 86400,
        "file": str(funnel_file),
    }
    report["outbox"] = str(outbox)
    emails = _outbox_files(outbox)
    alert_files = {alert["message_id"] for alert in report["alerts"] if alert.get("message_id")}
    report["velocity_report"] = next((str(outbox / f"{stem}.html") for stem in emails if stem not in alert_files), None)
    for alert in report["alerts"]:
        stem = alert.get("message_id")
        alert["file"] = str(outbox / f"{stem}.html") if stem and stem in emails else None
    page = outbox / PAGE_NAME
    page.write_text(_page(report), encoding="utf-8")
    report["page"] = str(page)
    return report


# --- what the demo prints -------------------------------------------------------------------------


def _shown_path(path: str | Path) -> str:
    """A path as the reader types it: relative to the current folder when it is under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def next_steps(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(command, what it shows): what to try after the demo."""
    funnel = _shown_path(report["funnel"]["file"])
    watched = report["history"]["lead"] or "EMAIL"
    return [
        (
            f"leadscore simulate rules --events {funnel} --lead {watched}",
            "one lead's timeline: each event, change, cap and why",
        ),
        ("leadscore explain rules", "the whole model as the asset / stage / score table"),
        (
            f"$EDITOR rules/behaviour.yaml && leadscore diff --base HEAD --events {funnel}",
            "change a rule, see who it moves, then run `make demo` again",
        ),
        (
            f"leadscore demo --seed {report['funnel']['seed'] + 1} --leads 120",
            "another funnel: other leads, other journeys",
        ),
        ("leadscore serve", "every function on a local port, to post your own forms and events (being built)"),
    ]


def _alert_lines(report: dict[str, Any]) -> list[str]:
    from ..cli.simulate import WIDTH
    from ..cli.tables import render
    from ..core.events import format_timestamp
    from ..core.units import format_number
    from ..render.demo_page import WHY

    sent = [alert for alert in report["alerts"] if alert["status"] == "sent" and alert["to"]]
    unsent = sum(1 for alert in report["alerts"] if alert["status"] != "sent")
    cold = sum(1 for alert in report["alerts"] if alert["kind"] == "lead_cold")
    lines = [
        f"Alerts sent: {len(sent)} email(s) through SES (on moto), one per crossing"
        + (f"; {unsent} not sent" if unsent else "")
        + (f"; {cold} leads turned cold (on the event bus for nurturing)" if cold else "")
    ]
    committees = [alert for alert in sent if alert["kind"] == "engaged_buyers"]
    rows = [
        [
            format_timestamp(alert["ts"])[:10],
            WHY.get(alert["kind"], alert["kind"]),
            alert["subject"],
            format_number(alert["score"]),
            ", ".join(alert["to"]),
        ]
        for alert in sent
        if alert["kind"] != "engaged_buyers"
    ]
    if rows:
        lines.append(
            render(["day", "why", "who", "score", "emailed to"], rows, "table", WIDTH, shrink=[(2, 16), (4, 20)])
        )
    if committees:
        recipients = ", ".join(sorted({to for alert in committees for to in alert["to"]}))
        line = f"{len(committees)} buying-group alert(s) to {recipients}:"
        for index, alert in enumerate(committees):
            left = len(committees) - index - 1
            tail = f" and {left} more" if left else ""
            if len(f"{line} {alert['subject']},{tail}") > WIDTH:
                line = f"{line.rstrip(',')} and {left + 1} more"
                break
            line = f"{line} {alert['subject']}" + ("," if left else "")
        lines.append(line)
    return lines


def summary(report: dict[str, Any]) -> str:
    """The terminal output after the run: leaderboard, alerts, where the files are, what to try next."""
    from ..cli.simulate import leaderboard
    from ..core.events import format_timestamp

    counts, funnel = report["events"], report["funnel"]
    lines = [
        f"Replayed a generated funnel (seed {funnel['seed']}): {funnel['leads']} leads in {funnel['accounts']} accounts "
        f"over {funnel['weeks']} weeks up to {format_timestamp(report['at'])}:",
        f"{counts['posted']} tracking events signed and posted to POST /events in {counts['requests']} requests, "
        f"{counts['forms']} NPS and contact-sales",
        f"forms posted to POST /forms/{{formId}}; {counts['delivered']} queue messages scored by the consumer, "
        f"{counts['failed']} failed; then the daily",
        f"schedule ran once at now: {counts['ticks']} decay and cold checks, the velocity report emailed.",
        "",
    ]
    board = dict(report)
    board["events"] = {"scored": counts["delivered"], "duplicate": counts["accepted"] - counts["delivered"], "late": 0}
    board["accounts"] = report["accounts"][:TOP_ACCOUNTS]
    text = leaderboard(board, "table", TOP_LEADS)
    text = text.split("\n\nAlerts that would fire")[0]  # the alerts sent are listed below, with recipients
    text = text.replace("\n\nLeads\n", f"\n\nTop {TOP_LEADS} of {len(report['leads'])} leads\n", 1)
    text = text.replace("\n\nAccounts\n", f"\n\nTop {TOP_ACCOUNTS} of {len(report['accounts'])} accounts\n", 1)
    lines.append(text)
    lines += ["", *_alert_lines(report), ""]
    lines.append(f"Alert emails:     {_shown_path(report['outbox'])}/ (each as .eml, the MIME message, and .html)")
    if report.get("velocity_report"):
        lines.append(f"Velocity report:  {_shown_path(report['velocity_report'])} (the daily email)")
    lines.append(
        f"The demo page:    {_shown_path(report['page'])} (open it in a browser: leaderboard, funnel, a lead's score over time, alerts)"
    )
    lines += ["", "What to try next:"]
    for command, why in next_steps(report):
        lines.append(f"  {command}")
        lines.append(f"      {why}")
    return "\n".join(lines)


def _page(report: dict[str, Any]) -> str:
    from ..render.demo_page import page_from_report, render_demo_page

    return render_demo_page(page_from_report(report, [command for command, _ in next_steps(report)]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadscore demo", description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=DEFAULT_LEADS, help=f"how many leads (default {DEFAULT_LEADS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"the funnel's seed (default {DEFAULT_SEED})")
    parser.add_argument(
        "--outbox", type=Path, default=OUTBOX, help="folder for the emails and the page (default outbox/)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`leadscore demo [--leads N] [--seed N] [--outbox DIR] [--quiet]`; no argv: the defaults."""
    args = build_parser().parse_args(argv or [])
    if args.leads < 2:
        print("leadscore demo: --leads must be at least 2", file=sys.stderr)
        return 2
    report = run(args.leads, args.seed, args.outbox, progress=Progress(enabled=False if args.quiet else None))
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
