"""The load and loss check's small run: 200 events through `leadscore serve`, reconciled (exit 0)."""

from __future__ import annotations

import subprocess
import sys

from leadscore.local.stack import ROOT


def test_a_small_load_through_serve_reconciles(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/load_check.py", "--events", "200", "--threads", "4", "--outbox", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "reconciled: every accepted event scored once" in result.stdout
    assert "events/s" in result.stdout and "p99" in result.stdout


def test_it_refuses_a_host_that_is_not_this_machine():
    result = subprocess.run(
        [sys.executable, "benchmarks/load_check.py", "--events", "10", "--url", "http://example.com:8080"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode != 0 and "not a loopback address" in result.stderr
