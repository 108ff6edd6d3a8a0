"""The daily velocity report: roll up the days since the last run, then email the report, once.

Each lead save that moved a stage left a small delta for its day (MetricsTable, written right
after the save). Each morning the days not rolled up yet become one aggregate each and the next
morning's snapshot (counts per stage cannot be reconstructed later, so each snapshot is the one
before plus the day's changes); the report reads only those, at most 60 aggregates and 14
snapshots, whatever the number of leads. The last RECOUNT_DAYS days rolled up are rolled up
again, so a delta that arrived after its day was (a save whose Lambda died before writing it,
written by the redelivery; an event a day or two late) is counted in the following mornings'
figures. Rolling up is idempotent (rewriting a day gives the same items), so a rerun or a
retried run changes nothing.

The email goes once per day: the run claims the day's report item with a lease, sends, and marks
it sent. If the run dies after SES accepted the message and before the mark, the lease runs out
and a rerun sends it again (the one place it can go twice, as with alerts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..adapters.mail import SesMailer
from ..adapters.metrics import MetricsRepository
from ..core.compiler import CompiledModel
from ..core.velocity import Snapshot, VelocityReport, day_of, roll_up, velocity_report
from ..render.velocity_report import render_report

LOOKBACK_DAYS = 60  # the report compares 30 days with the 30 before
LEASE_SECONDS = 300.0
RECOUNT_DAYS = 2  # days rolled up again each morning, for the deltas that came after their day's roll-up


class VelocityReporting:
    def __init__(
        self,
        metrics: MetricsRepository,
        model: CompiledModel,
        mailer: SesMailer | None = None,
        sender: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.model = model
        self.mailer = mailer
        self.sender = sender
        self.clock = clock

    def roll_up(self, today: date) -> int:
        """Aggregate every day before `today` since the last snapshot, and the RECOUNT_DAYS before
        it again; returns how many days."""
        latest = self.metrics.latest_snapshot(today)
        if latest is None:
            start, snapshot = today - timedelta(days=LOOKBACK_DAYS), Snapshot()
        else:
            start, snapshot = latest
            earlier = self.metrics.latest_snapshot(start - timedelta(days=RECOUNT_DAYS))
            if earlier is not None:
                start, snapshot = earlier
        days = 0
        day = start
        while day < today:
            aggregate, snapshot = roll_up(snapshot, self.metrics.day_deltas(day))
            self.metrics.put_day(day, aggregate, snapshot, day + timedelta(days=1))
            day += timedelta(days=1)
            days += 1
        return days

    def report(self, today: date) -> VelocityReport:
        start = today - timedelta(days=LOOKBACK_DAYS + 1)
        return velocity_report(
            self.metrics.aggregates(start, today - timedelta(days=1)),
            self.metrics.snapshots(today - timedelta(days=14), today),
            today,
            self.model.stage_ids,
        )

    def send(self, today: date) -> str:
        """'sent', 'skipped' (sent already, or another run is sending), or 'no recipients'."""
        velocity = self.model.spec.reports.velocity
        if velocity is None or not velocity.to or self.mailer is None:
            return "no recipients"
        if not self.metrics.claim_report(today, self.clock(), LEASE_SECONDS):
            return "skipped"
        try:
            subject, text, html, csv_text = render_report(self.report(today), self.model.spec.name, today)
            message = report_message(subject, text, html, csv_text, self.sender, list(velocity.to), today)
            message_id = self.mailer.send(message, self.sender, list(velocity.to))
        except Exception:
            self.metrics.release_report(today)
            raise
        self.metrics.report_sent(today, message_id)
        return "sent"

    def run(self, at: float) -> dict[str, object]:
        """The morning's work: roll up, then the report for the day of `at` (UTC)."""
        today = day_of(at)
        return {"rolled_up": self.roll_up(today), "report": self.send(today)}


def report_message(
    subject: str, text: str, html: str, csv_text: str, sender: str, recipients: list[str], today: date
) -> bytes:
    """MIME: text and HTML alternatives, and the figures as a CSV attachment."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = " ".join(subject.split())
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message.add_attachment(
        csv_text.encode("utf-8"), maintype="text", subtype="csv", filename=f"stage-velocity-{today.isoformat()}.csv"
    )
    return message.as_bytes()
