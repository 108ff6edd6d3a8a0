"""Plain-text answers about one lead: its replayed timeline (`simulate --lead`) and its stored breakdown (`lead`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..core.compiler import CompiledModel
from ..core.events import format_timestamp
from ..core.simulation import Simulation, Step
from ..core.state import Change
from ..core.units import format_number

MAX_PROPERTIES = 6
MAX_VALUE = 40


def _signed(value: float) -> str:
    return f"+{format_number(value)}" if value >= 0 else format_number(value)


def _value(value: Any) -> str:
    text = format_number(value) if isinstance(value, float) else str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _properties(values: dict[str, Any]) -> str:
    items = [f"{key}={_value(value)}" for key, value in values.items()]
    if len(items) > MAX_PROPERTIES:
        items = [*items[:MAX_PROPERTIES], f"… {len(items) - MAX_PROPERTIES} more"]
    return ", ".join(items)


def _event_heading(step: Step) -> str:
    event = step.event
    assert event is not None
    parts = [format_timestamp(step.ts), event.type, f"({event.id})"]
    if event.properties:
        parts.append(_properties(event.properties))
    if event.profile:
        parts.append(f"profile: {_properties(event.profile)}")
    if step.linked:
        parts.append("[anonymous visit, credited when the visitor was linked]")
    return "  ".join(parts)


def _cut(change: Change, model: CompiledModel | None, fit_cap: float | None) -> str | None:
    """What a cap took from this change, in words: the answer to "why 127 points, not 130?"."""
    if change.dimension == "fit" and fit_cap is not None and change.delta > 0:
        counted = min(change.after, fit_cap) - min(change.before, fit_cap)
        if counted < change.delta:
            return (
                f"fit cap {format_number(fit_cap)}: {format_number(change.delta - counted)} of these "
                f"{format_number(change.delta)} points not counted in the score"
            )
    rule = model.rules.get(change.rule) if model is not None else None
    if (
        rule is not None
        and change.dimension != "fit"
        and 0 <= change.delta < rule.points
        and "cap" in change.why  # the engine names the rule or group cap that clipped it
    ):
        return f"cap: {format_number(rule.points - change.delta)} of the rule's {format_number(rule.points)} points cut"
    return None


def change_lines(
    changes: Iterable[Change], model: CompiledModel | None = None, fit_cap: float | None = None, indent: str = "  "
) -> list[str]:
    """One line per change (rule, score, points, before -> after, why), and a line for each cap that cut."""
    lines = []
    for change in changes:
        if change.dimension == "stage":
            lines.append(f"{indent}stage {change.before} -> {change.after}: {change.why}")
        elif change.dimension == "cold":
            lines.append(f"{indent}{'cold' if change.after else 'no longer cold'}: {change.why}")
        else:
            lines.append(
                f"{indent}{change.rule}  {change.dimension} {_signed(change.delta)}  "
                f"{format_number(change.before)} -> {format_number(change.after)}  {change.why}"
            )
            cut = _cut(change, model, fit_cap)
            if cut:
                lines.append(f"{indent}  {cut}")
    return lines


def _outcome_lines(step: Step, model: CompiledModel) -> list[str]:
    outcome = step.outcome
    if step.kind == "unknown" or outcome is None:
        return ["  not scored: the model knows no event of this type"]
    if outcome.status == "duplicate":
        return ["  duplicate: this event id was already scored; ignored"]
    if outcome.status == "late":
        return [f"  too late: more than {model.spec.late_events_window} behind the lead's newest event; not scored"]
    lines = change_lines(outcome.changes, model, model.fit_cap)
    lines += [f"  {skip.rule}: no points ({skip.reason})" for skip in outcome.skipped]
    lines += [
        f"  alert {alert.name or alert.kind}: score {format_number(alert.score)}"
        + (f" reached {format_number(alert.threshold)}" if alert.threshold is not None else "")
        for alert in outcome.alerts
    ]
    if outcome.score_after != outcome.score_before:
        lines.append(f"  score {format_number(outcome.score_before)} -> {format_number(outcome.score_after)}")
    elif not lines:
        lines.append(f"  nothing changed (score {format_number(outcome.score_after)})")
    return lines


def timeline(simulation: Simulation, lead: str) -> str:
    """Every step of one lead in replay order, then a summary line."""
    model = simulation.model
    lines = [f"{lead}: timeline under model {model.spec.name} (version {model.version})", ""]
    for step in simulation.steps:
        if step.kind in ("decay", "cold"):
            lines.append(f"{format_timestamp(step.ts)}  {step.kind}")
        else:
            lines.append(_event_heading(step))
        lines += _outcome_lines(step, model)
    lines += ["", summary_line(simulation, lead)]
    return "\n".join(lines)


def summary_line(simulation: Simulation, lead: str) -> str:
    view = next(item for item in simulation.report()["leads"] if item["lead"] == lead)
    events = [step for step in simulation.steps if step.kind in ("event", "unknown")]
    scored = sum(1 for step in events if step.outcome is not None and step.outcome.status == "scored")
    fit = format_number(view["fit_counted"])
    if view["fit_counted"] != view["fit"]:
        fit += f" (of {format_number(view['fit'])}, capped)"
    text = (
        f"summary at {format_timestamp(simulation.now)}: score {format_number(view['score'])} = fit {fit} + engagement "
        f"{format_number(view['engagement'])}"
    )
    if view["score"] != view["fit_counted"] + view["engagement"]:
        text += f" (floor {format_number(simulation.model.floor)})"
    text += f"; stage {view['stage']}; {len(events)} events, {scored} scored"
    return text


def closest(lead: str, leads: Sequence[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(lead, list(leads), n=3, cutoff=0.7)


# --- `leadscore lead`: the stored breakdown ------------------------------------------------------


def _named(values: dict[str, Any]) -> str:
    return ", ".join(f"{name} {format_number(float(value))}" for name, value in values.items()) or "-"


def lead_breakdown(description: dict[str, Any]) -> str:
    """The stored lead as a person reads it: score, its parts, stage, account, recent history with reasons."""
    fit = format_number(description["fit_counted"])
    if description["fit_counted"] != description["fit"]:
        fit += f" (of {format_number(description['fit'])}, capped)"
    nps = description.get("nps")
    lines = [
        f"{description['lead']}  (account {description.get('account') or '-'})",
        f"score        {format_number(description['score'])} = fit {fit} + engagement "
        f"{format_number(description['engagement'])}",
        f"stage        {description['stage']}  (grade {description['matrix']}: fit {description['grade']}, "
        f"{description['temperature']})",
        f"activity     {'cold' if description.get('cold') else description['activity']} (momentum "
        f"{format_number(description['momentum'])}); last activity {description.get('last_activity') or '-'}",
        f"products     {_named({k: v for k, v in description.get('extras', {}).items()})}",
        f"nps          {nps} {description.get('nps_category') or ''}".rstrip() if nps is not None else "nps          -",
        f"rule points  {_named(description.get('breakdown', {}))}",
        f"model        {description.get('model_version', '-')} (stored version {description.get('version', '-')})",
    ]
    history = description.get("stage_history") or []
    if history:
        lines += ["", "Stage history"]
        lines += [f"  {item['since']}  {item['stage']}  {item['why']}" for item in history]
    recent = description.get("recent_changes") or []
    if recent:
        lines += ["", "Recent history (newest first)"]
        for entry in recent:
            lines.append(
                f"  {entry['at']}  {entry['event_type']} ({entry['event_id']})  score "
                f"{format_number(float(entry['score_before']))} -> {format_number(float(entry['score_after']))}"
            )
            changes = [Change(**change) for change in entry.get("changes", [])]
            lines += change_lines(changes, indent="    ")
    return "\n".join(lines)
