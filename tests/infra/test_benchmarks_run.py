"""The benchmarks still run and still compare like with like (a smoke run; no timing asserted)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *arguments: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """A benchmark run as `make bench` runs it, from the repository's root; its output captured."""
    return subprocess.run(
        [sys.executable, f"benchmarks/{script}", *arguments], capture_output=True, text=True, cwd=ROOT, timeout=timeout
    )


def test_engine_benchmark_runs_and_peers_match_the_same_rules():
    result = run_benchmark("engine_vs_peers.py", "--events", "3000", "--peer-sample", "300", "--repeat", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "zen-engine agrees with leadscore on matched rules for 100.0%" in result.stdout
    assert "rule-engine agrees with leadscore on matched rules for 100.0%" in result.stdout


def test_cold_start_benchmark_runs():
    # --source: the smoke run skips `sam build` (minutes); make bench measures the built package
    result = run_benchmark("cold_start.py", "--runs", "1", "--source")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "leadscore.handlers.consumer" in result.stdout
    assert "target consumer import <= 1.3x a bare import boto3" in result.stdout


def test_model_scaling_benchmark_runs_and_judges_its_targets():
    result = run_benchmark("model_scaling.py", "--sizes", "100,1000", "--events", "500", "--repeat", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "target 1,000 rules cost <= 1.5x 100 rules per event" in result.stdout
    assert "target 1,000 validated rules compile in < 50 ms" in result.stdout
    assert "target a cold start loads 1,000 rules (the build's validated model, compiled) in < 50 ms" in result.stdout


def test_daily_decay_benchmark_runs_and_decays_each_due_lead_with_two_reads_and_one_write():
    result = run_benchmark("daily_decay.py", "--leads", "40")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "20 ticks scored, 0 failed" in result.stdout
    # two reads: the lead, and (its seeding save entered a stage) that save's velocity figures, to
    # find them written; one write, the lead alone
    assert "per decayed lead: 2.00 reads (GetItem), 1.00 conditional writes" in result.stdout
    assert "0.00 member scores written after the lead" in result.stdout  # free-mail leads: no account


def test_rescore_benchmark_runs_and_every_sampled_lead_equals_scoring_from_scratch():
    result = run_benchmark("rescore.py", "--leads", "60", "--segments", "4", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    assert "seeding faithful: 60/60 leads" in result.stdout
    assert "exact: 60/60 sampled leads equal scoring from scratch under the new model" in result.stdout
    assert "DynamoDB calls per rescored lead: GetItem" in result.stdout
    assert "TransactWriteItems" in result.stdout.split("DynamoDB calls per rescored lead:")[1].splitlines()[0]


def test_write_units_benchmark_runs_and_prints_both_targets_with_the_units_by_table():
    result = run_benchmark("write_units.py", "--leads", "20")
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    spread = next(line for line in result.stdout.splitlines() if line.startswith("spread: 1 event per lead per batch"))
    events = int(spread.split(": ")[2].split()[0])
    calls = ast.literal_eval(spread.split("calls ")[1])
    # 3 to 5 calls a save: the lead, its (small) account's summary after the save and, when the
    # member's score moved, before it too; one write of the lead and, when the score moved, one
    # update of the summary after it
    assert events == 20 * 24 and calls.get("Query", 0) == 0 and 2 * events <= calls["GetItem"] <= 3 * events, spread
    assert calls.get("PutItem", 0) + calls.get("TransactWriteItems", 0) == events, spread
    assert calls.get("UpdateItem", 0) <= calls["GetItem"] - 2 * events, spread  # one a moved score
    assert "write units per event by table: EventLogTable" in result.stdout
    assert "target spread <= 4 write units per event:" in result.stdout
    assert "target grouped <= 1.5 write units per event:" in result.stdout
    season = result.stdout.split("a season of traffic:")[1]
    assert "exact at every save" in season and "lower bound (shipped)" in season
    assert "target a season's events, the schedule's visits and index writes included" in season
    shipped = season.split("lower bound (shipped)")[1].split()
    total = float(shipped[1])  # visits, then write units per event
    breakdown = season.split("by what each write request holds")[1].split("target ")[0].splitlines()[2:]
    # a small account's member whose score moved: its score in the summary, after the lead, alone
    assert any(re.match(r"account summary +[\d,]+ ", row.lstrip()) for row in breakdown), season
    assert abs(sum(float(row.split()[-2]) for row in breakdown) - total) < 0.02 * len(breakdown), season


def test_state_scaling_benchmark_runs_and_an_account_save_costs_the_same_units_whatever_its_size():
    result = run_benchmark(
        "state_scaling.py", "--members", "1,300,1000", "--history", "10,50", "--saves", "3", timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    rows = result.stdout.split("by account size")[1].split("by lead history")[0].splitlines()[2:5]
    assert [row.split()[0] for row in rows] == ["1", "300", "1,000"]
    units = [(float(row.split()[5]), float(row.split()[7])) for row in rows]  # read and write units per save
    # a small account (its members inline in its summary) costs least; a large one costs the same
    # whatever its size, and at most twice the small one's
    assert units[1] == units[2], units
    assert all(small <= large <= 2 * small for small, large in zip(units[0], units[1], strict=True)), units
    assert "a flood (1,000 events in one day" in result.stdout
