#!/usr/bin/env python3
"""Render the stage-velocity email from the shipped model and sample traffic, so reviewers see what marketing gets.

Replays events/sample-traffic.jsonl through rules/ as `leadscore report --date 2026-11-09` does
(a Monday with moves the day before, that week and the weeks before it; the morning after the
last event, 16 Nov, has a quiet last week) and writes docs/velocity-report-sample.html; with
--screenshot also docs/velocity-report-sample.png through headless Chromium (Debian's `chromium`
package). The inputs are fixed, so re-running it changes the files only when the replay or the
renderer does; tests/unit/test_velocity_report.py checks the HTML did not drift.

    .venv/bin/python scripts/render_velocity_report_sample.py --screenshot
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))  # runs from a checkout without installing
sys.path.insert(0, str(ROOT / "scripts"))

from render_alert_email_sample import screenshot as shoot  # noqa: E402

from leadscore.cli.simulate import events_from  # noqa: E402
from leadscore.core.compiler import compile_model  # noqa: E402
from leadscore.core.loader import load_model  # noqa: E402
from leadscore.core.velocity_replay import report_from_events  # noqa: E402
from leadscore.render.velocity_report import render_report  # noqa: E402

DOCS = ROOT / "docs"
RULES = ROOT / "rules"
TRAFFIC = ROOT / "events" / "sample-traffic.jsonl"
SAMPLE_DAY = date(2026, 11, 9)
WIDTH = 760


def sample() -> tuple[str, str, str, str]:
    """(subject, text, html, csv) for the sample morning."""
    loaded = load_model(RULES, display_base=ROOT)
    report = report_from_events(compile_model(loaded), events_from([TRAFFIC]), SAMPLE_DAY)
    return render_report(report, loaded.spec.name, SAMPLE_DAY)


def screenshot(html: Path, png: Path) -> None:
    """The alert sample's two-pass Chromium screenshot, at this email's width."""
    shoot(html, png, width=WIDTH, probe_height=6000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", action="store_true", help="also write the PNG with headless Chromium")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write to (default: docs/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    subject, _, html, csv_text = sample()
    html_path = args.out / "velocity-report-sample.html"
    html_path.write_text(html, encoding="utf-8", newline="")
    (args.out / "velocity-report-sample.csv").write_text(csv_text, encoding="utf-8", newline="")
    written = [html_path.name, "velocity-report-sample.csv"]
    if args.screenshot:
        screenshot(html_path, args.out / "velocity-report-sample.png")
        written.append("velocity-report-sample.png")
    print(f"{subject}\nwrote {', '.join(written)} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
