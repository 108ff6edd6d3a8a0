"""The `leadscore` command through its real entry point, on the shipped model and sample traffic."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.cli.main import main
from leadscore.core.spec import json_schema

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
TRAFFIC = ROOT / "events" / "sample-traffic.jsonl"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def simulate_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code, out, _ = run(capsys, "simulate", "--events", str(TRAFFIC), "--format", "json", *extra)
    assert code == 0
    return json.loads(out)


def lead(report: dict, email: str) -> dict:
    return next(item for item in report["leads"] if item["lead"] == email)


def test_validate_accepts_the_shipped_model(capsys):
    code, out, _ = run(capsys, "validate", "rules")
    assert code == 0
    assert out.startswith("ok: rules/behaviour.yaml, rules/fit.yaml, rules/model.yaml: 36 rules")


def test_validate_lists_every_problem_with_file_line_and_exits_non_zero(tmp_path, capsys):
    broken = tmp_path / "model.yaml"
    broken.write_text(
        "rules:\n"
        "  - id: wp\n"
        "    when: {event: dowload}\n"
        "    readiness: 130%\n"
        "  - id: wp\n"
        "    fit: {job_title: director}\n"
        "    points: 5\n"
    )
    code, _, err = run(capsys, "validate", str(broken))
    assert code == 1
    lines = err.splitlines()
    assert (
        f"{broken}:3:19: rule wp: when.event: unknown event type 'dowload' (did you mean 'download'?); add custom ones under `event_types:`"
        in lines
    )
    assert (
        f"{broken}:4:16: rule wp: readiness: readiness 130% is over 100%: nobody is more than fully sales-ready"
        in lines
    )
    assert f"{broken}:5:9: rule wp: id: duplicate rule id (first at {broken}:2:9)" in lines
    assert lines[-1] == "leadscore: 3 problem(s) in the model"


def test_explain_prints_one_row_per_rule_with_stage_readiness_and_points(capsys):
    code, out, _ = run(capsys, "explain", "rules")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("whitepaper-download "))
    assert row.split()[:5] == ["whitepaper-download", "behaviour", "download;", "asset:", "whitepaper-*"]
    assert "consideration" in row and "30%" in row and " 30 " in row and "once" in row
    assert sum(1 for line in out.splitlines() if line.split() and line.split()[0] in _rule_ids()) == 36


def _rule_ids() -> set[str]:
    from leadscore.core.loader import load_model

    return {rule.id for rule in load_model(RULES).spec.rules}


def test_explain_markdown_is_a_table(capsys):
    code, out, _ = run(capsys, "explain", "rules", "--format", "markdown")
    assert code == 0
    assert "| rule | kind | when / fit | stage | readiness | points | limit | scores |" in out


def test_shipped_schema_is_the_generated_one():
    shipped = json.loads((RULES / "leadscore.schema.json").read_text())
    assert shipped == json.loads(json.dumps(json_schema())), "run `make schema` after changing spec.py"


def test_schema_command_prints_json_schema(capsys):
    code, out, _ = run(capsys, "schema")
    assert code == 0
    assert json.loads(out)["title"] == "leadscore scoring model"


def test_simulate_reaches_sales_ready_through_the_seed_journey(capsys):
    report = simulate_json(capsys)
    ingrid = lead(report, "ingrid.solberg@nordkraft.no")
    assert ingrid["stage"] == "sales_ready"
    assert ingrid["fit_counted"] == 50 and ingrid["fit"] > 50  # explicit share cap
    assert ingrid["matrix"] == "A1"
    assert ingrid["counters"]["demo_requests"] == 1


def test_simulate_credits_anonymous_visits_after_the_form_links_them(capsys):
    report = simulate_json(capsys)
    sofie = lead(report, "sofie.jensen@havnelogistik.dk")
    assert sofie["breakdown"]["whitepaper-download"] == 30  # downloaded while anonymous
    assert not any(item["lead"].startswith("anon:") for item in report["leads"])


def test_simulate_pushes_competitors_and_students_down(capsys):
    report = simulate_json(capsys)
    assert lead(report, "analyst@rivaldata.example")["score"] == 0
    assert lead(report, "mike.olsen@gmail.com")["fit"] == -55
    assert lead(report, "mike.olsen@gmail.com")["account"] is None  # free mail has no account


def test_simulate_reports_accounts_alerts_duplicates_and_nps(capsys):
    report = simulate_json(capsys)
    assert report["events"] == {"scored": 69, "duplicate": 3, "late": 0}  # 72 lines, 3 redelivered
    nordkraft = next(a for a in report["accounts"] if a["account"] == "nordkraft.no")
    assert nordkraft["leads"] == 3
    kinds = [(a["kind"], a["subject"]) for a in report["alerts"]]
    assert ("lead_score", "ingrid.solberg@nordkraft.no") in kinds
    assert ("account_score", "nordkraft.no") in kinds
    assert len(kinds) == len(set(kinds)), "each crossing alerts once"
    assert lead(report, "jan.devries@polderbank.nl")["nps_category"] == "promoter"
    assert lead(report, "luc.peeters@brusselsteel.be")["nps_category"] == "detractor"


def test_simulate_at_an_earlier_time_ignores_later_events(capsys):
    report = simulate_json(capsys, "--at", "2026-10-15T00:00:00Z")
    assert all(item["lead"] != "sofie.jensen@havnelogistik.dk" for item in report["leads"])
    # only the NPS detractor answered on 8 October; the score alerts come later
    assert [(a["kind"], a["subject"]) for a in report["alerts"]] == [("nps_detractor", "luc.peeters@brusselsteel.be")]


def test_simulate_applies_decay_and_marks_cold_leads_later_on(capsys):
    now = simulate_json(capsys)
    later = simulate_json(capsys, "--at", "2027-02-01T00:00:00Z")
    assert (
        lead(later, "luc.peeters@brusselsteel.be")["engagement"]
        < lead(now, "luc.peeters@brusselsteel.be")["engagement"]
    )
    assert lead(later, "luc.peeters@brusselsteel.be")["cold"] is True


def test_simulate_table_prints_a_leaderboard(capsys):
    code, out, _ = run(capsys, "simulate", "--events", str(TRAFFIC))
    assert code == 0
    first_lead = out.split("Leads")[1].strip().splitlines()[2]
    assert first_lead.split()[:2] == ["1", "ingrid.solberg@nordkraft.no"]
    assert "Alerts that would fire" in out


def test_simulate_names_the_bad_line_of_an_events_file(tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    events.write_text('{"id": "1", "type": "download", "timestamp": "2026-10-01T00:00:00Z"}\nnot json\n')
    code, _, err = run(capsys, "simulate", "--events", str(events))
    assert code == 1
    assert f"{events}:1: email or anonymous_id: one of them is needed to know whose event it is" in err
    assert f"{events}:2: not JSON: Expecting value" in err


def _lower_content_scores(rules: Path) -> None:
    """The change under review: white papers and demo requests are worth less."""
    behaviour = rules / "behaviour.yaml"
    text = behaviour.read_text()
    whitepaper = 'asset: "whitepaper-*"}\n    readiness: 30%'
    assert whitepaper in text and "readiness: 60%" in text
    text = text.replace(whitepaper, 'asset: "whitepaper-*"}\n    readiness: 15%')
    behaviour.write_text(text.replace("readiness: 60%", "readiness: 10%"))


def test_diff_of_two_paths_lists_leads_whose_stage_or_qualification_changes(tmp_path, capsys):
    head = tmp_path / "head"
    shutil.copytree(RULES, head)
    _lower_content_scores(head)
    code, out, _ = run(capsys, "diff", str(RULES), str(head), "--events", str(TRAFFIC))
    assert code == 0
    assert out.startswith("## Lead scoring model change")
    assert "10 leads replayed; 5 change score or stage; **1 change stage or qualification**" in out
    assert (
        "| luc.peeters@brusselsteel.be | 44.3 | 32.15 | -12.15 | consideration → awareness | no | "
        "whitepaper-download 30 → 15 |" in out
    )
    # every lead whose score changes is listed, largest change first, with the rules responsible
    rows = [line for line in out.splitlines() if line.startswith("| ") and "@" in line]
    assert rows[0] == (
        "| ingrid.solberg@nordkraft.no | 230 | 165 | -65 | sales_ready | yes | "
        "demo-requested 60 → 10, whitepaper-download 30 → 15 |"
    )
    assert "| in consideration | 1 | 0 |" in out


def test_diff_against_a_git_revision(tmp_path, capsys, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(RULES, repo / "rules")
    git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "base"], check=True)
    _lower_content_scores(repo / "rules")
    monkeypatch.chdir(repo)
    code, out, _ = run(capsys, "diff", "--base", "HEAD", "rules", "--events", str(TRAFFIC), "--fail-on-change")
    assert code == 1
    assert "Base: `HEAD:rules`" in out
    assert "| luc.peeters@brusselsteel.be |" in out


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "leadscore.cli.main", "validate", "rules"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")
