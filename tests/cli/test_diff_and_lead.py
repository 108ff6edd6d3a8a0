"""`leadscore diff` (every score change, the rules responsible, the distribution) and `leadscore lead`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leadscore.cli.main import main

BASE = """\
name: tiny
sales_ready_score: 100
explicit_share_max: 30%
stages:
  - {id: awareness, min: 0, max: 39}
  - {id: interested, min: 40}
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
# the change under review: director, pricing page and white paper are worth less
HEAD = (
    BASE.replace("points: 15", "points: 5").replace("points: 10\n", "points: 5\n").replace("points: 20", "points: 10")
)


def _event(event_id: str, kind: str, email: str, when: str, **fields: object) -> str:
    return json.dumps({"id": event_id, "type": kind, "email": email, "timestamp": when, **fields})


PRICING = {"properties": {"url": "/pricing"}}
BIG_DIRECTOR = {"profile": {"employees": 5000, "job_title": "Director of Data"}}
EVENTS = [
    _event("e1", "identify", "ann@acme.example", "2026-03-02T09:00:00Z", **BIG_DIRECTOR),
    _event("e2", "page_view", "ann@acme.example", "2026-03-02T10:00:00Z", **PRICING),
    _event("e3", "page_view", "ann@acme.example", "2026-03-03T10:00:00Z", **PRICING),
    _event("e4", "download", "ann@acme.example", "2026-03-04T10:00:00Z"),
    _event("e5", "download", "ann@acme.example", "2026-03-05T10:00:00Z"),
    _event("b1", "page_view", "bob@beta.example", "2026-03-02T11:00:00Z", **PRICING),
    _event("c1", "download", "carl@gamma.example", "2026-03-02T12:00:00Z"),
    _event("r1", "identify", "erin@delta.example", "2026-03-02T13:00:00Z", profile={"employees": 2000}),
    _event("r2", "page_view", "erin@delta.example", "2026-03-02T14:00:00Z", **PRICING),
    _event("r3", "page_view", "erin@delta.example", "2026-03-03T14:00:00Z", **PRICING),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def models(tmp_path: Path) -> tuple[str, str, str]:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "head.yaml").write_text(HEAD)
    (tmp_path / "events.jsonl").write_text("\n".join(EVENTS) + "\n")
    return str(tmp_path / "base.yaml"), str(tmp_path / "head.yaml"), str(tmp_path / "events.jsonl")


def test_diff_lists_every_score_change_largest_first_with_the_rules_responsible(models, capsys):
    # Given base scores ann 65 (fit 40 capped at 30 + 35), carl 20, erin 40, bob 10
    base, head, events = models
    # When the cheaper model is compared on the same events
    code, out, _ = run(capsys, "diff", base, head, "--events", events)
    # Then all four leads are listed by size of change, and erin drops a stage
    assert code == 0
    lines = out.splitlines()
    assert (
        "4 leads replayed; 4 change score or stage; **1 change stage or qualification** (qualified = score ≥ 100)."
        in lines
    )
    table = lines[
        lines.index("| lead | score before | score after | change | stage | qualified | rules responsible |") :
    ]
    assert table[2:6] == [
        "| ann@acme.example | 65 | 50 | -15 | interested | no | director 15 → 5, pricing-page 15 → 10, whitepaper 20 → 10 |",
        "| carl@gamma.example | 20 | 10 | -10 | awareness | no | whitepaper 20 → 10 |",
        "| bob@beta.example | 10 | 5 | -5 | awareness | no | pricing-page 10 → 5 |",
        "| erin@delta.example | 40 | 35 | -5 | interested → awareness | no | pricing-page 15 → 10 |",
    ]
    assert lines[lines.index("### Score distribution") + 2 :] == [
        "|  | before | after |",
        "|---|---|---|",
        "| leads | 4 | 4 |",
        "| min | 10 | 5 |",
        "| median | 30 | 22.5 |",
        "| p90 | 65 | 50 |",
        "| max | 65 | 50 |",
        "| in awareness | 2 | 3 |",
        "| in interested | 2 | 1 |",
    ]


def test_diff_fails_on_a_stage_change_only_when_asked(models, capsys):
    base, head, events = models
    assert run(capsys, "diff", base, head, "--events", events, "--fail-on-change")[0] == 1
    assert run(capsys, "diff", base, base, "--events", events, "--fail-on-change")[0] == 0


