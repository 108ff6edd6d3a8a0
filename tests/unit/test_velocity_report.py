"""The stage-velocity email: figures in every part, escaping, email-safe HTML, terminal-width text, a CSV that parses."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

from leadscore.core.velocity import Snapshot, Transition, aggregate_days, velocity_report
from leadscore.render.velocity_report import CSV_HEADER, render_report

STAGES = ("awareness", "consideration", "decision", "sales_ready")
TODAY = date(2026, 11, 20)  # 7 days = 13-19 Nov, before = 6-12 Nov
DAY = 86400
EVIL = "=1+<img src=x onerror=alert(1)>"


def at(day: int, hour: int = 10) -> float:
    return datetime(2026, 11, day, hour, tzinfo=UTC).timestamp()


def week() -> list[Transition]:
    def lead(who, when, src, dst, direction, cause, since=None):
        return Transition(who, "lead", when, src, dst, direction, cause, since)

    return [
        lead("b1", at(8), None, "awareness", "entry", "page_view"),
        lead("a1", at(14), None, "awareness", "entry", "page_view"),
        lead("a2", at(15), None, "awareness", "entry", "form_submit"),
        lead("a1", at(16), "awareness", "consideration", "forward", "whitepaper-download", at(14)),  # 2 d
        lead("a3", at(19, 8), None, "awareness", "entry", "page_view"),
        lead("a2", at(19), "awareness", "consideration", "forward", EVIL, at(15)),  # 4 d
        lead("a1", at(19), "consideration", "awareness", "back", "decay", at(16)),  # 3 d
        Transition("acme.com", "account", at(14), None, "awareness", "entry", "page_view", None),
    ]


def snapshots() -> dict[date, Snapshot]:
    return {
        TODAY: Snapshot(leads={"awareness": 3, "consideration": 1}, accounts={"awareness": 1}, cold={"awareness": 1}),
        date(2026, 11, 19): Snapshot(leads={"awareness": 2, "consideration": 1}, accounts={"awareness": 1}),
    }


def rendered(model_name: str = "fjordline-b2b", transitions=None, snaps=None, stages=STAGES):
    report = velocity_report(
        aggregate_days(week() if transitions is None else transitions),
        snapshots() if snaps is None else snaps,
        TODAY,
        stages,
    )
    return render_report(report, model_name, TODAY)


def test_the_subject_gives_the_week_in_one_line():
    subject, *_ = rendered()
    assert subject == (
        "Stage velocity 20 Nov 2026 (fjordline-b2b): 3 new leads in 7 days (\u25b2 200%), "
        "2 moved on, 1 fell back, 1 cold"
    )


def test_the_html_shows_the_figures_with_arrows_against_the_period_before():
    _, _, page, _ = rendered()
    text = re.sub(r"<[^>]+>", " ", page)
    text = re.sub(r"(&nbsp;|\s)+", " ", text)
    assert "Fri 20 Nov 2026" in text
    assert "New leads 3 last 7 days \u25b2 200% vs 1" in text
    assert "Moved on 2 last 7 days \u25b2 from 0 vs 0" in text
    assert "Cold leads 1 today no recent score increase" in text
    assert "Awareness 3 75%" in text  # the funnel: count and share today
    assert "2 moved on, after 3 d on average" in text  # awareness -> consideration, 30 days
    assert "Consideration 1 lead today \u00b7 25%" in text
    # awareness: yesterday one left after 4 d (median 4 d);
    # last 7 days: entered 4 (was 1), two left after 2 d and 4 d: average 3 d, median 3 d
    assert "Entered \u25b2 from 0 2 \u25b2 300% 4 \u25b2 from 0 5" in text
    assert "Average time in stage 4 d 3 d 3 d" in text
    assert "Median time 4 d 3 d 3 d" in text
    # consideration, yesterday: one fell back after 3 days, none moved on: conversion 0%
    assert "Conversion 0% 0% 0%" in text
    assert "Moved in by page_view (3), decay (1), form_submit (1)" in text
    # an increase is green, time in stage going up is red
    assert 'color:#15803d;white-space:nowrap;">\u25b2&nbsp;300%' in page
    assert "Accounts" in text and "1 account, staged by account score" in text
    assert "1 lead had no score increase for the cold-lead period: Awareness 1." in text


def test_the_highest_stage_has_no_moved_on_or_conversion_rows():
    _, body, _, _ = rendered()
    sales_ready = body.split("SALES READY")[1].split("ACCOUNTS")[0]
    assert "Moved on" not in sales_ready and "Conversion" not in sales_ready
    assert "Fell back" in sales_ready and "Average time in stage" in sales_ready


def test_every_untrusted_text_is_escaped():
    transitions = [
        *week(),
        Transition("x", "lead", at(19), None, "<i>old</i>", "entry", 'page"view\r\nBcc: x@evil', None),
    ]
    subject, body, page, sheet = rendered(model_name='<script>alert("m")</script>', transitions=transitions)
    assert "<script" not in page.lower() and "<i>" not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;i&gt;old&lt;/i&gt;" in page
    assert "&lt;script&gt;alert(&quot;m&quot;)&lt;/script&gt;" in page
    assert "\r" not in subject + body and "\n" not in subject
    assert 'page"view Bcc: x@evil (1)' in body  # control characters become spaces in the text part


def test_the_html_is_email_safe():
    plain = [t._replace(cause="webinar") if t.cause == EVIL else t for t in week()]
    for model_name, transitions, snaps in (("m", plain, None), ("m", [], {})):
        page = rendered(model_name, transitions, snaps)[2].lower()
        for banned in ("<script", "<style", "<link", "<img", "<iframe", "url(", "@import", "javascript:", "src="):
            assert banned not in page, banned
        assert page.startswith("<!doctype html>")
        assert page.count("<table") == page.count("</table>")
        assert page.count("<tr") == page.count("</tr>")


def test_plain_text_lines_fit_a_terminal_even_with_long_names():
    long = "a-very-long-rule-identifier-" * 6
    transitions = [
        *week(),
        Transition("y", "lead", at(18), None, "awareness", "entry", long + "1", None),
        Transition("z", "lead", at(18), None, "awareness", "entry", long + "2", None),
        Transition("w", "lead", at(18), None, "a_stage_whose_name_goes_on_and_on_forever", "entry", long, None),
    ]
    _, body, _, _ = rendered(model_name="m" * 300, transitions=transitions)
    assert max(len(line) for line in body.splitlines()) < 100
    assert "AWARENESS - 3 leads today (75%), 1 cold" in body
    assert "  Entered " in body and "4 \u25b2 300%" not in body  # long names added entries: 6 now
    assert "6 \u25b2 500%" in body


def test_plain_text_has_the_figures():
    _, body, _, _ = rendered()
    lines = body.splitlines()
    assert lines[0] == "STAGE VELOCITY - fjordline-b2b - Fri 20 Nov 2026"
    assert lines[1] == "4 leads in the funnel, 1 account, 1 cold (counts at 00:00 UTC on Fri 20 Nov 2026)"
    assert "  New leads           3   \u25b2 200% (before: 1)" in lines
    assert "  Fell back           1   \u25b2 from 0 (before: 0)" in lines
    awareness = body.split("AWARENESS")[1].split("CONSIDERATION")[0].splitlines()
    assert re.sub(r"\s+", " ", awareness[2]).strip() == "Entered 2 \u25b2 from 0 4 \u25b2 300% 5 \u25b2 from 0"
    assert re.sub(r"\s+", " ", awareness[5]).strip() == "Conversion 100% 100% 100%"
    assert re.sub(r"\s+", " ", awareness[6]).strip() == "Average time in stage 4 d 3 d 3 d"
    assert "-- " in lines


def test_the_csv_has_one_row_per_stage_kind_and_period_with_every_figure():
    _, _, _, sheet = rendered()
    rows = list(csv.reader(io.StringIO(sheet)))
    assert tuple(rows[0]) == CSV_HEADER
    body = [dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]]
    assert len(body) == len(STAGES) * 2 * 3
    assert {(r["kind"], r["stage"], r["period"]) for r in body} == {
        (kind, stage, period) for kind in ("lead", "account") for stage in STAGES for period in ("1d", "7d", "30d")
    }
    row = next(r for r in body if (r["kind"], r["stage"], r["period"]) == ("lead", "awareness", "7d"))
    assert row == {
        "report_date": "2026-11-20",
        "kind": "lead",
        "stage": "awareness",
        "period": "7d",
        "period_start": "2026-11-13",
        "period_end": "2026-11-19",
        "entered": "4",
        "entered_previous": "1",
        "entered_change_pct": "300",
        "new": "3",
        "new_previous": "1",
        "moved_on": "2",
        "moved_on_previous": "0",
        "fell_back": "0",
        "fell_back_previous": "0",
        "conversion_pct": "100",
        "conversion_previous_pct": "",
        "avg_days_in_stage": "3",
        "avg_days_in_stage_previous": "",
        "median_days_in_stage": "3",
        "median_days_in_stage_previous": "",
        "leavers_timed": "2",
        "top_causes_in": "page_view:2; decay:1; form_submit:1",
        # a cause a spreadsheet would run as a formula is quoted
        "top_causes_out": "'=1+<img src=x onerror=alert(1)>:1; whitepaper-download:1",
        "count_today": "3",
        "share_today_pct": "75",
        "cold_today": "1",
    }
    consideration = next(r for r in body if (r["kind"], r["stage"], r["period"]) == ("lead", "consideration", "1d"))
    assert (consideration["fell_back"], consideration["conversion_pct"], consideration["avg_days_in_stage"]) == (
        "1",
        "0",
        "3",
    )


def test_an_empty_report_renders_zeros():
    subject, body, page, sheet = rendered(transitions=[], snaps={})
    assert subject == "Stage velocity 20 Nov 2026 (fjordline-b2b): 0 new leads in 7 days, 0 moved on, 0 fell back"
    assert "0 leads in the funnel, 0 accounts, 0 cold (no snapshot yet)" in body
    assert "No lead is cold today." in body and "No daily snapshot yet" in page
    rows = list(csv.reader(io.StringIO(sheet)))
    assert len(rows) == 1 + len(STAGES) * 2 * 3
    assert all(row[CSV_HEADER.index("entered")] == "0" for row in rows[1:])
    nothing = render_report(velocity_report({}, {}, TODAY, ()), "m", TODAY)
    assert list(csv.reader(io.StringIO(nothing[3]))) == [list(CSV_HEADER)]


# --- the committed sample -----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_sample_matches_the_renderer():
    spec = importlib.util.spec_from_file_location(
        "render_velocity_report_sample", ROOT / "scripts/render_velocity_report_sample.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    subject, _, page, csv_text = script.sample()
    committed = (ROOT / "docs/velocity-report-sample.html").read_bytes().decode("utf-8")
    assert committed == page, "run scripts/render_velocity_report_sample.py --screenshot"
    assert (ROOT / "docs/velocity-report-sample.csv").read_bytes().decode("utf-8") == csv_text
    assert subject.startswith("Stage velocity 9 Nov 2026 (fjordline-b2b): 1 new lead in 7 days")
    assert (ROOT / "docs/velocity-report-sample.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
