"""Calibration: does the model's arithmetic match what real leads did? (seeds 003 and 004)

Two questions a marketer asks once there is data, answered by replaying events through the model
in memory (`Simulation`, unchanged, with a hook after each engine call):

1. The equal-parts method (seed 003): among leads that became sales-ready (reached the model's
   last stage, or the lead alert threshold), how many interactions with staged content did they
   have in each stage before they got there? Counts come from the engine's per-stage counters,
   snapshotted at the event that made the lead sales-ready, so later activity does not inflate
   them. The sales-ready score split into that many equal parts gives the points one
   interaction is worth (100 / (5 + 3 + 4) = 8.33), set against what the model gives today.
2. Does the threshold work (seed 004)? With conversion events in the file (a CRM's
   `opportunity_created`, `deal_won`, `customer`...), leads are split by "converted" and
   "reached the threshold before converting": a confusion table, precision and recall, at the
   threshold and at nearby ones, so moving it can be judged on data.

Anonymous visitors (`anon:` leads) are not leads: their events count once a form or an identify
call links them. Event types the model does not know are replayed (they score nothing) and
reported, so a CRM export can be fed as it is. Pure: no I/O, no clock.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field

from .compiler import CompiledModel
from .engine import main_score
from .simulation import Simulation
from .spec import BUILTIN_EVENT_TYPES, ModelSpec
from .state import Event, LeadState

DEFAULT_CONVERSION_TYPES = ("opportunity_created", "deal_won", "customer")
MIN_LEADS = 20  # below this many qualified leads, figures are hints, not conclusions
THRESHOLD_STEPS = (-0.2, -0.1, 0.1, 0.2)  # nearby thresholds, as shares of the sales-ready score (-20..+20 of 100)


@dataclass(frozen=True)
class LeadReach:
    """One lead that became sales-ready: when, how, and its staged interactions up to that event."""

    lead: str
    at: float
    by: str  # 'stage' (entered the last stage) or 'score' (reached the threshold)
    score: float
    interactions: dict[str, int]


@dataclass(frozen=True)
class StageCalibration:
    """One content stage: what sales-ready leads did in it, what the data suggests, what the model gives."""

    stage: str
    average: float  # interactions per sales-ready lead before it became sales-ready
    median: float
    suggested_points: float | None  # equal parts: sales_ready_score / total average interactions
    suggested_readiness: float | None  # the same as a percentage of the sales-ready score
    stage_share: float | None  # percent of the sales-ready score this stage's interactions give at that rate
    current_rules: int  # staged rules of this stage that give to the main score
    current_average_points: float | None
    current_readiness: float | None  # percent of the sales-ready score


@dataclass(frozen=True)
class ThresholdCheck:
    """The confusion table at one threshold: qualified = the score reached it before any conversion."""

    threshold: float
    converted_qualified: int
    converted_not_qualified: int
    not_converted_qualified: int
    neither: int

    @property
    def qualified(self) -> int:
        return self.converted_qualified + self.not_converted_qualified

    @property
    def converted(self) -> int:
        return self.converted_qualified + self.converted_not_qualified

    @property
    def precision(self) -> float | None:
        """Share of qualified leads that converted: how often sales got a good lead."""
        return self.converted_qualified / self.qualified if self.qualified else None

    @property
    def recall(self) -> float | None:
        """Share of converting leads that were qualified: how many buyers the threshold caught."""
        return self.converted_qualified / self.converted if self.converted else None

    @property
    def f1(self) -> float | None:
        precision, recall = self.precision, self.recall
        if not precision or not recall:
            return None if precision is None or recall is None else 0.0
        return 2 * precision * recall / (precision + recall)

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "threshold": self.threshold,
            "converted_qualified": self.converted_qualified,
            "converted_not_qualified": self.converted_not_qualified,
            "not_converted_qualified": self.not_converted_qualified,
            "neither": self.neither,
            "qualified": self.qualified,
            "converted": self.converted,
            "precision": self.precision,
            "recall": self.recall,
        }


@dataclass(frozen=True)
class ConversionCheck:
    """How well the threshold separated converting from non-converting leads."""

    types: tuple[str, ...]  # the event types counted as conversions
    leads: int
    converted: int
    current: ThresholdCheck
    alternatives: tuple[ThresholdCheck, ...]  # nearby thresholds, lowest first (the current one excluded)
    too_few: bool  # fewer than MIN_LEADS qualified at the threshold

    def better(self) -> ThresholdCheck | None:
        """The nearby threshold with the best balance of precision and recall (F1), if it beats the current one."""
        current = self.current.f1 or 0.0
        best = max(
            self.alternatives,
            key=lambda check: (check.f1 or 0.0, -abs(check.threshold - self.current.threshold)),
            default=None,
        )
        return best if best is not None and (best.f1 or 0.0) > current else None

    def as_dict(self) -> dict[str, object]:
        return {
            "types": list(self.types),
            "leads": self.leads,
            "converted": self.converted,
            "current": self.current.as_dict(),
            "alternatives": [check.as_dict() for check in self.alternatives],
            "too_few": self.too_few,
        }


@dataclass(frozen=True)
class Calibration:
    """Everything `leadscore calibrate` prints, as plain data."""

    model_version: str
    sales_ready_score: float
    sales_ready_stage: str
    threshold: float
    threshold_from: str  # the alert it comes from, or 'sales_ready_score'
    events: int
    leads: int  # known leads (anonymous visitors not linked to one are left out)
    reached: tuple[LeadReach, ...]  # leads that became sales-ready, in the order they did
    stages: tuple[StageCalibration, ...]  # content stages, in model order
    total_average: float  # interactions per sales-ready lead, all content stages
    points_per_interaction: float | None
    too_few: bool  # fewer than MIN_LEADS leads became sales-ready
    conversion: ConversionCheck | None  # None when the file has no conversion events
    conversion_types: tuple[str, ...]  # the types asked for (or the defaults looked for)
    unknown_event_types: dict[str, int]  # type -> events: types the model does not know
    min_leads: int = MIN_LEADS

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: every figure, the derived precision and recall included."""
        return {
            "model_version": self.model_version,
            "sales_ready_score": self.sales_ready_score,
            "sales_ready_stage": self.sales_ready_stage,
            "threshold": self.threshold,
            "threshold_from": self.threshold_from,
            "events": self.events,
            "leads": self.leads,
            "min_leads": self.min_leads,
            "interactions": {
                "reached": len(self.reached),
                "too_few": self.too_few,
                "stages": [asdict(stage) for stage in self.stages],
                "total_average": self.total_average,
                "points_per_interaction": self.points_per_interaction,
                "leads": [asdict(reach) for reach in self.reached],
            },
            "conversion": self.conversion.as_dict() if self.conversion else None,
            "conversion_types": list(self.conversion_types),
            "unknown_event_types": dict(self.unknown_event_types),
        }


