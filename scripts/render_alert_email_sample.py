#!/usr/bin/env python3
"""Render the sales alert email for a realistic lead, so reviewers see what sales receives.

Writes docs/alert-email-sample.html and docs/alert-email-sample.eml; with --screenshot also
docs/alert-email-sample.png through headless Chromium (Debian's `chromium` package). The sample
is fixed (alert id, times, Date, Message-ID and MIME boundary), so re-running it changes the
files only when the renderer changes; tests/unit/test_alert_email.py checks they did not drift.

    .venv/bin/python scripts/render_alert_email_sample.py --screenshot
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))  # runs from a checkout without installing

from leadscore.render.alert_email import (  # noqa: E402
    Activity,
    AlertContext,
    Buyer,
    RenderedEmail,
    RuleLine,
    mime_message,
    render,
)

DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
SENDER = "Fjordline leadscore <alerts@fjordline.example>"
RECIPIENTS = ["sales@fjordline.example"]
SAMPLE_DATE = "Thu, 03 Dec 2026 14:05:09 +0000"
SAMPLE_MESSAGE_ID = "<sample-alert-lead-ingrid@fjordline.example>"
SAMPLE_BOUNDARY = "===============leadscore-sample=="
WIDTH = 700


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def sample_context() -> AlertContext:
    """Ingrid Solberg at Nordkraft crossing the lead alert of the shipped model (rules/)."""
    crossed = _at("2026-12-03T14:05:00")
    return AlertContext(
        alert_id="alrt-20261203-140500-7f3a9c",
        alert_name="lead",
        kind="lead_score",
        subject="ingrid.solberg@nordkraft.no",
        score=105,
        threshold=100,
        occurred_at=crossed,
        event_id="evt-0413",
        stage="sales_ready",
        grade="A",
        temperature="hot",
        profile={
            "name": "Ingrid Solberg",
            "first_name": "Ingrid",
            "last_name": "Solberg",
            "company": "Nordkraft",
            "job_title": "Head of Data Platforms",
            "country": "NO",
            "employees": 3200,
            "budget": "10k_to_50k",
            "authority": "decision_maker",
            "need": "solution_needed",
            "timing": "this_quarter",
            "nps": 9,
            "comment": "The pipelines pilot saved us weeks. We want it for the whole group next quarter.",
        },
        fit=75,  # senior + data title, mid size, Nordic, four BANT answers, promoter
        fit_cap=50,  # explicit_share_max 50% of sales_ready_score 100
        engagement=55,
        nps=9,
        nps_category="promoter",
        top_rules=[
            RuleLine("contact-sales-form", "Submitted the contact-sales form", 25),
            RuleLine("senior-title", "Decision-level job title", 15),
            RuleLine("pricing-page", "Viewed the pricing page (a page that signals readiness)", 10),
            RuleLine("webinar-attended", "Attended a webinar live", 10),
            RuleLine("bant-budget", "", 10),  # rules without a description in rules/ show their id
            RuleLine("bant-authority", "", 10),
            RuleLine("bant-timing", "", 10),
            RuleLine("company-size-mid", "", 10),
        ],
        activities=[
            Activity(crossed, "form_submit", "contact-sales", 25),
            Activity(_at("2026-12-03T13:52:00"), "page_view", "https://fjordline.example/pricing", 10),
            Activity(
                _at("2026-12-02T09:31:00"),
                "email_click",
                "https://fjordline.example/webinars/pipelines-at-scale?utm_campaign=dec-offer",
                3,
            ),
            Activity(_at("2026-11-26T15:00:00"), "webinar_attend", "pipelines-at-scale", 10),
            Activity(_at("2026-11-24T10:12:00"), "video_play", "lakehouse-demo 80%", 5),
            Activity(_at("2026-11-20T08:47:00"), "email_open", "nov-newsletter (informative)", 1),
        ],
        account="nordkraft.no",
        account_score=92,  # mean of the top 3: (105 + 96 + 75) / 3
        buyers=[
            Buyer("lars.berg@nordkraft.no", "Lars Berg", "IT Security Architect", 96, "decision"),
            Buyer("emma.dahl@nordkraft.no", "Emma Dahl", "Data Engineer", 75, "decision"),
        ],
        engaged_buyers=None,
        crm_url="https://crm.fjordline.example/leads/00Q7Q00000NkRf2",
        model_version="fjordline-b2b@3f9c2e1",
    )


def sample_email() -> RenderedEmail:
    return render(sample_context())


def sample_eml(email: RenderedEmail) -> bytes:
    """mime_message's bytes with the three per-send values (Date, Message-ID, boundary) fixed."""
    raw = mime_message(
        email, SENDER, RECIPIENTS, alert_id=sample_context().alert_id, configuration_set="leadscore-alerts"
    )
    head, sep, body = raw.partition(b"\r\n\r\n")
    head = re.sub(rb"(?m)^Date: [^\r\n]*", b"Date: " + SAMPLE_DATE.encode(), head)
    head = re.sub(rb"(?m)^Message-ID: [^\r\n]*", b"Message-ID: " + SAMPLE_MESSAGE_ID.encode(), head)
    boundary = re.search(rb'boundary="([^"]+)"', head)
    raw = head + sep + body
    return raw.replace(boundary.group(1), SAMPLE_BOUNDARY.encode()) if boundary else raw


def _png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, bytes per pixel, unfiltered rows) of an 8-bit RGB/RGBA PNG, as Chromium writes them."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, bpp = 8, bytearray(), 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format"
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride = zlib.decompress(bytes(idat)), width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 255
            elif kind == 4:
                corner = previous[i - bpp] if i >= bpp else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        previous = line
    return width, bpp, rows


def content_height(png: bytes, margin: int = 24) -> int:
    """The height of what is drawn: the last row that is not plain page background, plus a margin."""
    width, bpp, rows = _png_rows(png)
    background = rows[-1][:bpp] * width
    last = max((y for y, row in enumerate(rows) if row != background), default=len(rows) - 1)
    return last + 1 + margin


def _chromium(html: Path, png: Path, height: int, width: int) -> None:
    with tempfile.TemporaryDirectory(prefix="leadscore-chromium-") as profile:
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def screenshot(html: Path, png: Path, width: int = WIDTH, probe_height: int = 4000) -> None:
    """Two passes: a tall window to measure the content, then a window cropped to it."""
    with tempfile.TemporaryDirectory(prefix="leadscore-shot-") as tmp:
        probe = Path(tmp) / "probe.png"
        _chromium(html, probe, probe_height, width)
        height = content_height(probe.read_bytes())
    _chromium(html, png, height, width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", action="store_true", help="also write the PNG with headless Chromium")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write to (default: docs/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    email = sample_email()
    html_path = args.out / "alert-email-sample.html"
    html_path.write_text(email.html, encoding="utf-8", newline="")
    (args.out / "alert-email-sample.eml").write_bytes(sample_eml(email))
    written = [html_path.name, "alert-email-sample.eml"]
    if args.screenshot:
        screenshot(html_path, args.out / "alert-email-sample.png")
        written.append("alert-email-sample.png")
    print(f"{email.subject}\nwrote {', '.join(written)} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
