"""What the engine remembers about one lead, as plain data that stores and reloads exactly."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple


class Event(NamedTuple):
    """One behaviour or profile event, already parsed: `ts` is seconds since the epoch (UTC)."""

    id: str
    type: str
    lead: str
    ts: float
    properties: dict[str, Any]
    profile: dict[str, Any] | None = None


class Change(NamedTuple):
    """One move of one score, with the rule that made it and why: the history's unit."""

    event_id: str
    rule: str
    dimension: str  # 'engagement', 'fit', an extra score's name, or 'stage'
    delta: float
    before: Any
    after: Any
    why: str


class Alert(NamedTuple):
    kind: str  # 'lead' or 'account'
    subject: str
    score: float
    threshold: float
    ts: float
    event_id: str


class Skip(NamedTuple):
    """A rule that matched but gave nothing, and why (limit, cap): for explanations, not history."""

    rule: str
    reason: str


class Outcome(NamedTuple):
    status: str  # 'scored', 'duplicate', 'late'
    changes: list[Change]
    score_before: float
    score_after: float
    stage_before: str
    stage_after: str
    alerts: list[Alert]
    skipped: list[Skip]


@dataclass(slots=True)
class LeadState:
    lead: str
    profile: dict[str, Any] = field(default_factory=dict)
    fit_rules: dict[str, float] = field(default_factory=dict)  # matching fit rules -> points
    engagement: float = 0.0
    extras: dict[str, float] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    rule_points: dict[str, float] = field(default_factory=dict)  # behaviour rule -> points given
    rule_fires: dict[str, int] = field(default_factory=dict)  # behaviour rule -> times credited
    group_points: dict[str, float] = field(default_factory=dict)  # group -> points given (its rules' sum)
    buckets: dict[str, dict[int, int]] = field(default_factory=dict)  # rule -> period -> credits
    fire_times: dict[str, list[float]] = field(default_factory=dict)  # cooldown rules only
    seen: dict[str, float] = field(default_factory=dict)  # event id -> event time, late window
    gains: dict[int, float] = field(default_factory=dict)  # UTC day -> points gained (momentum)
    stage: str = ""
    stage_history: list[tuple[str, float, str]] = field(default_factory=list)  # stage, since, why
    newest_ts: float = 0.0
    pruned_day: int = 0
    last_activity: float = 0.0
    last_increase: float = 0.0
    decay_steps: int = 0  # decay steps applied since last_activity
    alert_armed: bool = True
    account: str | None = None

    def clone(self) -> LeadState:
        """A copy sharing nothing mutable; field by field, as deepcopy is ten times slower."""
        return LeadState(
            lead=self.lead,
            profile=copy.deepcopy(self.profile),
            fit_rules=dict(self.fit_rules),
            engagement=self.engagement,
            extras=dict(self.extras),
            counters=dict(self.counters),
            rule_points=dict(self.rule_points),
            rule_fires=dict(self.rule_fires),
            group_points=dict(self.group_points),
            buckets={rule: dict(counts) for rule, counts in self.buckets.items()},
            fire_times={rule: list(times) for rule, times in self.fire_times.items()},
            seen=dict(self.seen),
            gains=dict(self.gains),
            stage=self.stage,
            stage_history=list(self.stage_history),
            newest_ts=self.newest_ts,
            pruned_day=self.pruned_day,
            last_activity=self.last_activity,
            last_increase=self.last_increase,
            decay_steps=self.decay_steps,
            alert_armed=self.alert_armed,
            account=self.account,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: integer keys become strings, tuples lists."""
        data = asdict(self)
        data["buckets"] = {r: {str(k): v for k, v in b.items()} for r, b in self.buckets.items()}
        data["gains"] = {str(k): v for k, v in self.gains.items()}
        data["stage_history"] = [list(item) for item in self.stage_history]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeadState:
        data = dict(data)
        data["buckets"] = {r: {int(k): int(v) for k, v in b.items()} for r, b in data.get("buckets", {}).items()}
        data["gains"] = {int(k): float(v) for k, v in data.get("gains", {}).items()}
        data["stage_history"] = [tuple(item) for item in data.get("stage_history", [])]
        return cls(**data)