def lead_threshold(spec: ModelSpec) -> tuple[float, str]:
    """The score at which a lead goes to sales: the lowest lead alert threshold, else the sales-ready score."""
    thresholds = [
        (alert.threshold, name)
        for name, alert in spec.alerts.items()
        if alert.resolved_kind(name) in ("lead_score", "lead_qualified") and alert.threshold is not None
    ]
    if thresholds:
        return min(thresholds)
    return spec.sales_ready_score, "sales_ready_score"


def content_stages(model: CompiledModel) -> tuple[str, ...]:
    """Stages that have content (at least one staged rule), in model order: the ones counters count."""
    staged = {rule.stage for rule in model.rules.values() if rule.stage is not None}
    return tuple(stage for stage in model.stage_ids if stage in staged)


@dataclass
class CalibrationReplay(Simulation):
    """`Simulation` with a look after every engine call: when each lead became sales-ready, its best score, conversions."""

    threshold: float = 0.0
    conversion_types: frozenset[str] = frozenset()
    stages: tuple[str, ...] = ()
    reached: dict[str, LeadReach] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)  # best main score before converting
    converted_at: dict[str, float] = field(default_factory=dict)

    def _apply(self, state: LeadState, event: Event, count: bool = True) -> None:
        lead = state.lead
        if event.type in self.conversion_types and lead not in self.converted_at:
            self.converted_at[lead] = event.ts  # its own points (if any) come after the outcome: not counted
        super()._apply(state, event, count)
        score = main_score(self.model, state)
        if lead not in self.converted_at:
            self.peaks[lead] = max(self.peaks.get(lead, score), score)
        if lead in self.reached:
            return
        by = "stage" if state.stage == self.model.stage_ids[-1] else "score" if score >= self.threshold else None
        if by is not None:
            interactions = {stage: state.counters.get(stage, 0) for stage in self.stages}
            self.reached[lead] = LeadReach(lead, event.ts, by, score, interactions)


