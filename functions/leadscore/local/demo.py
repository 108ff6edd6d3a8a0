"""`leadscore demo`: the sample traffic through the real handlers into DynamoDB, then a leaderboard.

Everything runs in-process on moto: tables built from template.yaml, an SQS FIFO queue, the
tracking secret in SSM. The sample events are signed and posted to POST /events (API Gateway
HTTP API events), one form is posted to POST /forms/{formId}, the queue is drained into the
consumer in SQS batches of 10, and the leaderboard is read back from the stored scores.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .stack import ROOT, LambdaContext, http_event, local_aws, provision, signed_headers, to_json_bytes

SAMPLE = ROOT / "events" / "sample-traffic.jsonl"
OUTBOX = ROOT / "outbox"  # the alert emails the demo sends, to open in a browser


def _post_events(tracking: Any, secret: str, events: list[dict[str, Any]]) -> int:
    accepted = 0
    for start in range(0, len(events), 25):
        body = to_json_bytes({"batch": events[start : start + 25]})
        response = tracking.handler(
            http_event("POST", "/events", body, signed_headers(secret, body, int(time.time()))), LambdaContext()
        )
        if response["statusCode"] != 202:
            raise SystemExit(f"POST /events answered {response['statusCode']}: {response['body']}")
        accepted += json.loads(response["body"])["accepted"]
    return accepted


def _post_form(forms: Any, form_id: str, fields: str) -> None:
    response = forms.handler(
        http_event(
            "POST",
            f"/forms/{form_id}",
            fields,
            {"content-type": "application/x-www-form-urlencoded"},
            {"formId": form_id},
        ),
        LambdaContext(),
    )
    if response["statusCode"] != 202:
        raise SystemExit(f"POST /forms/{form_id} answered {response['statusCode']}: {response['body']}")


def stored_report(now: float) -> dict[str, Any]:
    """The leaderboard's data, read back from DynamoDB (not from memory)."""
    from ..adapters.dynamodb import SUMMARY, AccountItem, AlertItem, LeadRepository
    from ..core.accounts import aggregate
    from ..core.engine import view
    from ..core.state import LeadState
    from ..handlers import runtime
    from ..settings import STORAGE, Settings

    model = runtime.model()
    repository = LeadRepository(Settings.from_env(required=STORAGE))
    leads = [view(model, LeadState.from_dict(json.loads(item.state)), now) for item in repository.leads()]
    leads.sort(key=lambda lead: (-lead["score"], lead["lead"]))
    accounts: dict[str, dict[str, float]] = {}
    alerts: list[dict[str, Any]] = []
    for item in AccountItem.scan():
        if item.sk != SUMMARY and item.lead is not None:
            accounts.setdefault(item.account, {})[item.lead] = float(item.score or 0)
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
            }
        )
    alerts.sort(key=lambda alert: alert["ts"])
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
    return {"model_version": model.version, "at": now, "leads": leads, "accounts": account_rows, "alerts": alerts}


def run(sample: Path = SAMPLE, quiet: bool = True, outbox: Path = OUTBOX) -> dict[str, Any]:
    if quiet:  # the handlers' structured logs and metrics would drown the leaderboard
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ["OUTBOX_DIR"] = str(outbox)
    for old in [*outbox.glob("*.eml"), *outbox.glob("*.html")]:  # this run's emails only
        old.unlink()
    with local_aws():
        stack = provision()
        from aws_lambda_powertools.utilities import parameters

        from ..handlers import consumer, forms, leads, notifier, runtime, tracking

        runtime.reset()
        parameters.clear_caches()
        consumer.service.cache_clear()
        leads.service.cache_clear()
        notifier.notifier.cache_clear()
        events = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines() if line.strip()]
        accepted = _post_events(tracking, stack.secret, events)
        _post_form(forms, "nps-survey", "email=emma.dahl%40nordkraft.no&nps=9&comment=Helpful+webinars&website=")
        delivery = stack.drain(consumer.handler)
        stack.deliver_alerts(notifier.handler)  # the outbox stream into the notifier, SES on moto
        report = stored_report(time.time())
        report["events"] = {"posted": len(events), "accepted": accepted + 1, **delivery}
        report["outbox"] = str(outbox)
        return report


def main() -> int:
    from ..cli.simulate import leaderboard

    report = run()
    counts = report["events"]
    print(
        f"{counts['posted']} sample events signed and posted to POST /events, 1 form to POST /forms/nps-survey; "
        f"{counts['delivered']} queue messages scored by the consumer, {counts['failed']} failed"
    )
    report["events"] = {
        "scored": counts["delivered"],
        "duplicate": counts["posted"] + 1 - counts["delivered"],
        "late": 0,
    }
    print(leaderboard(report))
    sent = [alert for alert in report["alerts"] if alert["status"] == "sent" and alert["to"]]
    print(
        f"\n{len(sent)} alert email(s) sent through SES (on moto) by the notifier, one per crossing; "
        f"each is in {report['outbox']}/ as .eml (the MIME message) and .html (open it in a browser):"
    )
    for alert in sent:
        print(f"  {alert['kind']:<15} {alert['subject']:<34} -> {', '.join(alert['to'])}")
    return 0
