"""The asset spreadsheet round trip: `explain --format csv` and `import-assets`, through `main`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leadscore.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

# The README's example, as written there.
ASSETS_CSV = """\
rule,asset,stage,readiness,limit,description
each-white-paper,whitepaper-*,consideration,30%,"once per asset, cap 60",Each white paper once
roi-calculator,roi-calculator.xlsx,decision,15%,once,
"""

ASSETS_YAML = """\
# yaml-language-server: $schema=leadscore.schema.json
# Written by `leadscore import-assets`: edit the spreadsheet and import it again.

rules:
  - id: each-white-paper
    description: "Each white paper once"
    when: {event: download, asset: "whitepaper-*"}
    stage: consideration
    readiness: 30%
    limit: {once_per: asset}
    cap: 60

  - id: roi-calculator
    when: {event: download, asset: "roi-calculator.xlsx"}
    stage: decision
    readiness: 15%
    limit: once
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A copy of the shipped model, for the imported rules to join."""
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


def test_import_writes_validated_rules_from_the_spreadsheet(capsys, tmp_path, model) -> None:
    (tmp_path / "assets.csv").write_text(ASSETS_CSV)
    code, out, err = run(capsys, "import-assets", str(tmp_path / "assets.csv"), "--output", str(model / "assets.yaml"))
    assert (code, err) == (0, "")
    assert out.startswith(f"wrote {model / 'assets.yaml'}: 2 rules; the model validates")
    assert (model / "assets.yaml").read_text() == ASSETS_YAML
    assert run(capsys, "validate", str(model))[0] == 0


def test_explain_csv_imported_again_gives_the_same_yaml(capsys, tmp_path, model) -> None:
    # Given rules imported from the spreadsheet
    (tmp_path / "assets.csv").write_text(ASSETS_CSV)
    assert run(capsys, "import-assets", str(tmp_path / "assets.csv"), "--output", str(model / "assets.yaml"))[0] == 0
    # When they are explained as CSV and that CSV is imported again
    code, csv_text, _ = run(capsys, "explain", str(model / "assets.yaml"), "--format", "csv")
    assert code == 0
    (tmp_path / "again.csv").write_text(csv_text)
    assert run(capsys, "import-assets", str(tmp_path / "again.csv"), "--output", str(model / "assets.yaml"))[0] == 0
    # Then the YAML is the same
    assert (model / "assets.yaml").read_text() == ASSETS_YAML


def test_explain_csv_has_the_spreadsheet_columns(capsys) -> None:
    code, out, _ = run(capsys, "explain", str(ROOT / "rules"), "--format", "csv")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "rule,event,asset,condition,stage,readiness,points,limit,scores,description"
    assert "whitepaper-download,download,whitepaper-*,,consideration,30%,30,once,,Downloaded a white paper" in lines


def test_bad_rows_are_named_by_row_and_column_and_nothing_is_written(capsys, tmp_path, model) -> None:
    (tmp_path / "bad.csv").write_text(
        "asset,stage,readiness,limit\nwhitepaper-x,consideraton,30,once\n,decision,10%,twice a day\n"
    )
    code, _, err = run(capsys, "import-assets", str(tmp_path / "bad.csv"), "--output", str(model / "assets.yaml"))
    bad = tmp_path / "bad.csv"
    assert code == 1
    assert err.splitlines() == [
        f"{bad}: row 2, column stage: unknown stage 'consideraton'; the stages are awareness, consideration, "
        "decision, sales_ready",
        f"{bad}: row 2, column readiness: '30' is not a percentage; write it like 30%",
        f"{bad}: row 3, column asset: empty; write the asset's name or a pattern like whitepaper-*",
        f"{bad}: row 3, column rule: '' is not a rule id; use letters, digits, '-', '_' or '.'",
        f"{bad}: row 3, column limit: 'twice a day' is not a limit; write once, once per asset, 2/day (or /week, "
        "/month), cooldown 1h, cap 40 or group NAME, separated by commas",
        f"leadscore: 5 problem(s); {model / 'assets.yaml'} not written",
    ]
    assert not (model / "assets.yaml").exists()


def test_a_rule_that_breaks_the_model_is_told_by_its_row(capsys, tmp_path, model) -> None:
    # Given a row whose id is already a rule of the model
    (tmp_path / "dup.csv").write_text("rule,asset,readiness\nwhitepaper-download,whitepaper-*,30%\n")
    code, _, err = run(capsys, "import-assets", str(tmp_path / "dup.csv"), "--output", str(model / "assets.yaml"))
    assert code == 1
    assert err.splitlines()[0] == (
        f"{tmp_path / 'dup.csv'}: behaviour.yaml:47:9: rule whitepaper-download: id: duplicate rule id "
        "(first at row 2 of the CSV)"
    )
