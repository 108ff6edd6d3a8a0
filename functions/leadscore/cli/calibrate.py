"""`leadscore calibrate`: check the model's points and threshold against what leads actually did.

The events (behaviour plus, ideally, the CRM's outcomes as events such as `deal_won`) are
replayed through the model in memory (core/calibration.py). Two sections come out, each with a
line for the marketer saying what it means: the equal-parts split of the sales-ready score over
the interactions sales-ready leads had (seed 003), and how well the threshold separated leads
that converted from those that did not, at the threshold and nearby (seed 004).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..core.calibration import Calibration, ConversionCheck, ThresholdCheck, calibrate
from ..core.compiler import compile_model
from ..core.loader import load_model
from ..core.units import format_number
from .simulate import events_from
from .tables import render

DEFAULT_MODEL = Path("rules")


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def _number(value: float | None, suffix: str = "") -> str:
    return "-" if value is None else f"{format_number(value)}{suffix}"


def _about(value: float) -> str:
    return format_number(round(value))


def _section(title: str, fmt: str) -> str:
    return f"## {title}" if fmt == "markdown" else f"{title}\n{'=' * len(title)}"


def _meaning(text: str, fmt: str) -> str:
    return f"**What this means:** {text}" if fmt == "markdown" else f"What this means: {text}"


def _too_few(text: str, fmt: str) -> str:
    return f"**Too few leads:** {text}" if fmt == "markdown" else f"Too few leads: {text}"


def _qualifying(result: Calibration) -> str:
    return f"stage {result.sales_ready_stage} or score ≥ {format_number(result.threshold)}"


def interactions_section(result: Calibration, fmt: str) -> list[str]:
    """Seed 003: the sales-ready score split into equal parts over the interactions it took."""
    reached = len(result.reached)
    parts = [_section("Interactions before sales-ready", fmt)]
    if not result.stages:
        parts.append("The model has no staged content (no rule has `stage:`), so there are no counters to split over.")
        parts.append(_meaning("give rules a `stage:` to learn how much content leads engage per stage.", fmt))
        return parts
    if not reached:
        parts.append(f"No lead of {result.leads} became sales-ready ({_qualifying(result)}) in these events.")
        parts.append(
            _meaning(
                "there is nothing to split yet: replay a longer history, or check that the threshold can be reached.",
                fmt,
            )
        )
        return parts
    parts.append(
        f"{reached} of {result.leads} leads became sales-ready ({_qualifying(result)}); the leads that never did "
        f"({result.leads - reached}) are left out. Interactions with staged content are counted up to the event "
        "that made each lead sales-ready."
    )
    rows: list[list[Any]] = [
        [
            stage.stage,
            format_number(stage.average),
            format_number(stage.median),
            _number(stage.suggested_points),
            _number(stage.suggested_readiness, "%"),
            _number(stage.stage_share, "%"),
            stage.current_rules,
            _number(stage.current_average_points),
            _number(stage.current_readiness, "%"),
        ]
        for stage in result.stages
    ]
    rows.append(
        ["total", format_number(result.total_average), "", "", "", "100%" if result.total_average else "-", "", "", ""]
    )
    headers = [
        "stage",
        "avg interactions",
        "median",
        "suggested points",
        "suggested readiness",
        "stage share",
        "model rules",
        "model avg points",
        "model readiness",
    ]
    parts.append(render(headers, rows, fmt))
    per = result.points_per_interaction
    if per is None:
        parts.append(
            _meaning("the leads that became sales-ready did so without staged content: nothing to split.", fmt)
        )
    else:
        parts.append(
            f"Equal parts: {format_number(result.sales_ready_score)} / {format_number(result.total_average)} = "
            f"{format_number(per)} points per interaction (about {_about(per)})."
        )
        engaged = ", ".join(f"{format_number(stage.average)} {stage.stage}" for stage in result.stages)
        today = ", ".join(
            f"{format_number(stage.current_average_points)} per {stage.stage} item"
            for stage in result.stages
            if stage.current_average_points is not None
        )
        parts.append(
            _meaning(
                f"leads that became sales-ready engaged about {_about(result.total_average)} pieces of staged content on "
                f"the way ({engaged}), so if each counted the same it would be worth about {_about(per)} points. "
                f"Today the model gives on average {today or 'nothing to staged content'}; the data suggests about "
                f"{_about(per)} each. Start there and adjust with sales' view of which content matters most.",
                fmt,
            )
        )
    if result.too_few:
        parts.append(
            _too_few(
                f"only {reached} lead(s) became sales-ready (under {result.min_leads}), so treat these figures as a "
                "first hint, not a conclusion.",
                fmt,
            )
        )
    return parts


def _threshold_row(check: ThresholdCheck, current: float) -> list[Any]:
    label = format_number(check.threshold) + (" (now)" if check.threshold == current else "")
    return [
        label,
        check.qualified,
        check.converted_qualified,
        check.converted_not_qualified,
        check.not_converted_qualified,
        check.neither,
        _percent(check.precision),
        _percent(check.recall),
    ]


def _threshold_meaning(conversion: ConversionCheck) -> str:
    current = conversion.current
    threshold = format_number(current.threshold)
    if current.precision is None:
        first = f"no lead reached {threshold} before converting or without converting, so sales got no lead to judge."
    else:
        first = (
            f"of the leads your threshold ({threshold}) sent to sales, {_percent(current.precision)} converted; "
            f"of the leads that converted, it had caught {_percent(current.recall)} beforehand."
        )
    better = conversion.better()
    if better is not None:
        direction = "Lowering" if better.threshold < current.threshold else "Raising"
        second = (
            f" {direction} it to {format_number(better.threshold)} separates them better on these events "
            f"(precision {_percent(better.precision)}, recall {_percent(better.recall)})."
        )
    elif conversion.converted:
        second = f" None of the nearby thresholds separates them better: keep {threshold}."
    else:
        second = " No lead converted, so recall cannot be measured."
    return first + second


def conversion_section(result: Calibration, fmt: str) -> list[str]:
    """Seed 004: does the threshold hand sales the leads that convert?"""
    parts = [_section("Does the threshold pick the leads that convert?", fmt)]
    conversion = result.conversion
    if conversion is None:
        parts.append(f"No conversion events in the file (looked for: {', '.join(result.conversion_types)}).")
        parts.append(
            _meaning(
                "add the CRM's outcomes as events (for example a `deal_won` event with the lead's email), or name the "
                "type with --converted, to test whether the threshold works.",
                fmt,
            )
        )
        return parts
    current = conversion.current
    parts.append(
        f"Conversions: events of type {', '.join(conversion.types)}; {conversion.converted} of {conversion.leads} leads "
        f"converted. Qualified = the score reached the threshold before the lead converted."
    )
    matrix = [
        ["converted", current.converted_qualified, current.converted_not_qualified],
        ["not converted", current.not_converted_qualified, current.neither],
    ]
    parts.append(
        render([f"at threshold {format_number(current.threshold)}", "qualified", "not qualified"], matrix, fmt)
    )
    parts.append(
        f"Precision {_percent(current.precision)} ({current.converted_qualified} of {current.qualified} qualified leads "
        f"converted); recall {_percent(current.recall)} ({current.converted_qualified} of {current.converted} "
        "converting leads were qualified)."
    )
    checks = sorted([current, *conversion.alternatives], key=lambda check: check.threshold)
    headers = [
        "threshold",
        "qualified",
        "converted & qualified",
        "converted & not",
        "not converted & qualified",
        "neither",
        "precision",
        "recall",
    ]
    parts.append(render(headers, [_threshold_row(check, current.threshold) for check in checks], fmt))
    parts.append(_meaning(_threshold_meaning(conversion), fmt))
    if conversion.too_few:
        parts.append(
            _too_few(
                f"only {current.qualified} lead(s) qualified at {format_number(current.threshold)} (under "
                f"{result.min_leads}): do not move the threshold on this alone; collect more outcomes first.",
                fmt,
            )
        )
    return parts


def unknown_section(result: Calibration, fmt: str) -> list[str]:
    if not result.unknown_event_types:
        return []
    conversions = set(result.conversion.types) if result.conversion else set()
    listed = ", ".join(
        f"{kind} {count}" + (" (counted as conversions)" if kind in conversions else "")
        for kind, count in result.unknown_event_types.items()
    )
    return [
        _section("Event types the model does not know", fmt),
        f"{listed}. They were replayed and score nothing.",
        _meaning(
            "fine for CRM outcomes; if one of them is behaviour worth points, add it under `event_types:` and give it "
            "a rule.",
            fmt,
        ),
    ]


def render_calibration(result: Calibration, fmt: str = "table") -> str:
    """The calibration as a terminal table, markdown for a pull request, or JSON."""
    if fmt == "json":
        return json.dumps(result.as_dict(), indent=2, sort_keys=True)
    source = result.threshold_from if result.threshold_from == "sales_ready_score" else f"alert {result.threshold_from}"
    header = (
        f"Calibration of model {result.model_version} on {result.events} events, {result.leads} leads "
        f"(sales-ready score {format_number(result.sales_ready_score)}, threshold {format_number(result.threshold)} "
        f"from {source})"
    )
    parts = [
        header,
        *interactions_section(result, fmt),
        *conversion_section(result, fmt),
        *unknown_section(result, fmt),
    ]
    return "\n\n".join(parts)


def cmd_calibrate(args: argparse.Namespace) -> int:
    model = compile_model(load_model(args.path))
    result = calibrate(model, events_from(args.events), args.converted)
    print(render_calibration(result, args.format))
    return 0


def add_calibrate_command(commands: Any) -> argparse.ArgumentParser:
    """Register `calibrate` on the `leadscore` subparsers (the object `add_subparsers()` returned)."""
    calibrate_cmd = commands.add_parser(
        "calibrate",
        help="replay events: interactions per stage before sales-ready (points per interaction) and whether "
        "the threshold picks the leads that convert",
    )
    calibrate_cmd.add_argument("path", nargs="?", type=Path, default=DEFAULT_MODEL, help="model file or folder")
    calibrate_cmd.add_argument(
        "--events", type=Path, action="append", required=True, help="JSON Lines file (repeatable)"
    )
    calibrate_cmd.add_argument(
        "--converted",
        action="append",
        metavar="EVENT_TYPE",
        help="event type that means a lead converted (repeatable); default: opportunity_created, deal_won, "
        "customer when they occur",
    )
    calibrate_cmd.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    calibrate_cmd.set_defaults(run=cmd_calibrate)
    return calibrate_cmd
