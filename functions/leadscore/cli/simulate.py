"""`leadscore simulate` and `leadscore diff`: replay events through one or two versions of a model."""

from __future__ import annotations

import difflib
import json
import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.events import EventError, format_timestamp, parse_event
from ..core.simulation import Simulation, known_event_types
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


WIDTH = 120  # terminal tables fit this many columns

LEGEND = (
    "score = fit + eng. fit: profile points counted (counted/matched when over the fit cap); eng: engagement.\n"
    "grade: fit letter + temperature (1 hottest); activity: active, latent, or cold (no score increase for long)."
)


def _extras(extras: dict[str, float]) -> str:
    return ", ".join(f"{name} {format_number(value)}" for name, value in extras.items() if value) or "-"


def _fit(lead: dict[str, Any]) -> str:
    counted, raw = lead["fit_counted"], lead["fit"]
    return format_number(raw) if counted == raw else f"{format_number(counted)}/{format_number(raw)}"


def _activity(lead: dict[str, Any]) -> str:
    return "cold" if lead["cold"] else str(lead["activity"])


def leaderboard(report: dict[str, Any], fmt: str = "table", limit: int | None = None) -> str:
    """Leads, product scores, accounts and alerts; terminal tables fit WIDTH columns (long names get an ellipsis)."""
    leads = report["leads"][:limit] if limit else report["leads"]
    lead_rows = [
        [
            index,
            lead["lead"],
            lead["account"] or "-",
            format_number(lead["score"]),
            _fit(lead),
            format_number(lead["engagement"]),
            lead["stage"],
            lead["matrix"],
            _activity(lead),
            f"{lead['nps']} {lead['nps_category'] or ''}".strip() if lead["nps"] is not None else "-",
        ]
        for index, lead in enumerate(leads, start=1)
    ]
    headers = ["#", "lead", "account", "score", "fit", "eng", "stage", "grade", "activity", "nps"]
    lead_table = render(headers, lead_rows, fmt, WIDTH, shrink=[(1, 16), (2, 10), (6, 10), (9, 6)])
    products = sorted({name for lead in leads for name, value in lead["extras"].items() if value})
    product_rows = [
        [index, lead["lead"], *(format_number(lead["extras"].get(name, 0.0)) for name in products)]
        for index, lead in enumerate(leads, start=1)
        if any(lead["extras"].get(name) for name in products)
    ]
    account_rows = [
        [index, a["account"], format_number(a["score"]), a["leads"], a["top_lead"]]
        for index, a in enumerate(report["accounts"], start=1)
    ]
    account_table = render(
        ["#", "account", "score", "leads", "top lead"], account_rows, fmt, WIDTH, shrink=[(1, 16), (4, 16)]
    )
    alert_rows = [
        [
            format_timestamp(a["ts"]),
            a["kind"],
            a["subject"],
            format_number(a["score"]),
            format_number(a["threshold"]) if a["threshold"] is not None else "-",
        ]
        for a in report["alerts"]
    ]
    alert_table = (
        render(["when", "kind", "who", "score", "threshold"], alert_rows, fmt, WIDTH, shrink=[(2, 16)])
        if alert_rows
        else "none"
    )
    counts = report["events"]
    header = (
        f"model {report['model_version']}, scores at {format_timestamp(report['at'])}: "
        f"{counts['scored']} events scored, {counts['duplicate']} duplicates ignored, {counts['late']} too late"
    )
    unknown = sum(report.get("unknown_event_types", {}).values())
    if unknown:
        header += f", {unknown} of unknown type not scored"
    heading = "## " if fmt == "markdown" else ""
    sections = [header, f"{heading}Leads", lead_table, LEGEND]
    if product_rows:
        sections += [
            f"{heading}Product scores",
            render(["#", "lead", *products], product_rows, fmt, WIDTH, shrink=[(1, 16)]),
        ]
    sections += [f"{heading}Accounts", account_table, f"{heading}Alerts that would fire", alert_table]
    return "\n\n".join(sections)


def unknown_type_warnings(simulation: Simulation) -> list[str]:
    """One line per event type the model does not know, with the nearest known type when one is close."""
    known = sorted(known_event_types(simulation.model))
    lines = []
    for kind, count in sorted(simulation.unknown_types.items(), key=lambda pair: (-pair[1], pair[0])):
        match = difflib.get_close_matches(kind, known, n=1, cutoff=0.6)
        hint = f" (did you mean '{match[0]}'?)" if match else ""
        events = "event" if count == 1 else "events"
        lines.append(
            f"leadscore: {count} {events} of type '{kind}' match no rule and no known event type{hint}; not scored"
        )
    return lines


