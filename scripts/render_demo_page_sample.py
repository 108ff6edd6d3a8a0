#!/usr/bin/env python3
"""Render the demo's HTML page from a run at a fixed clock, so the README can show what `make demo` writes.

Runs `leadscore demo` (the generated funnel, seed 7, through the real handlers on moto) as if it
were FIXED_NOW, in a scratch outbox, and writes docs/demo-page.html; with --screenshot also
docs/demo-page.png through headless Chromium (Debian's `chromium` package), with the screenshot
helper of scripts/render_alert_email_sample.py. The funnel, the model and the clock are fixed, so
re-running it changes the files only when the engine, the model or the renderer does. The links
to the run's emails are left out (they would point into a scratch folder).

The tracking door refuses events older than its retention (396 days), so once FIXED_NOW is more
than about 340 days in the past the replay is refused: move FIXED_NOW forward then.

    .venv/bin/python scripts/render_demo_page_sample.py --screenshot
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))  # runs from a checkout without installing
sys.path.insert(0, str(ROOT / "scripts"))

from render_alert_email_sample import screenshot as shoot  # noqa: E402

from leadscore.local import demo  # noqa: E402
from leadscore.render.demo_page import page_from_report, render_demo_page  # noqa: E402

DOCS = ROOT / "docs"
FIXED_NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC).timestamp()  # a Tuesday morning
WIDTH = 1000


def sample_html() -> str:
    """The page of a default run (seed 7, 200 leads) at FIXED_NOW, without links into its outbox."""
    saved = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="leadscore-demo-sample-") as scratch:
            report = demo.run(outbox=Path(scratch), now=FIXED_NOW)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    report["funnel"]["file"] = str(demo.OUTBOX / demo.FUNNEL_NAME)  # as a reader's own run names it
    page = page_from_report(report, [command for command, _ in demo.next_steps(report)])
    page = dataclasses.replace(
        page, alerts=tuple(dataclasses.replace(alert, file=None) for alert in page.alerts), files=()
    )
    return render_demo_page(page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", action="store_true", help="also write the PNG with headless Chromium")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write to (default: docs/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    html_path = args.out / "demo-page.html"
    html_path.write_text(sample_html(), encoding="utf-8", newline="")
    written = [html_path.name]
    if args.screenshot:
        shoot(html_path, args.out / "demo-page.png", width=WIDTH, probe_height=8000)
        written.append("demo-page.png")
    print(f"wrote {', '.join(written)} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
