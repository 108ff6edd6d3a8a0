"""`leadscore demo` (the README's first command) end to end: sample traffic scored, the alerts
recorded with their event times, and every alert email sent through the notifier into the outbox."""

from __future__ import annotations

import email
import email.policy
import os

from leadscore.local.demo import run


def test_the_demo_scores_the_sample_and_emails_each_alert_into_the_outbox(tmp_path):
    saved = dict(os.environ)
    try:
        report = run(outbox=tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert report["events"]["failed"] == 0
    alerts = report["alerts"]
    kinds = sorted(alert["kind"] for alert in alerts)
    assert kinds == sorted(
        ["nps_detractor", "engaged_buyers", "engaged_buyers", "lead_score", "lead_score", "lead_qualified",
         "lead_qualified", "account_score", "account_score"]
    )
    assert all(alert["status"] == "sent" for alert in alerts)
    assert all(alert["ts"] < 1_800_000_000 for alert in alerts)  # event times from the sample, not the run's clock
    messages = sorted(tmp_path.glob("*.eml"))
    assert len(messages) == len(alerts) and len(list(tmp_path.glob("*.html"))) == len(alerts)
    subjects = {email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"] for path in messages}
    assert any(subject.startswith("Lead ready for sales: ") and "ingrid" in subject.casefold() for subject in subjects)
