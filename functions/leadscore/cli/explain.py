"""`leadscore explain`: the model as the seed's spreadsheet (asset, stage, score), from the YAML itself.

`--format csv` prints the rules as that spreadsheet (CSV_COLUMNS); `leadscore import-assets`
reads it back (cli/assets.py), so the two round-trip.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..core.loader import LoadedModel
from ..core.spec import Operators, RuleSpec
from ..core.units import format_number
from ..core.validation import reachable_maximum, rule_points, rule_targets
from .tables import render


def _condition(value: Any) -> str:
    if isinstance(value, Operators):
        parts = []
        for name, item in value.model_dump(by_alias=True, exclude_none=True).items():
            parts.append(f"{name} {_condition(item)}")
        return " and ".join(parts)
    if isinstance(value, list):
        return " or ".join(_condition(item) for item in value)
    return str(value)


def describe_conditions(rule: RuleSpec) -> str:
    written = rule.when if rule.when is not None else rule.fit
    assert written is not None
    parts = []
    for name, condition in written.items():
        if name == "event":
            parts.insert(0, _condition(condition))
        else:
            parts.append(f"{name}: {_condition(condition)}")
    return "; ".join(parts)


def describe_limit(rule: RuleSpec) -> str:
    pieces = []
    limit = rule.limit
    if limit == "once":
        pieces.append("once")
    elif limit is not None:
        if limit.once_per is not None:
            pieces.append(f"once per {limit.once_per}")
        if limit.max is not None:
            pieces.append(f"{limit.max}/{limit.per}")
        if limit.cooldown is not None:
            pieces.append(f"cooldown {limit.cooldown}")
    if rule.cap is not None:
        pieces.append(f"cap {format_number(rule.cap)}")
    if rule.group is not None:
        pieces.append(f"group {rule.group}")
    return ", ".join(pieces) or ("while profile matches" if rule.fit is not None else "every time")


CSV_COLUMNS = ("rule", "event", "asset", "condition", "stage", "readiness", "points", "limit", "scores", "description")


def _asset(rule: RuleSpec) -> str:
    """The `asset` condition when it is one value or pattern (the spreadsheet's asset column)."""
    value = (rule.when or {}).get("asset")
    return value if isinstance(value, str) else ""


def csv_row(rule: RuleSpec, points: float) -> list[str]:
    when = rule.when or {}
    event = when.get("event") if rule.when is not None else None
    others = {name: c for name, c in (rule.when or rule.fit or {}).items() if name != "event"}
    if _asset(rule):
        others.pop("asset")
    condition = "; ".join(f"{name}: {_condition(c)}" for name, c in others.items())
    limit = describe_limit(rule)
    return [
        rule.id,
        " or ".join(event) if isinstance(event, list) else str(event or ""),
        _asset(rule),
        condition,
        rule.stage or "",
        rule.readiness or "",
        format_number(points),
        "" if limit in {"every time", "while profile matches"} else limit,
        ", ".join(rule.scores) if rule.scores is not None else "",
        rule.description or "",
    ]


def explain_csv(loaded: LoadedModel) -> str:
    """One row per rule, the columns a marketer's asset spreadsheet has (CSV_COLUMNS)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for rule in loaded.spec.rules:
        writer.writerow(csv_row(rule, rule_points(rule, loaded.spec)))
    return out.getvalue().rstrip("\n")


def explain(loaded: LoadedModel, fmt: str = "table") -> str:
    spec = loaded.spec
    if fmt == "csv":
        return explain_csv(loaded)
    headers = ["rule", "kind", "when / fit", "stage", "readiness", "points", "limit", "scores"]
    rows = []
    for rule in spec.rules:
        points = rule_points(rule, spec)
        rows.append(
            [
                rule.id,
                "behaviour" if rule.when is not None else "fit",
                describe_conditions(rule),
                rule.stage or "-",
                rule.readiness or f"({format_number(points / spec.sales_ready_score * 100)}%)",
                format_number(points),
                describe_limit(rule),
                ", ".join(rule_targets(rule)),
            ]
        )
    fit_max, engagement_max, main_max = reachable_maximum(spec)
    bands = ", ".join(
        f"{s.id} {format_number(s.min)}-{format_number(s.max) if s.max is not None else ''}" for s in spec.stages
    )
    summary = [
        f"model {spec.name} (version {loaded.version}) from {', '.join(loaded.sources)}",
        f"sales-ready score {format_number(spec.sales_ready_score)}; fit counts at most "
        f"{spec.explicit_share_max} ({format_number(fit_max)} reachable); engagement at most "
        f"{format_number(engagement_max)}; main score at most {format_number(main_max)}",
        f"stages: {bands}"
        + ("; entering a stage needs content of that stage" if spec.advance_requires_content else ""),
    ]
    if spec.groups:
        summary.append("groups: " + ", ".join(f"{name} cap {format_number(g.cap)}" for name, g in spec.groups.items()))
    separator = "\n\n" if fmt == "markdown" else "\n"
    text = separator.join(summary) + "\n\n" + render(headers, rows, fmt)
    if loaded.readings and fmt == "table":
        notes = "\n".join(f"  {reading.note()}" for reading in loaded.readings)
        text += f"\n\nRead as written (YAML 1.1 tools read these differently):\n{notes}"
    return text
