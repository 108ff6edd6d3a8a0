"""`leadscore import-assets`: the seed's asset spreadsheet (asset, stage, readiness) as YAML rules.

It reads the CSV that `leadscore explain --format csv` prints (cli/explain.py, CSV_COLUMNS), one
rule per row, checks each row in plain words (row and column), then loads the whole model with
the new file in place: nothing is written unless the model still validates.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.loader import LoadedModel, ModelError, load_model
from ..core.spec import ModelSpec
from ..core.units import DURATION_PATTERN, PERCENT_PATTERN, format_number, percent_fraction
from ..core.validation import event_types
from .explain import CSV_COLUMNS

REQUIRED_COLUMNS = ("asset",)
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PER = re.compile(r"([1-9][0-9]*)/(day|week|month)")
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # text YAML 1.2 reads as itself without quotes


class AssetsError(ValueError):
    """Bad rows: each problem names the row (as a spreadsheet numbers it) and the column."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class AssetRow:
    row: int  # the spreadsheet's row number: the header is row 1
    rule: str
    event: str
    asset: str
    stage: str
    readiness: str
    points: str
    limit: str
    scores: tuple[str, ...]
    description: str


def _scalar(text: str) -> str:
    """A YAML value: bare when it is a plain name, else double-quoted (JSON strings are YAML)."""
    return (
        text
        if _PLAIN.fullmatch(text) and text.lower() not in {"true", "false", "null", "yes", "no"}
        else json.dumps(text)
    )


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _limit_yaml(text: str) -> tuple[list[str], str | None]:
    """(YAML lines for limit/cap/group, or the problem), from explain's limit column."""
    lines: list[str] = []
    limit: dict[str, str] = {}
    for piece in (p.strip() for p in text.split(",") if p.strip()):
        words = piece.split()
        per = _PER.fullmatch(piece)
        if piece == "once":
            lines.append("limit: once")
        elif len(words) == 3 and words[:2] == ["once", "per"] and _IDENTIFIER.fullmatch(words[2]):
            limit["once_per"] = words[2]
        elif per:
            limit["max"], limit["per"] = per.group(1), per.group(2)
        elif len(words) == 2 and words[0] == "cooldown" and re.fullmatch(DURATION_PATTERN, words[1]):
            limit["cooldown"] = words[1]
        elif len(words) == 2 and words[0] == "cap" and _number(words[1]) is not None:
            lines.append(f"cap: {words[1]}")
        elif len(words) == 2 and words[0] == "group" and _IDENTIFIER.fullmatch(words[1]):
            lines.append(f"group: {words[1]}")
        else:
            return [], (
                f"{piece!r} is not a limit; write once, once per asset, 2/day (or /week, /month), "
                "cooldown 1h, cap 40 or group NAME, separated by commas"
            )
    if limit:
        lines.insert(0, "limit: {" + ", ".join(f"{key}: {value}" for key, value in limit.items()) + "}")
    return lines, None


def read_rows(text: str, spec: ModelSpec) -> list[AssetRow]:
    """The rows of an asset CSV, or AssetsError listing every bad cell as `row N, column C: ...`."""
    reader = csv.reader(text.lstrip("\ufeff").splitlines())
    header = [name.strip().casefold() for name in next(reader, [])]
    problems = [
        f"row 1, column {name!r}: unknown column; the columns are {', '.join(CSV_COLUMNS)}"
        for name in header
        if name not in CSV_COLUMNS
    ]
    problems += [f"row 1: the column {name!r} is missing" for name in REQUIRED_COLUMNS if name not in header]
    if problems:
        raise AssetsError(problems)
    stages = [stage.id for stage in spec.stages]
    known_events = event_types(spec)
    rows: list[AssetRow] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            problems.append(
                f"row {number}: {len(cells)} cells but {len(header)} columns; quote a value that has a comma"
            )
            continue
        cell = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}

        def bad(column: str, problem: str, row: int = number) -> None:
            problems.append(f"row {row}, column {column}: {problem}")

        asset, event = cell["asset"], cell.get("event") or "download"
        rule_id = cell.get("rule") or re.sub(r"[^A-Za-z0-9_.-]+", "-", asset.replace("*", "")).strip("-._")
        if not asset:
            bad("asset", "empty; write the asset's name or a pattern like whitepaper-*")
        if cell.get("condition"):
            bad("condition", "import-assets writes asset rules only; leave it empty (edit other rules in the YAML)")
        if not _IDENTIFIER.fullmatch(rule_id or "-"):
            bad("rule", f"{rule_id!r} is not a rule id; use letters, digits, '-', '_' or '.'")
        elif rule_id in seen:
            bad("rule", f"duplicate rule id {rule_id!r} (first in row {seen[rule_id]})")
        else:
            seen[rule_id] = number
        if event not in known_events:
            bad(
                "event",
                f"unknown event type {event!r}; declare it under event_types or use one of: {', '.join(known_events)}",
            )
        stage = cell.get("stage", "")
        if stage and stage not in stages:
            bad("stage", f"unknown stage {stage!r}; the stages are {', '.join(stages)}")
        readiness, points = cell.get("readiness", ""), cell.get("points", "")
        if readiness and not re.fullmatch(PERCENT_PATTERN, readiness):
            bad("readiness", f"{readiness!r} is not a percentage; write it like 30%")
        elif points and _number(points) is None:
            bad("points", f"{points!r} is not a number")
        elif not readiness and not points:
            bad("readiness", "empty; give readiness (like 30%) or points")
        elif readiness and points:
            expected = round(percent_fraction(readiness) * spec.sales_ready_score, 6)
            if _number(points) != expected:
                bad(
                    "points",
                    f"{points} does not match readiness {readiness} ({format_number(expected)} points); "
                    "clear one of the two",
                )
        _, problem = _limit_yaml(cell.get("limit", ""))
        if problem:
            bad("limit", problem)
        scores = tuple(s.strip() for s in cell.get("scores", "").split(",") if s.strip())
        rows.append(
            AssetRow(
                number,
                rule_id,
                event,
                asset,
                stage,
                readiness,
                points,
                cell.get("limit", ""),
                scores,
                cell.get("description", ""),
            )
        )
    if problems:
        raise AssetsError(problems)
    return rows


