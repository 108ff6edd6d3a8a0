"""`leadscore demo` (the README's first command) end to end, on a smaller funnel: the generated
funnel scored through the real handlers, the daily schedule run, every alert emailed into the
outbox, the terminal summary within 120 columns, and the HTML page a browser opens."""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import time
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from leadscore.cli.main import main as cli_main
from leadscore.cli.simulate import LEGEND
from leadscore.local import demo
from leadscore.local.funnel import generate
from leadscore.render.demo_page import AlertRow, DemoPage, LeadRow, ScorePoint, render_demo_page, score_chart

ROOT = Path(__file__).resolve().parents[2]
LEADS = 60
SEED = 7


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One demo run for the module: (report, terminal summary, outbox)."""
    outbox = tmp_path_factory.mktemp("outbox")
    saved, here = dict(os.environ), Path.cwd()
    try:
        report = demo.run(leads=LEADS, seed=SEED, outbox=outbox)
        os.chdir(outbox.parent)  # paths are shown relative to where the reader is, as after `make demo`
        text = demo.summary(report)
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
    return report, text, outbox


def test_the_whole_funnel_is_scored_through_the_handlers(run):
    report, _, _ = run
    funnel = generate(report["at"], seed=SEED, leads=LEADS)
    counts = report["events"]
    # every tracking event and form was accepted at the doors and scored by the consumer once
    assert (counts["posted"], counts["forms"]) == (len(funnel.events), len(funnel.forms)) == (276, 7)
    assert counts["accepted"] == counts["delivered"] == 283 and counts["failed"] == 0
    assert len(report["leads"]) == LEADS
    assert counts["ticks"] > 0  # the daily schedule decayed or cooled the quiet leads


def test_the_same_seed_gives_the_same_alerts(run):
    report, _, _ = run
    kinds = Counter(alert["kind"] for alert in report["alerts"])
    assert kinds == {
        "lead_cold": 14,
        "engaged_buyers": 5,
        "lead_score": 3,
        "lead_qualified": 3,
        "account_score": 2,
        "nps_detractor": 1,
    }
    assert all(alert["status"] == "sent" for alert in report["alerts"])
    assert all(report["at"] - 57 * 86400 <= alert["ts"] <= report["at"] for alert in report["alerts"])


def test_every_alert_email_and_the_velocity_report_are_in_the_outbox(run):
    report, _, outbox = run
    emailed = [alert for alert in report["alerts"] if alert["to"]]
    assert all(alert["file"] and Path(alert["file"]).is_file() for alert in emailed)
    messages = sorted(outbox.glob("*.eml"))
    assert len(messages) == len(emailed) + 1  # and the velocity report
    subjects = {email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"] for p in messages}
    assert any(subject.startswith("Lead ready for sales: ") for subject in subjects)
    assert report["velocity_report"] and Path(report["velocity_report"]).is_file()


def test_the_summary_fits_120_columns_and_says_what_to_do_next(run):
    report, text, outbox = run
    assert [line for line in text.splitlines() if len(line) > 120] == []
    assert f"Top 15 of {LEADS} leads" in text and "accounts" in text
    assert LEGEND in text
    assert re.search(r"Alerts sent: \d+ email\(s\)", text)
    assert "ready for sales (score)" in text and "@fjordline.example" in text  # why, and to whom
    assert "Velocity report" in text and "demo.html" in text and "Alert emails:" in text and str(outbox.name) in text
    assert "What to try next:" in text
    for command in ("leadscore simulate rules --events", "--lead ", "leadscore explain rules", "leadscore serve"):
        assert command in text


def test_the_funnel_file_replays_with_simulate(run, capsys):
    report, _, _ = run
    top = report["leads"][0]["lead"]
    assert cli_main(["simulate", str(ROOT / "rules"), "--events", report["funnel"]["file"], "--lead", top]) == 0
    assert top in capsys.readouterr().out


def test_the_page_has_the_leaderboard_funnel_chart_and_alerts(run):
    report, _, outbox = run
    page = Path(report["page"])
    assert page.parent == outbox
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "The funnel: leads per stage" in text and "Sales ready" in text and "Awareness" in text
    assert text.count("<svg") == 1 and "<polyline" in text and "sales-ready 100" in text
    assert report["leads"][0]["lead"] in text
    assert "Alerts sent:" in text and "customer-success@fjordline.example" in text
    assert 'href="demo-funnel.jsonl"' in text


def test_the_page_escapes_what_visitors_typed():
    hostile = '<script>alert("x")</script>@evil.example'
    page = DemoPage(
        model="m<b>",
        version="v1",
        at=1_796_000_000.0,
        start=1_796_000_000.0 - 56 * 86400,
        seed=1,
        lead_count=1,
        account_count=0,
        events_scored=1,
        forms=0,
        threshold=100.0,
        stages=(("awareness", 1), ("sales_ready", 0)),
        cold=0,
        leads=(LeadRow(hostile, "acme\u202e<i>", 12.0, 0.0, 12.0, "awareness", "D3", "latent", "-"),),
        accounts=(),
        alerts=(AlertRow(1_795_000_000.0, "nps_detractor", hostile, 1.0, ("a@b.example",), "../x.html"),),
        watched=hostile,
        history=(ScorePoint(1_795_000_000.0, 12.0, "<img src=x>"),),
        commands=("leadscore simulate --lead '<b>'",),
        files=(("funnel", "javascript:alert(1)"),),
    )
    text = render_demo_page(page)
    assert "<script" not in text and "<img" not in text and "<b>" not in text and "<i>" not in text
    assert "&lt;script&gt;" in text and "\u202e" not in text
    assert "../x.html" not in text and "javascript:" not in text  # only bare outbox file names become links


def test_the_chart_steps_from_zero_to_each_score():
    start = 1_796_000_000.0
    svg = score_chart(
        (ScorePoint(start + 86400, 30.0, "download"), ScorePoint(start + 3 * 86400, 120.0, "demo")),
        start,
        start + 7 * 86400,
        100.0,
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>") and svg.count("<circle") == 2


def test_the_progress_bar_is_quiet_unless_asked(capsys):
    stream = io.StringIO()
    bar = demo.Progress(stream=stream)  # not a terminal: nothing
    bar.total = 10
    bar.update(5, "scoring")
    assert stream.getvalue() == ""
    shown = demo.Progress(stream=stream, enabled=True)
    shown.total = 10
    shown.update(5, "scoring")
    shown.done()
    assert "\r" in stream.getvalue() and "5/10" in stream.getvalue()


def test_the_demo_command_parses_its_options(tmp_path):
    args = demo.build_parser().parse_args(["--leads", "30", "--seed", "3", "--outbox", str(tmp_path), "--quiet"])
    assert (args.leads, args.seed, args.outbox, args.quiet) == (30, 3, tmp_path, True)
    assert demo.build_parser().parse_args([]).leads == demo.DEFAULT_LEADS


def test_main_prints_the_summary(tmp_path):
    saved = dict(os.environ)
    out = io.StringIO()
    started = time.monotonic()
    try:
        with redirect_stdout(out):
            assert demo.main(["--leads", "12", "--outbox", str(tmp_path), "--quiet"]) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert "What to try next:" in out.getvalue() and (tmp_path / "demo.html").is_file()
    assert time.monotonic() - started < 120