def qualified(lead: dict[str, Any], threshold: float) -> bool:
    return lead["score"] >= threshold


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: the smallest score at least `share` of the leads do not exceed."""
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def distribution(leads: list[dict[str, Any]], stages: Iterable[str]) -> dict[str, Any]:
    """count, min, median, p90 (nearest rank) and max of the scores, and how many leads are in each stage."""
    ordered = sorted(lead["score"] for lead in leads)
    per_stage = {stage: 0 for stage in stages}
    for lead in leads:
        per_stage[lead["stage"]] = per_stage.get(lead["stage"], 0) + 1
    summary: dict[str, Any] = {"count": len(ordered)}
    if ordered:
        summary |= {
            "min": ordered[0],
            "median": statistics.median(ordered),
            "p90": _percentile(ordered, 0.9),
            "max": ordered[-1],
        }
    summary["stages"] = per_stage
    return summary


def _responsible(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, tuple[float, float]]:
    """Rule id -> (points before, points after) for every rule that gives the lead different points."""
    before = old["breakdown"] if old else {}
    after = new["breakdown"] if new else {}
    rules = {}
    for rule in sorted(set(before) | set(after)):
        pair = (before.get(rule, 0.0), after.get(rule, 0.0))
        if round(pair[0], 2) != round(pair[1], 2):
            rules[rule] = pair
    return rules


def _rules_text(rules: dict[str, tuple[float, float]]) -> str:
    return ", ".join(f"{rule} {format_number(a)} → {format_number(b)}" for rule, (a, b) in rules.items()) or (
        "none (decay, caps or floor)"
    )


def diff_data(base: Simulation, head: Simulation, threshold: float) -> dict[str, Any]:
    """Every lead whose score or stage changes, largest absolute change first, and the distributions."""
    base_leads = [lead for lead in base.report()["leads"] if not lead["lead"].startswith("anon:")]
    head_leads = [lead for lead in head.report()["leads"] if not lead["lead"].startswith("anon:")]
    before = {lead["lead"]: lead for lead in base_leads}
    after = {lead["lead"]: lead for lead in head_leads}
    changes = []
    for name in set(before) | set(after):
        old, new = before.get(name), after.get(name)
        old_score = round(old["score"], 2) if old else None
        new_score = round(new["score"], 2) if new else None
        old_stage, new_stage = (old["stage"] if old else None), (new["stage"] if new else None)
        if old_score == new_score and old_stage == new_stage:
            continue
        changes.append(
            {
                "lead": name,
                "score_before": old_score,
                "score_after": new_score,
                "change": (new_score or 0.0) - (old_score or 0.0),
                "stage_before": old_stage,
                "stage_after": new_stage,
                "qualified_before": bool(old and qualified(old, threshold)),
                "qualified_after": bool(new and qualified(new, threshold)),
                "rules": {rule: list(pair) for rule, pair in _responsible(old, new).items()},
            }
        )
    changes.sort(key=lambda item: (-abs(item["change"]), item["lead"]))
    return {
        "threshold": threshold,
        "leads_replayed": len(after),
        "changes": changes,
        "distribution": {
            "before": distribution(base_leads, base.model.stage_ids),
            "after": distribution(head_leads, head.model.stage_ids),
        },
    }


def _signed(value: float) -> str:
    return f"+{format_number(value)}" if value > 0 else format_number(value)


def _stat(summary: dict[str, Any], key: str) -> str:
    return format_number(summary[key]) if key in summary else "-"


def diff_report(
    base: Simulation, head: Simulation, base_label: str, head_label: str, threshold: float
) -> tuple[str, int]:
    """Markdown for a pull request: every lead whose score changes and why. Returns (text, leads changing stage or qualification)."""
    data = diff_data(base, head, threshold)
    changes = data["changes"]
    moved = [
        item
        for item in changes
        if item["stage_before"] != item["stage_after"] or item["qualified_before"] != item["qualified_after"]
    ]
    rows = [
        [
            item["lead"],
            format_number(item["score_before"]) if item["score_before"] is not None else "-",
            format_number(item["score_after"]) if item["score_after"] is not None else "-",
            _signed(item["change"]),
            _stage_text(item["stage_before"], item["stage_after"]),
            _qualification(item["qualified_before"], item["qualified_after"]),
            _rules_text({rule: (a, b) for rule, (a, b) in item["rules"].items()}),
        ]
        for item in changes
    ]
    lines = [
        "## Lead scoring model change",
        "",
        f"Base: `{base_label}` (version {base.model.version}) · Head: `{head_label}` (version {head.model.version})",
        "",
        f"{data['leads_replayed']} leads replayed; {len(changes)} change score or stage; "
        f"**{len(moved)} change stage or qualification** (qualified = score ≥ {format_number(threshold)}).",
        "",
    ]
    lines.append(
        render(
            ["lead", "score before", "score after", "change", "stage", "qualified", "rules responsible"],
            rows,
            "markdown",
        )
        if rows
        else "No lead changes score or stage."
    )
    old, new = data["distribution"]["before"], data["distribution"]["after"]
    summary_rows = [["leads", old["count"], new["count"]]]
    summary_rows += [[key, _stat(old, key), _stat(new, key)] for key in ("min", "median", "p90", "max")]
    stages = list(dict.fromkeys([*old["stages"], *new["stages"]]))
    summary_rows += [[f"in {stage}", old["stages"].get(stage, 0), new["stages"].get(stage, 0)] for stage in stages]
    lines += ["", "### Score distribution", "", render(["", "before", "after"], summary_rows, "markdown")]
    return "\n".join(lines), len(moved)


def _stage_text(old: str | None, new: str | None) -> str:
    return (old or "-") if old == new else f"{old or '-'} → {new or '-'}"


def _qualification(old: bool, new: bool) -> str:
    if old == new:
        return "yes" if new else "no"
    return "**newly qualified**" if new else "**no longer qualified**"


def events_from(paths: Iterable[Path]) -> list[Event]:
    events: list[Event] = []
    for path in paths:
        events.extend(read_events(path))
    return events