def rules_yaml(rows: list[AssetRow]) -> tuple[str, dict[int, int]]:
    """(the YAML file, its first line of each rule -> the row it came from)."""
    lines = [
        "# yaml-language-server: $schema=leadscore.schema.json",
        "# Written by `leadscore import-assets`: edit the spreadsheet and import it again.",
        "",
        "rules:",
    ]
    starts: dict[int, int] = {}
    for row in rows:
        starts[len(lines) + 1] = row.row
        lines.append(f"  - id: {row.rule}")
        if row.description:
            lines.append(f"    description: {_scalar(row.description)}")
        lines.append(f"    when: {{event: {_scalar(row.event)}, asset: {json.dumps(row.asset)}}}")
        if row.stage:
            lines.append(f"    stage: {row.stage}")
        lines.append(f"    readiness: {row.readiness}" if row.readiness else f"    points: {row.points}")
        if row.scores and row.scores != ("main",):
            lines.append(f"    scores: [{', '.join(row.scores)}]")
        lines += [f"    {line}" for line in _limit_yaml(row.limit)[0]]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n", starts


def _row_of(problem: str, name: str, starts: dict[int, int]) -> str:
    """A loader message on the generated file, told as the spreadsheet rows it came from."""

    def row(line: int) -> int | None:
        firsts = [start for start in starts if start <= line]
        return starts[max(firsts)] if firsts else None

    found = re.match(rf"{re.escape(name)}:(\d+):\d+: (.*)", problem, re.DOTALL)
    if found and row(int(found.group(1))) is not None:
        problem = f"row {row(int(found.group(1)))}: {found.group(2)}"

    def inside(match: re.Match[str]) -> str:
        number = row(int(match.group(1)))
        return match.group(0) if number is None else f"row {number} of the CSV"

    return re.sub(rf"{re.escape(name)}:(\d+):\d+", inside, problem)


def import_assets(csv_path: Path, output: Path, model: Path) -> LoadedModel:
    """Write `output` from the CSV, after checking the rows and loading `model` with it in place."""
    base = load_model(model) if model.exists() else None
    spec = base.spec if base is not None else ModelSpec()
    rows = read_rows(csv_path.read_text(encoding="utf-8-sig"), spec)
    text, starts = rules_yaml(rows)
    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder)
        if model.is_dir():
            for item in model.iterdir():
                if item.is_file() and item.name != output.name:
                    shutil.copy(item, trial / item.name)
        elif model.is_file() and model.resolve() != output.resolve():
            shutil.copy(model, trial / model.name)
        (trial / output.name).write_text(text, encoding="utf-8")
        try:
            loaded = load_model(trial, display_base=trial)
        except ModelError as error:
            raise AssetsError([_row_of(problem, output.name, starts) for problem in error.problems]) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    return loaded


def cmd_import_assets(args) -> int:
    output = args.output
    model = args.model if args.model is not None else output.parent
    try:
        loaded = import_assets(args.csv, output, model)
    except AssetsError as error:
        print("\n".join(f"{args.csv}: {problem}" for problem in error.problems), file=sys.stderr)
        print(f"leadscore: {len(error.problems)} problem(s); {output} not written", file=sys.stderr)
        return 1
    written = sum(1 for rule in loaded.spec.rules if rule.id in _ids(output))
    print(f"wrote {output}: {written} rules; the model validates ({len(loaded.spec.rules)} rules in all)")
    return 0


def _ids(path: Path) -> set[str]:
    return set(re.findall(r"^  - id: (\S+)$", path.read_text(encoding="utf-8"), re.MULTILINE))


def add_import_assets_command(commands) -> None:
    command = commands.add_parser(
        "import-assets", help="write asset rules (asset, stage, readiness) from a CSV like `explain --format csv`"
    )
    command.add_argument("csv", type=Path, metavar="FILE.csv")
    command.add_argument("--output", type=Path, default=Path("rules/assets.yaml"), help="default: rules/assets.yaml")
    command.add_argument(
        "--model", type=Path, help="the model the rules join, validated with them; default: the output's folder"
    )
    command.set_defaults(run=cmd_import_assets)
