"""`leadscore report`: the stage-velocity report a morning would bring, from an events file, without AWS.

The events are replayed through the model in memory (core/velocity_replay.py: transitions and a
snapshot at every UTC midnight), folded into day aggregates, and the report for `--date` is
printed; `--html` and `--csv` write the email's HTML and the spreadsheet.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ..core.compiler import compile_model
from ..core.loader import load_model
from ..core.velocity import day_of
from ..core.velocity_replay import report_from_events
from ..render.velocity_report import render_report
from .simulate import events_from

DEFAULT_MODEL = Path("rules")


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-16") from None


def cmd_report(args: argparse.Namespace) -> int:
    loaded = load_model(args.path)
    model = compile_model(loaded)
    if args.events:
        events = events_from(args.events)
        if args.date is not None:
            today = args.date
        elif events:
            today = day_of(max(event.ts for event in events)) + timedelta(days=1)
        else:
            today = datetime.now(UTC).date()
        report = report_from_events(model, events, today)
    else:  # the deployed figures: the stored day aggregates and snapshots (METRICS_TABLE)
        from ..adapters.metrics import MetricsRepository
        from ..service.reporting import VelocityReporting
        from ..settings import Settings

        today = args.date or datetime.now(UTC).date()
        report = VelocityReporting(MetricsRepository(Settings.from_env(required=["metrics_table"])), model).report(today)
    subject, text, html, csv_text = render_report(report, loaded.spec.name or "leadscore", today)
    print(subject)
    print()
    print(text, end="")
    for path, content in ((args.html, html), (args.csv, csv_text)):
        if path is not None:
            path.write_text(content, encoding="utf-8", newline="")
            print(f"wrote {path}")
    return 0


def add_report_command(commands: Any) -> argparse.ArgumentParser:
    """Register `report` on the `leadscore` subparsers (the object `add_subparsers()` returned)."""
    report = commands.add_parser(
        "report", help="the stage-velocity report (entered, moved on, time in stage): replayed or deployed"
    )
    report.add_argument("path", nargs="?", type=Path, default=DEFAULT_MODEL, help="model file or folder")
    report.add_argument(
        "--events",
        type=Path,
        action="append",
        help="JSON Lines file to replay (repeatable); without it, the deployed figures (METRICS_TABLE)",
    )
    report.add_argument(
        "--date",
        type=_date,
        help="the morning of the report (YYYY-MM-DD, UTC); default: the day after the last event, or today",
    )
    report.add_argument("--html", type=Path, help="also write the email's HTML to this file")
    report.add_argument("--csv", type=Path, help="also write the figures as CSV to this file")
    report.set_defaults(run=cmd_report)
    return report
