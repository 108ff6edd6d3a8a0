"""`leadscore simulate` and `leadscore diff`: replay events through one or two versions of a model."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.events import EventError, format_timestamp, parse_event
from ..core.simulation import Simulation
from ..core.state import Event
from ..core.units import format_number
from .tables import render


class EventFileError(Exception):
    """A line of an events file that cannot be used, with file:line in the message."""


def read_events(path: Path) -> list[Event]:
    events = []
    problems = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                events.append(parse_event(json.loads(line)))
            except json.JSONDecodeError as error:
                problems.append(f"{path}:{number}: not JSON: {error.msg}")
            except EventError as error:
                problems.append(f"{path}:{number}: {error}")
    if problems:
        raise EventFileError("\n".join(problems))
    return events


def _extras(extras: dict[str, float]) -> str:
    return ", ".join(f"{name} {format_number(value)}" for name, value in extras.items() if value) or "-"


def _counters(counters: dict[str, int]) -> str:
    return ", ".join(f"{name} {value}" for name, value in sorted(counters.items())) or "-"


def leaderboard(report: dict[str, Any], fmt: str = "table", limit: int | None = None) -> str:
    leads = report["leads"][:limit] if limit else report["leads"]
    lead_rows = [
        [
            index,
            lead["lead"],
            lead["account"] or "-",
            format_number(lead["score"]),
            f"{format_number(lead['fit_counted'])}/{format_number(lead['fit'])}",
            format_number(lead["engagement"]),
            lead["stage"],
            lead["matrix"],
            lead["temperature"],
            f"{lead['activity']} ({format_number(lead['momentum'])})",
            "cold" if lead["cold"] else "-",
            f"{lead['nps']} {lead['nps_category']}" if lead["nps"] is not None else "-",
            _extras(lead["extras"]),
            _counters(lead["counters"]),
        ]
        for index, lead in enumerate(leads, start=1)
    ]
    lead_table = render(
        [
            "#",
            "lead",
            "account",
            "score",
            "fit used/raw",
            "engagement",
            "stage",
            "grade",
            "temp",
            "momentum",
            "cold",
            "nps",
            "product scores",
            "counters",
        ],
        lead_rows,
        fmt,
    )
    account_rows = [
        [index, a["account"], format_number(a["score"]), a["leads"], a["top_lead"]]
        for index, a in enumerate(report["accounts"], start=1)
    ]
    account_table = render(["#", "account", "score", "leads", "top lead"], account_rows, fmt)
    alert_rows = [
        [format_timestamp(a["ts"]), a["kind"], a["subject"], format_number(a["score"]), format_number(a["threshold"]) if a["threshold"] is not None else "-"]
        for a in report["alerts"]
    ]
    alert_table = render(["when", "kind", "who", "score", "threshold"], alert_rows, fmt) if alert_rows else "none"
    counts = report["events"]
    header = (
        f"model {report['model_version']}, scores at {format_timestamp(report['at'])}: "
        f"{counts['scored']} events scored, {counts['duplicate']} duplicates ignored, {counts['late']} too late"
    )
    heading = "## " if fmt == "markdown" else ""
    return "\n\n".join(
        [
            header,
            f"{heading}Leads",
            lead_table,
            f"{heading}Accounts",
            account_table,
            f"{heading}Alerts that would fire",
            alert_table,
        ]
    )


def qualified(lead: dict[str, Any], threshold: float) -> bool:
    return lead["score"] >= threshold


def diff_report(
    base: Simulation, head: Simulation, base_label: str, head_label: str, threshold: float
) -> tuple[str, int]:
    """Markdown for a pull request: leads whose stage or qualification changes. Returns (text, count)."""
    before = {lead["lead"]: lead for lead in base.report()["leads"]}
    after = {lead["lead"]: lead for lead in head.report()["leads"]}
    rows = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        old_stage = old["stage"] if old else "-"
        new_stage = new["stage"] if new else "-"
        old_q = bool(old and qualified(old, threshold))
        new_q = bool(new and qualified(new, threshold))
        if old_stage == new_stage and old_q == new_q:
            continue
        rows.append(
            [
                name,
                format_number(old["score"]) if old else "-",
                format_number(new["score"]) if new else "-",
                old_stage if old_stage == new_stage else f"{old_stage} → {new_stage}",
                _qualification(old_q, new_q),
            ]
        )
    changed_scores = sum(1 for name in set(before) & set(after) if before[name]["score"] != after[name]["score"])
    lines = [
        "## Lead scoring model change",
        "",
        f"Base: `{base_label}` (version {base.model.version}) · Head: `{head_label}` (version {head.model.version})",
        "",
        f"{len(after)} leads replayed; {changed_scores} change score; **{len(rows)} change stage or qualification** "
        f"(qualified = score ≥ {format_number(threshold)}).",
        "",
    ]
    lines.append(
        render(["lead", "score before", "score after", "stage", "qualified"], rows, "markdown")
        if rows
        else "No lead changes stage or qualification."
    )
    return "\n".join(lines), len(rows)


def _qualification(old: bool, new: bool) -> str:
    if old == new:
        return "yes" if new else "no"
    return "**newly qualified**" if new else "**no longer qualified**"


def events_from(paths: Iterable[Path]) -> list[Event]:
    events: list[Event] = []
    for path in paths:
        events.extend(read_events(path))
    return events