def _stage_rows(
    model: CompiledModel, stages: Sequence[str], reached: Sequence[LeadReach]
) -> tuple[tuple[StageCalibration, ...], float, float | None]:
    ready = model.spec.sales_ready_score
    averages = {
        stage: statistics.fmean(reach.interactions[stage] for reach in reached) if reached else 0.0 for stage in stages
    }
    total = sum(averages.values())
    per_interaction = ready / total if total > 0 else None
    rows = []
    for stage in stages:
        points = [rule.points for rule in model.rules.values() if rule.stage == stage and rule.to_main]
        current = statistics.fmean(points) if points else None
        rows.append(
            StageCalibration(
                stage=stage,
                average=averages[stage],
                median=float(statistics.median(reach.interactions[stage] for reach in reached)) if reached else 0.0,
                suggested_points=per_interaction,
                suggested_readiness=100 * per_interaction / ready if per_interaction is not None and ready else None,
                stage_share=100 * averages[stage] / total if total > 0 else None,
                current_rules=len(points),
                current_average_points=current,
                current_readiness=100 * current / ready if current is not None and ready else None,
            )
        )
    return tuple(rows), total, per_interaction


def _check(
    threshold: float, leads: Iterable[str], peaks: dict[str, float], converted: Collection[str]
) -> ThresholdCheck:
    cells = Counter((lead in converted, peaks.get(lead, float("-inf")) >= threshold) for lead in leads)
    return ThresholdCheck(threshold, cells[True, True], cells[True, False], cells[False, True], cells[False, False])


def calibrate(
    model: CompiledModel,
    events: Iterable[Event],
    conversion_types: Collection[str] | None = None,
    steps: Sequence[float] = THRESHOLD_STEPS,
) -> Calibration:
    """Replay `events` under `model` and measure it against what the leads did.

    `conversion_types`: event types that mean a lead converted; None looks for the usual CRM ones
    (DEFAULT_CONVERSION_TYPES) in the events. `steps`: nearby thresholds to try, as shares of the
    sales-ready score added to the current threshold (thresholds at or below the floor are left out).
    """
    events = list(events)
    spec = model.spec
    threshold, threshold_from = lead_threshold(spec)
    seen_types = Counter(event.type for event in events)
    wanted = tuple(conversion_types) if conversion_types else DEFAULT_CONVERSION_TYPES
    found = tuple(sorted(kind for kind in set(wanted) if seen_types[kind]))
    stages = content_stages(model)
    replay = CalibrationReplay(model, threshold=threshold, conversion_types=frozenset(found), stages=stages)
    replay.run(events)

    leads = sorted(lead for lead in replay.leads if not lead.startswith("anon:"))
    reached = tuple(
        sorted(
            (r for lead, r in replay.reached.items() if lead in replay.leads and not lead.startswith("anon:")),
            key=lambda r: (r.at, r.lead),
        )
    )
    rows, total, per_interaction = _stage_rows(model, stages, reached)

    conversion = None
    if found:
        converted = {lead for lead in replay.converted_at if lead in replay.leads and not lead.startswith("anon:")}
        current = _check(threshold, leads, replay.peaks, converted)
        nearby = sorted({round(threshold + step * spec.sales_ready_score, 6) for step in steps} - {threshold})
        alternatives = tuple(_check(t, leads, replay.peaks, converted) for t in nearby if t > model.floor)
        conversion = ConversionCheck(
            found, len(leads), len(converted), current, alternatives, current.qualified < MIN_LEADS
        )

    known = set(BUILTIN_EVENT_TYPES) | set(spec.event_types)
    unknown = {kind: count for kind, count in sorted(seen_types.items()) if kind not in known}
    return Calibration(
        model_version=model.version,
        sales_ready_score=spec.sales_ready_score,
        sales_ready_stage=model.stage_ids[-1],
        threshold=threshold,
        threshold_from=threshold_from,
        events=len(events),
        leads=len(leads),
        reached=reached,
        stages=rows,
        total_average=total,
        points_per_interaction=per_interaction,
        too_few=len(reached) < MIN_LEADS,
        conversion=conversion,
        conversion_types=tuple(sorted(set(wanted))),
        unknown_event_types=unknown,
    )
