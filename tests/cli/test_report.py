"""`leadscore report`: events replayed into the stage-velocity report, on the shipped model and on a tiny one."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from leadscore.cli.report import add_report_command
from leadscore.render.velocity_report import CSV_HEADER

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
TRAFFIC = ROOT / "events" / "sample-traffic.jsonl"

TINY_MODEL = """\
name: tiny
stages:
  - {id: awareness, min: 0, max: 32}
  - {id: consideration, min: 33, max: 66}
  - {id: decision, min: 67}
decay: {after_inactive: 10d, every: 5d, percent: 50%, floor: 0}
cold_lead: {no_increase_for: 20d}
rules:
  - {id: visit, when: {event: page_view}, points: 5}
  - {id: wp, when: {event: download}, points: 30}
  - {id: pricing, when: {event: page_view, url: "*/pricing"}, points: 35}
"""

# ann: awareness 1 Nov, consideration 3 Nov (wp, after 2 d), decayed back at midnight on 14 Nov
# bob: enters straight into consideration 10 Nov (pricing), decision 12 Nov 15:00 (wp, after 2 d 6 h),
#      decayed back at midnight on 23 Nov; cid: awareness 13 Nov
TINY_EVENTS = [
    ("e1", "page_view", "ann@acme.com", "2026-11-01T09:00:00Z", {"url": "/"}),
    ("e2", "download", "ann@acme.com", "2026-11-03T09:00:00Z", {"asset": "whitepaper-a"}),
    ("e3", "page_view", "bob@beta.io", "2026-11-10T09:00:00Z", {"url": "/pricing"}),
    ("e4", "download", "bob@beta.io", "2026-11-12T15:00:00Z", {"asset": "whitepaper-b"}),
    ("e5", "page_view", "cid@gamma.io", "2026-11-13T09:00:00Z", {"url": "/"}),
    ("e5", "page_view", "cid@gamma.io", "2026-11-13T09:00:00Z", {"url": "/"}),  # redelivered: once
]


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    model = tmp_path / "tiny.yaml"
    model.write_text(TINY_MODEL, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps({"id": i, "type": t, "email": e, "timestamp": ts, "properties": p}) + "\n"
            for i, t, e, ts, p in TINY_EVENTS
        ),
        encoding="utf-8",
    )
    return model, events


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="leadscore")
    add_report_command(root.add_subparsers(dest="command", required=True))
    return root


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    args = parser().parse_args(["report", *argv])
    code = args.run(args)
    return code, capsys.readouterr().out


def csv_rows(path: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == CSV_HEADER
    parsed = [dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]]
    return {(row["kind"], row["stage"], row["period"]): row for row in parsed}


def test_the_shipped_model_and_sample_traffic_give_the_report_for_the_morning_after(capsys, tmp_path):
    html_path, csv_path = tmp_path / "report.html", tmp_path / "report.csv"
    code, out = report(capsys, "--events", str(TRAFFIC), "--html", str(html_path), "--csv", str(csv_path))
    assert code == 0
    lines = out.splitlines()
    # the last sample event is on 15 Nov 2026: the report is the one of the 16th
    assert lines[0] == (
        "Stage velocity 16 Nov 2026 (fjordline-b2b): 0 new leads in 7 days (\u25bc 100%), 0 moved on, 0 fell back"
    )
    assert "STAGE VELOCITY - fjordline-b2b - Mon 16 Nov 2026" in lines
    assert "10 leads in the funnel, 5 accounts, 0 cold (counts at 00:00 UTC on Mon 16 Nov 2026)" in lines
    assert max(len(line) for line in lines) < 100
    assert f"wrote {html_path}" in lines and f"wrote {csv_path}" in lines
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    rows = csv_rows(csv_path)
    assert len(rows) == 4 * 2 * 3
    assert [
        rows[("lead", stage, "30d")]["count_today"]
        for stage in ("awareness", "consideration", "decision", "sales_ready")
    ] == [
        "6",
        "1",
        "1",
        "2",
    ]
    # the sample's month: four new leads, three moved on out of awareness after 4.72 days on average
    awareness = rows[("lead", "awareness", "30d")]
    assert (awareness["new"], awareness["moved_on"], awareness["avg_days_in_stage"]) == ("4", "3", "4.72")
    assert awareness["top_causes_out"] == "whitepaper-download:3"


def test_a_hand_made_month_gives_exact_figures_with_decay(capsys, tiny, tmp_path):
    model, events = tiny
    csv_path = tmp_path / "tiny.csv"
    code, out = report(capsys, str(model), "--events", str(events), "--date", "2026-11-25", "--csv", str(csv_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "Stage velocity 25 Nov 2026 (tiny): 0 new leads in 7 days (\u25bc 100%), 0 moved on, 1 fell back, 1 cold"
    )
    assert "3 leads in the funnel, 3 accounts, 1 cold (counts at 00:00 UTC on Wed 25 Nov 2026)" in lines
    assert "  Fell back           1   same as before" in lines
    assert "  1 lead cold today: Awareness 1" in lines
    rows = csv_rows(csv_path)
    assert len(rows) == 3 * 2 * 3

    consideration = rows[("lead", "consideration", "30d")]
    assert {key: consideration[key] for key in CSV_HEADER[6:]} == {
        "entered": "3",  # ann forward, bob's entry, bob back
        "entered_previous": "0",
        "entered_change_pct": "",
        "new": "1",
        "new_previous": "0",
        "moved_on": "1",
        "moved_on_previous": "0",
        "fell_back": "1",
        "fell_back_previous": "0",
        "conversion_pct": "50",
        "conversion_previous_pct": "",
        "avg_days_in_stage": "6.44",  # (2 d 6 h + 10 d 15 h) / 2
        "avg_days_in_stage_previous": "",
        "median_days_in_stage": "6.44",  # two leavers: the mean of 2 d 6 h and 10 d 15 h
        "median_days_in_stage_previous": "",
        "leavers_timed": "2",
        "top_causes_in": "decay:1; pricing:1; wp:1",
        "top_causes_out": "decay:1; wp:1",
        "count_today": "1",
        "share_today_pct": "33.3",
        "cold_today": "0",
    }
    awareness = rows[("lead", "awareness", "30d")]
    assert (awareness["entered"], awareness["new"], awareness["moved_on"], awareness["avg_days_in_stage"]) == (
        "3",
        "2",
        "1",
        "2",
    )
    assert (awareness["count_today"], awareness["cold_today"]) == ("2", "1")
    week = rows[("lead", "awareness", "7d")]
    assert (week["period_start"], week["period_end"], week["entered"], week["entered_previous"]) == (
        "2026-11-18",
        "2026-11-24",
        "0",
        "2",
    )
    decision = rows[("lead", "decision", "7d")]
    assert (decision["fell_back"], decision["avg_days_in_stage"], decision["top_causes_out"]) == (
        "1",
        "10.38",
        "decay:1",
    )
    yesterday = rows[("lead", "consideration", "1d")]
    assert (yesterday["period_start"], yesterday["entered"]) == ("2026-11-24", "0")
    # accounts follow their one buyer each
    account = rows[("account", "consideration", "30d")]
    assert (account["entered"], account["new"], account["moved_on"], account["fell_back"]) == ("3", "1", "1", "1")
    assert rows[("account", "awareness", "30d")]["count_today"] == "2"


def test_without_a_date_the_report_is_for_the_day_after_the_last_event(capsys, tiny):
    model, events = tiny
    code, out = report(capsys, str(model), "--events", str(events))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Stage velocity 14 Nov 2026 (tiny): 2 new leads in 7 days (\u25b2 100%), 1 moved on, 0 fell back"
    # ann's decay is caught up at midnight: today's snapshot has her back in awareness
    assert "FUNNEL TODAY (moves: last 30 days)" in lines
    funnel = [line.split() for line in lines if line.startswith("  Awareness ") or line.startswith("  Decision ")]
    assert [(row[0], row[-2], row[-1]) for row in funnel[:2]] == [("Awareness", "2", "67%"), ("Decision", "1", "33%")]


def test_a_bad_date_is_refused_by_the_parser(capsys, tiny):
    model, events = tiny
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(["report", str(model), "--events", str(events), "--date", "16/11/2026"])
    assert exit_info.value.code == 2
    assert "'16/11/2026' is not a date like 2026-11-16" in capsys.readouterr().err
