"""`simulate --lead`, unknown event types and the leaderboard, on a small hand-worked model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadscore.cli.main import main

MODEL = """\
name: tiny
sales_ready_score: 100
explicit_share_max: 30%
stages:
  - {id: awareness, min: 0, max: 39}
  - {id: interested, min: 40}
decay: {after_inactive: 10d, every: 7d, points: 5}
rules:
  - id: big-company
    fit: {employees: {min: 1000}}
    points: 25
  - id: director
    fit: {job_title: {contains: director}}
    points: 15
  - id: pricing-page
    when: {event: page_view, url: {contains: pricing}}
    points: 10
    cap: 15
  - id: whitepaper
    when: {event: download}
    points: 20
    limit: once
"""


def _event(event_id: str, kind: str, email: str, when: str, **fields: object) -> str:
    return json.dumps({"id": event_id, "type": kind, "email": email, "timestamp": when, **fields})


ANN = "ann@acme.example"
EVENTS = [
    _event("e1", "identify", ANN, "2026-03-02T09:00:00Z", profile={"employees": 5000, "job_title": "Director of Data"}),
    _event("e2", "page_view", ANN, "2026-03-02T10:00:00Z", properties={"url": "/pricing"}),
    _event("e3", "page_view", ANN, "2026-03-03T10:00:00Z", properties={"url": "/pricing"}),
    _event("e4", "download", ANN, "2026-03-04T10:00:00Z", properties={"asset": "wp-1"}),
    _event("e5", "download", ANN, "2026-03-05T10:00:00Z", properties={"asset": "wp-2"}),
    _event("e6", "page_veiw", ANN, "2026-03-06T10:00:00Z", properties={"url": "/pricing"}),
    _event("b1", "page_view", "bob@beta.example", "2026-03-02T11:00:00Z", properties={"url": "/pricing"}),
    _event("b2", "page_veiw", "bob@beta.example", "2026-03-03T11:00:00Z", properties={"url": "/pricing"}),
    _event("b3", "page_veiw", "bob@beta.example", "2026-03-03T12:00:00Z", properties={"url": "/pricing"}),
]


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    model = tmp_path / "model.yaml"
    model.write_text(MODEL)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(EVENTS) + "\n")
    return str(model), str(events)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_timeline_shows_each_change_its_rule_the_caps_that_cut_and_decay(files, capsys):
    # Given a lead whose fit passes the 30-point fit cap and whose pricing visits hit the rule cap
    model, events = files
    # When her timeline is printed as of 25 March
    code, out, _ = run(
        capsys, "simulate", model, "--events", events, "--lead", "Ann@Acme.example", "--at", "2026-03-25T00:00:00Z"
    )
    # Then every event, change, cap, skip, decay step and the summary are there, worked by hand
    assert code == 0
    assert out.splitlines()[2:] == [
        "2026-03-02T09:00:00Z  identify  (e1)  profile: employees=5000, job_title=Director of Data",
        "  big-company  fit +25  0 -> 25  big-company: 25 points",
        "  director  fit +15  25 -> 40  director: 15 points",
        "    fit cap 30: 10 of these 15 points not counted in the score",
        "  score 0 -> 30",
        "2026-03-02T10:00:00Z  page_view  (e2)  url=/pricing",
        "  pricing-page  engagement +10  0 -> 10  pricing-page: 10 points",
        "  stage awareness -> interested: score 40 after pricing-page",
        "  score 30 -> 40",
        "2026-03-03T10:00:00Z  page_view  (e3)  url=/pricing",
        "  pricing-page  engagement +5  10 -> 15  pricing-page: 10 points (rule cap 15)",
        "    cap: 5 of the rule's 10 points cut",
        "  score 40 -> 45",
        "2026-03-04T10:00:00Z  download  (e4)  asset=wp-1",
        "  whitepaper  engagement +20  15 -> 35  whitepaper: 20 points",
        "  score 45 -> 65",
        "2026-03-05T10:00:00Z  download  (e5)  asset=wp-2",
        "  whitepaper: no points (limit: once per lead, already given)",
        "2026-03-06T10:00:00Z  page_veiw  (e6)  url=/pricing",
        "  not scored: the model knows no event of this type",
        "2026-03-25T00:00:00Z  decay",
        "  decay  engagement -10  35 -> 25  inactive since last activity: 2 decay step(s) of 5 points per 7d",
        "  score 65 -> 55",
        "",
        "summary at 2026-03-25T00:00:00Z: score 55 = fit 30 (of 40, capped) + engagement 25; stage interested; "
        "6 events, 5 scored",
    ]
    assert out.startswith("ann@acme.example: timeline under model tiny (version ")


def test_timeline_of_an_unknown_lead_suggests_the_closest_emails(files, capsys):
    model, events = files
    code, out, err = run(capsys, "simulate", model, "--events", events, "--lead", "ann@acme.exampel")
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == "leadscore: no lead ann@acme.exampel in the events; closest: ann@acme.example"


def test_timeline_as_json_rounds_and_keeps_every_step(files, capsys):
    model, events = files
    code, out, _ = run(capsys, "simulate", model, "--events", events, "--lead", ANN, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [step["kind"] for step in data["steps"]] == ["event"] * 5 + ["unknown"]
    assert data["lead"]["score"] == 65 and data["lead"]["fit"] == 40 and data["lead"]["fit_counted"] == 30


def test_unknown_event_types_are_reported_and_not_counted_as_scored(files, capsys):
    model, events = files
    code, out, err = run(capsys, "simulate", model, "--events", events, "--at", "2026-03-25T00:00:00Z")
    assert code == 0
    assert err.splitlines() == [
        "leadscore: 3 events of type 'page_veiw' match no rule and no known event type (did you mean 'page_view'?); "
        "not scored"
    ]
    assert out.splitlines()[0].endswith(
        ": 6 events scored, 0 duplicates ignored, 0 too late, 3 of unknown type not scored"
    )


def test_leaderboard_has_a_legend_and_fits_120_columns(tmp_path, files, capsys):
    # Given a lead with a 60-character email at a long account domain
    model, _ = files
    email = "a" * 40 + "@" + "b" * 11 + ".example"
    assert len(email) == 60
    events = tmp_path / "long.jsonl"
    events.write_text(
        _event("l1", "page_view", email, "2026-03-02T10:00:00Z", properties={"url": "/pricing"})
        + "\n"
        + _event("l2", "page_view", ANN, "2026-03-02T10:00:00Z", properties={"url": "/pricing"})
        + "\n"
    )
    # When the leaderboard is printed
    code, out, _ = run(capsys, "simulate", model, "--events", str(events))
    # Then no line is wider than 120 columns, the long names end in an ellipsis, and the legend is there
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 120
    row = next(line for line in out.splitlines() if line.startswith("1  "))
    assert row.split()[1].endswith("…") and email not in out.split("Accounts")[0]
    assert ANN in out
    assert (
        "score = fit + eng. fit: profile points counted (counted/matched when over the fit cap); eng: engagement."
        in out.splitlines()
    )


def test_scores_in_json_are_rounded_as_the_table_shows_them(tmp_path, capsys):
    # Given three tenths of a point, which add up to 0.30000000000000004 in binary floating point
    model = tmp_path / "model.yaml"
    model.write_text("rules:\n  - id: tenth\n    when: {event: page_view}\n    points: 0.1\n")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(_event(f"t{i}", "page_view", ANN, f"2026-03-0{i}T10:00:00Z") for i in (1, 2, 3)) + "\n")
    # When the simulation is printed as JSON
    code, out, _ = run(capsys, "simulate", str(model), "--events", str(events), "--format", "json")
    # Then the score is 0.3, as the table says
    assert code == 0
    assert '"score": 0.3,' in out and "0.30000000000000004" not in out
    assert json.loads(out)["leads"][0]["engagement"] == 0.3