def test_diff_as_json(models, capsys):
    base, head, events = models
    code, out, _ = run(capsys, "diff", base, head, "--events", events, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [item["lead"] for item in data["changes"]] == [
        "ann@acme.example",
        "carl@gamma.example",
        "bob@beta.example",
        "erin@delta.example",
    ]
    assert data["changes"][3]["rules"] == {"pricing-page": [15, 10]}
    assert data["distribution"]["after"] == {
        "count": 4,
        "min": 5,
        "median": 22.5,
        "p90": 50,
        "max": 50,
        "stages": {"awareness": 3, "interested": 1},
    }


# --- `leadscore lead` ----------------------------------------------------------------------------

STORAGE_VARIABLES = [
    "LEADS_TABLE",
    "HISTORY_TABLE",
    "EVENT_LOG_TABLE",
    "ACCOUNTS_TABLE",
    "ALERTS_TABLE",
    "METRICS_TABLE",
]

DESCRIPTION: dict[str, Any] = {
    "lead": "ann@acme.example",
    "account": "acme.example",
    "score": 63.74000000000001,
    "fit": 40.0,
    "fit_counted": 30.0,
    "engagement": 33.74000000000001,
    "extras": {"data_platform": 20.0},
    "counters": {},
    "stage": "interested",
    "grade": "A",
    "temperature": "warm",
    "matrix": "A2",
    "momentum": 20.0,
    "activity": "active",
    "cold": False,
    "cold_since": None,
    "nps": None,
    "nps_category": None,
    "breakdown": {"pricing-page": 10.0, "big-company": 25.0, "director": 15.0},
    "last_activity": "2026-03-02T10:00:00Z",
    "version": 3,
    "model_version": "cd1621a18e2a",
    "stage_history": [
        {"stage": "awareness", "since": "2026-03-02T09:00:00Z", "why": "first seen"},
        {"stage": "interested", "since": "2026-03-02T10:00:00Z", "why": "score 40 after pricing-page"},
    ],
    "recent_changes": [
        {
            "event_id": "e2",
            "event_type": "page_view",
            "at": "2026-03-02T10:00:00Z",
            "score_before": 30.0,
            "score_after": 40.0,
            "stage_before": "awareness",
            "stage_after": "interested",
            "changes": [
                {
                    "event_id": "e2",
                    "rule": "pricing-page",
                    "dimension": "engagement",
                    "delta": 10.0,
                    "before": 0.0,
                    "after": 10.0,
                    "why": "pricing-page: 10 points",
                },
                {
                    "event_id": "e2",
                    "rule": "stage",
                    "dimension": "stage",
                    "delta": 1,
                    "before": "awareness",
                    "after": "interested",
                    "why": "score 40 after pricing-page",
                },
            ],
            "alerts": [],
            "model_version": "cd1621a18e2a",
        }
    ],
}


class FakeService:
    """Stands in for the deployed tables: one stored lead."""

    def describe_lead(self, email: str) -> dict[str, Any] | None:
        return DESCRIPTION if email == "ann@acme.example" else None


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in STORAGE_VARIABLES:
        monkeypatch.setenv(name, f"test-{name.lower()}")
    monkeypatch.setattr("leadscore.service.scoring.build_service_from_env", FakeService)


def test_lead_without_settings_names_what_is_missing_in_one_line(monkeypatch, capsys):
    for name in STORAGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADS_TABLE", "leads")
    code, out, err = run(capsys, "lead", "ann@acme.example")
    assert (code, out) == (2, "")
    assert err == (
        "leadscore lead: missing settings HISTORY_TABLE, EVENT_LOG_TABLE, ACCOUNTS_TABLE, ALERTS_TABLE, "
        "METRICS_TABLE: set them to the deployed stack's table names\n"
    )


def test_lead_prints_a_readable_breakdown_by_default(deployed, capsys):
    code, out, _ = run(capsys, "lead", "Ann@Acme.example")
    assert code == 0
    assert out.splitlines() == [
        "ann@acme.example  (account acme.example)",
        "score        63.74 = fit 30 (of 40, capped) + engagement 33.74",
        "stage        interested  (grade A2: fit A, warm)",
        "activity     active (momentum 20); last activity 2026-03-02T10:00:00Z",
        "products     data_platform 20",
        "nps          -",
        "rule points  pricing-page 10, big-company 25, director 15",
        "model        cd1621a18e2a (stored version 3)",
        "",
        "Stage history",
        "  2026-03-02T09:00:00Z  awareness  first seen",
        "  2026-03-02T10:00:00Z  interested  score 40 after pricing-page",
        "",
        "Recent history (newest first)",
        "  2026-03-02T10:00:00Z  page_view (e2)  score 30 -> 40",
        "    pricing-page  engagement +10  0 -> 10  pricing-page: 10 points",
        "    stage awareness -> interested: score 40 after pricing-page",
    ]


def test_lead_as_json_rounds_scores_as_the_breakdown_shows_them(deployed, capsys):
    code, out, _ = run(capsys, "lead", "ann@acme.example", "--format", "json")
    assert code == 0
    assert '"score": 63.74,' in out and "63.74000000000001" not in out
    assert json.loads(out)["fit"] == 40


def test_lead_that_is_not_stored(deployed, capsys):
    code, _, err = run(capsys, "lead", "nobody@nowhere.example")
    assert code == 1
    assert err == "leadscore: no lead nobody@nowhere.example\n"
