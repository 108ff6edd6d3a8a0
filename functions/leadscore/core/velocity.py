"""Stage velocity (seed 002): which leads enter each stage, when they move on, and why.

Three layers, all pure (no I/O, no clock: every time is passed in):

- `Transition`: one move of one lead or account between stages, derived from the engine's
  stage Change (`transitions_from_outcome`) or built for an account (`stage_transition`).
- `DayAggregate`: the transitions of one UTC day, folded into counts per (kind, stage): entered,
  left forward, left back, a time-in-stage histogram, and counts per cause. Every leaf is an
  integer count, so aggregates merge by addition (`merge(a, b)`), in any order and any grouping:
  a day may be stored as several shards and summed when read. `Snapshot` holds the counts per
  stage at the start of a day, which lists cannot give back later.
- `velocity_report`: the morning report from days and snapshots only. Its cost depends on the
  number of days and stages read (at most 60 days + 14 snapshots), never on the number of leads.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from .state import Change, Outcome

HOUR = 3600
DAY = 86400

KINDS = ("lead", "account")
DIRECTIONS = ("entry", "forward", "back")


# Time-in-stage histogram: fixed buckets (lower bound inclusive) that stay narrow where times
# are typical, so a median from them is within an hour below two days, a day below 18 weeks, a
# week below two years; each bucket also keeps the sum of its times, and the median is read from
# the mean of the bucket that holds it (exact when that bucket's times are equal, as in hand-worked
# examples). Fixed bounds make two histograms add up bucket by bucket. The last bucket is open.
def _bucket_bounds() -> tuple[tuple[str, float], ...]:
    bounds = [(f"{h}h", h * HOUR) for h in range(48)]
    bounds += [(f"{d}d", d * DAY) for d in range(2, 126)]
    bounds += [(f"{w}w", w * 7 * DAY) for w in range(18, 105)]
    return tuple(bounds)


BUCKETS: tuple[tuple[str, float], ...] = _bucket_bounds()  # (label, lower bound in seconds)
BUCKET_LABELS: tuple[str, ...] = tuple(label for label, _ in BUCKETS)
_LOWER: tuple[float, ...] = tuple(lower for _, lower in BUCKETS)
_BUCKET_INDEX = {label: index for index, label in enumerate(BUCKET_LABELS)}

TOP_CAUSES = 3
TREND_DAYS = 14


# --- transitions ---------------------------------------------------------------------------------


class Transition(NamedTuple):
    """One lead or account entering a stage: from where, when, why, and since when it was there."""

    subject: str  # the lead (email) or the account key
    kind: str  # "lead" | "account"
    at: float  # epoch seconds (UTC) of the move
    from_stage: str | None  # None for an entry
    to_stage: str
    direction: str  # "entry" (first stage of a new subject) | "forward" | "back"
    cause: str  # the rule id or event type that moved it, "decay" or "model change"
    entered_from_at: float | None  # when the subject entered from_stage; None when unknown or an entry

    @property
    def time_in_stage(self) -> int | None:
        """Whole seconds spent in from_stage (never negative: a late event may move a lead 'before' it entered)."""
        if self.from_stage is None or self.entered_from_at is None:
            return None
        return int(round(max(0.0, self.at - self.entered_from_at)))


_SCORE_DIMENSIONS = ("engagement", "fit")  # what moves the main score, hence the stage


def cause_of(changes: Iterable[Change], direction: str, event_type: str) -> str:
    """The rule that pushed hardest in the direction of the move; else the event type.

    "Hardest" is the largest delta of the main score's dimensions (engagement, fit) with the sign
    of the move, so a white paper worth 30 is named rather than an email open worth 1 from the
    same event. A move without such a change (content that only opens a gated stage) is put down
    to the event type.
    """
    sign = -1.0 if direction == "back" else 1.0
    best: Change | None = None
    for change in changes:
        if change.dimension not in _SCORE_DIMENSIONS:
            continue
        push = change.delta * sign
        if push > 0 and (best is None or push > best.delta * sign):
            best = change
    return best.rule if best is not None else (event_type or "unknown")


def transitions_from_outcome(
    lead: str, outcome: Outcome, event_type: str, stage_entered_at: float | None, *, at: float
) -> list[Transition]:
    """The stage moves of one engine outcome, as transitions of `lead` at time `at`.

    `stage_entered_at` is when the lead entered the stage it was in before this event (the last
    `stage_history` entry of the state before `apply_event`), or None when the lead is new: its
    first event is then one "entry" into the stage it lands in (a new lead that jumps straight to
    consideration never spent time in awareness). `event_type` is "decay" for `apply_decay`.
    The engine's Outcome carries no time, hence `at` (the event's timestamp, or decay's `now`).
    """
    if outcome.status != "scored":
        return []
    if stage_entered_at is None:
        return [
            Transition(
                lead,
                "lead",
                at,
                None,
                outcome.stage_after,
                "entry",
                cause_of(outcome.changes, "entry", event_type),
                None,
            )
        ]
    transitions: list[Transition] = []
    entered_at: float | None = stage_entered_at
    for index, change in enumerate(c for c in outcome.changes if c.dimension == "stage"):
        direction = "forward" if change.delta > 0 else "back"
        from_stage = str(change.before)
        cause = cause_of(outcome.changes, direction, event_type)
        if index == 0 and outcome.stage_before != from_stage:
            # the lead sat in a stage the model no longer has; the engine counts it from the first one
            from_stage, cause = outcome.stage_before, "model change"
        transitions.append(Transition(lead, "lead", at, from_stage, str(change.after), direction, cause, entered_at))
        entered_at = at
    return transitions


def stage_transition(
    subject: str,
    kind: str,
    at: float,
    from_stage: str | None,
    to_stage: str,
    entered_from_at: float | None,
    cause: str,
    stages: Sequence[str],
) -> Transition | None:
    """A transition between two stages of `stages` (for accounts, whose stage is their score's band).

    None when nothing moved; an entry when `from_stage` is None.
    """
    if from_stage == to_stage:
        return None
    if from_stage is None:
        return Transition(subject, kind, at, None, to_stage, "entry", cause, None)
    position = {stage: index for index, stage in enumerate(stages)}
    direction = "forward" if position.get(to_stage, -1) > position.get(from_stage, -1) else "back"
    return Transition(subject, kind, at, from_stage, to_stage, direction, cause, entered_from_at)


def day_of(ts: float) -> date:
    """The UTC calendar day of an epoch time."""
    return datetime.fromtimestamp(ts, UTC).date()


def day_start(day: date) -> float:
    """Epoch seconds of 00:00 UTC on `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


# --- per-day aggregates --------------------------------------------------------------------------


def bucket_index(seconds: float) -> int:
    return max(0, bisect.bisect_right(_LOWER, seconds) - 1)


def bucket_width(index: int) -> float:
    """How far a time in this bucket can be from its mean (the open last bucket: infinite)."""
    return _LOWER[index + 1] - _LOWER[index] if index + 1 < len(_LOWER) else math.inf


def estimate_median(histogram: Sequence[int], sums: Sequence[float]) -> float | None:
    """The median time: the middle leaver's (or the two middle leavers' average) bucket mean.

    Exact when the times sharing a bucket are equal; otherwise off by less than the bucket width.
    """
    total = sum(histogram)
    if total == 0:
        return None
    ranks = (total // 2, total // 2 + 1) if total % 2 == 0 else ((total + 1) // 2,)
    values = []
    for rank in ranks:
        below = 0
        for index, count in enumerate(histogram):
            if count and below + count >= rank:
                values.append(sums[index] / count)
                break
            below += count
    return sum(values) / len(values)


def _empty_histogram() -> list[int]:
    return [0] * len(BUCKETS)


def _bucket_of(label: Any, what: str) -> int:
    if label not in _BUCKET_INDEX:
        raise ValueError(f"{what}: unknown bucket {label!r}; buckets are 0h..47h, 2d..125d, 18w..104w")
    return _BUCKET_INDEX[label]


def _add_counts(target: dict[str, int], source: Mapping[str, int]) -> None:
    for key, count in source.items():
        target[key] = target.get(key, 0) + count


def _count(value: Any, what: str) -> int:
    """A stored count back as an int: DynamoDB gives Decimals; a fraction or a negative is corruption."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not a count")
    number = int(value)
    if number != value or number < 0:
        raise ValueError(f"{what}: {value!r} is not a count")
    return number


@dataclass(slots=True)
class StageStats:
    """What happened to one stage (of one kind) over some days: only sums, so it adds up."""

    entered: int = 0
    new: int = 0  # of `entered`, subjects seen for the first time
    left_forward: int = 0
    left_back: int = 0
    time_count: int = 0  # leavers with a known time in stage (histogram total)
    time_sum: int = 0  # their seconds in stage, summed: exact average
    histogram: list[int] = field(default_factory=_empty_histogram)
    bucket_seconds: list[int] = field(default_factory=_empty_histogram)  # per bucket, its times summed
    causes_in: dict[str, int] = field(default_factory=dict)
    causes_out: dict[str, int] = field(default_factory=dict)

    @property
    def left(self) -> int:
        return self.left_forward + self.left_back

    def add(self, other: StageStats) -> None:
        self.entered += other.entered
        self.new += other.new
        self.left_forward += other.left_forward
        self.left_back += other.left_back
        self.time_count += other.time_count
        self.time_sum += other.time_sum
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]
        self.bucket_seconds = [a + b for a, b in zip(self.bucket_seconds, other.bucket_seconds, strict=True)]
        _add_counts(self.causes_in, other.causes_in)
        _add_counts(self.causes_out, other.causes_out)

    def copy(self) -> StageStats:
        result = StageStats()
        result.add(self)
        return result

    def to_dict(self) -> dict[str, Any]:
        """Zeros left out: a missing count is 0, so shards still add up leaf by leaf."""
        data: dict[str, Any] = {}
        for name in ("entered", "new", "left_forward", "left_back", "time_count", "time_sum"):
            value = getattr(self, name)
            if value:
                data[name] = value
        histogram = {BUCKET_LABELS[i]: count for i, count in enumerate(self.histogram) if count}
        if histogram:
            data["histogram"] = histogram
            data["bucket_seconds"] = {
                BUCKET_LABELS[i]: n for i, n in enumerate(self.bucket_seconds) if self.histogram[i]
            }
        for name in ("causes_in", "causes_out"):
            counts = {cause: n for cause, n in sorted(getattr(self, name).items()) if n}
            if counts:
                data[name] = counts
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageStats:
        stats = cls()
        for name in ("entered", "new", "left_forward", "left_back", "time_count", "time_sum"):
            setattr(stats, name, _count(data.get(name, 0), name))
        for label, count in (data.get("histogram") or {}).items():
            stats.histogram[_bucket_of(label, "histogram")] = _count(count, f"histogram.{label}")
        for label, seconds in (data.get("bucket_seconds") or {}).items():
            stats.bucket_seconds[_bucket_of(label, "bucket_seconds")] = _count(seconds, f"bucket_seconds.{label}")
        for name in ("causes_in", "causes_out"):
            counts = {str(cause): _count(n, f"{name}.{cause}") for cause, n in (data.get(name) or {}).items()}
            setattr(stats, name, {cause: n for cause, n in counts.items() if n})
        return stats


@dataclass(eq=False)
class DayAggregate:
    """The transitions of one UTC day (or of any set of days, once merged), per kind and stage.

    The day itself is the key it is stored and looked up under, not a field: a merge of
    aggregates is always defined, and a period is the merge of its days.
    """

    stats: dict[str, dict[str, StageStats]] = field(default_factory=dict)  # kind -> stage -> stats

    def _stage(self, kind: str, stage: str) -> StageStats:
        return self.stats.setdefault(kind, {}).setdefault(stage, StageStats())

    def add(self, transition: Transition) -> None:
        """Count one transition: an entry into its new stage and, unless an entry, an exit from its old one."""
        kind = transition.kind
        into = self._stage(kind, transition.to_stage)
        into.entered += 1
        into.causes_in[transition.cause] = into.causes_in.get(transition.cause, 0) + 1
        if transition.direction == "entry" or transition.from_stage is None:
            into.new += 1
            return
        out = self._stage(kind, transition.from_stage)
        if transition.direction == "forward":
            out.left_forward += 1
        else:
            out.left_back += 1
        out.causes_out[transition.cause] = out.causes_out.get(transition.cause, 0) + 1
        seconds = transition.time_in_stage
        if seconds is not None:
            out.time_count += 1
            out.time_sum += seconds
            out.histogram[bucket_index(seconds)] += 1
            out.bucket_seconds[bucket_index(seconds)] += seconds

    def get(self, kind: str, stage: str) -> StageStats:
        """The stats of one stage; empty (all zeros) when nothing happened there."""
        found = self.stats.get(kind, {}).get(stage)
        return found.copy() if found is not None else StageStats()

    def stages(self, kind: str) -> list[str]:
        return list(self.stats.get(kind, {}))

    def merge(self, other: DayAggregate) -> DayAggregate:
        """A new aggregate: the sum of both (neither input changes)."""
        result = DayAggregate()
        for source in (self, other):
            for kind, stages in source.stats.items():
                for stage, stats in stages.items():
                    result._stage(kind, stage).add(stats)
        return result

    __add__ = merge

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe and DynamoDB-safe (integers only), e.g.

        {"lead": {"consideration": {"entered": 3, "new": 1, "left_forward": 1, "time_count": 1,
         "time_sum": 93600, "histogram": {"26h": 1}, "bucket_seconds": {"26h": 93600}, "causes_in": {"whitepaper-download": 2,
         "page_view": 1}, "causes_out": {"pricing-page": 1}}}, "account": {...}}

        Every leaf is a count and a missing leaf is 0, so the dict of merge(a, b) is the two
        dicts added leaf by leaf (`add_dicts`).
        """
        data: dict[str, Any] = {}
        for kind in sorted(self.stats):
            stages = {stage: stats.to_dict() for stage, stats in sorted(self.stats[kind].items())}
            stages = {stage: values for stage, values in stages.items() if values}
            if stages:
                data[kind] = stages
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DayAggregate:
        result = cls()
        for kind, stages in data.items():
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
            for stage, values in stages.items():
                result._stage(kind, str(stage)).add(StageStats.from_dict(values))
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DayAggregate) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def merge(a: DayAggregate, b: DayAggregate) -> DayAggregate:
    """Two shards of a day (or two days of a period) as one aggregate."""
    return a.merge(b)


def merge_all(aggregates: Iterable[DayAggregate]) -> DayAggregate:
    result = DayAggregate()
    for aggregate in aggregates:
        result = result.merge(aggregate)
    return result


def add_dicts(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two stored shards added leaf by leaf, without building aggregates (missing = 0)."""
    result: dict[str, Any] = {}
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if isinstance(left, Mapping) or isinstance(right, Mapping):
            result[key] = add_dicts(left or {}, right or {})
        else:
            result[key] = (left or 0) + (right or 0)
    return result


def aggregate_days(transitions: Iterable[Transition]) -> dict[date, DayAggregate]:
    """Transitions folded per UTC day of their time."""
    days: dict[date, DayAggregate] = {}
    for transition in transitions:
        day = day_of(transition.at)
        aggregate = days.get(day)
        if aggregate is None:
            aggregate = days[day] = DayAggregate()
        aggregate.add(transition)
    return days


# --- daily snapshots -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """How many leads and accounts were in each stage, and how many leads were cold, at 00:00 UTC of its day."""

    leads: dict[str, int] = field(default_factory=dict)  # stage -> leads
    accounts: dict[str, int] = field(default_factory=dict)  # stage -> accounts
    cold: dict[str, int] = field(default_factory=dict)  # stage -> cold leads

    @property
    def leads_total(self) -> int:
        return sum(self.leads.values())

    @property
    def accounts_total(self) -> int:
        return sum(self.accounts.values())

    @property
    def cold_total(self) -> int:
        return sum(self.cold.values())

    def merge(self, other: Snapshot) -> Snapshot:
        """Counts of two disjoint sets of leads (e.g. two shards of a daily count) added up."""
        added = add_dicts(self.to_dict(), other.to_dict())
        return Snapshot.from_dict(added)

    def to_dict(self) -> dict[str, Any]:
        return {
            name: {stage: n for stage, n in sorted(getattr(self, name).items()) if n}
            for name in ("leads", "accounts", "cold")
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        def counts(name: str) -> dict[str, int]:
            return {str(stage): _count(n, f"{name}.{stage}") for stage, n in (data.get(name) or {}).items()}

        return cls(leads=counts("leads"), accounts=counts("accounts"), cold=counts("cold"))


# --- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The days a figure covers (inclusive) and the period of the same length just before."""

    key: str  # "1d" | "7d" | "30d"
    label: str  # "Yesterday" | "Last 7 days" | "Last 30 days"
    days: int
    start: date
    end: date
    previous_start: date
    previous_end: date


def periods_for(today: date) -> tuple[Period, ...]:
    """Yesterday, the last 7 and the last 30 complete days before `today`, each with the one before it."""
    result = []
    for key, label, length in (("1d", "Yesterday", 1), ("7d", "Last 7 days", 7), ("30d", "Last 30 days", 30)):
        end = today - timedelta(days=1)
        start = today - timedelta(days=length)
        result.append(Period(key, label, length, start, end, start - timedelta(days=length), start - timedelta(days=1)))
    return tuple(result)


@dataclass(frozen=True)
class Figures:
    """One stage (or all of them), one kind, one period."""

    entered: int
    new: int  # of entered: first seen
    moved_on: int  # left forward
    fell_back: int  # left back
    conversion: float | None  # of those who left, the share that left forward (0..1); None if none left
    avg_seconds: float | None  # exact: sum / count of times in stage of those who left
    median_seconds: float | None  # from the histogram: within one bucket's width of the true median
    timed: int  # leavers whose time in stage is known
    causes_in: tuple[tuple[str, int], ...]  # top causes, most first
    causes_out: tuple[tuple[str, int], ...]

    @property
    def left(self) -> int:
        return self.moved_on + self.fell_back

    @classmethod
    def of(cls, stats: StageStats) -> Figures:
        left = stats.left_forward + stats.left_back
        return cls(
            entered=stats.entered,
            new=stats.new,
            moved_on=stats.left_forward,
            fell_back=stats.left_back,
            conversion=stats.left_forward / left if left else None,
            avg_seconds=stats.time_sum / stats.time_count if stats.time_count else None,
            median_seconds=estimate_median(stats.histogram, stats.bucket_seconds),
            timed=stats.time_count,
            causes_in=top_causes(stats.causes_in),
            causes_out=top_causes(stats.causes_out),
        )


def top_causes(counts: Mapping[str, int], limit: int = TOP_CAUSES) -> tuple[tuple[str, int], ...]:
    ranked = sorted(((cause, n) for cause, n in counts.items() if n), key=lambda item: (-item[1], item[0]))
    return tuple(ranked[:limit])


def change_pct(current: float | None, previous: float | None) -> float | None:
    """The change in percent; None when there is nothing to compare with (previous 0 or unknown)."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous * 100.0


@dataclass(frozen=True)
class Comparison:
    period: Period
    current: Figures
    previous: Figures

    @property
    def entered_change_pct(self) -> float | None:
        return change_pct(self.current.entered, self.previous.entered)


@dataclass(frozen=True)
class StageReport:
    """One stage of one kind: the three periods, today's count and share, and the recent trend."""

    stage: str
    kind: str
    periods: tuple[Comparison, ...]
    count_today: int  # from the latest snapshot
    share_today: float | None  # of all leads (accounts) today, 0..1; None when there are none
    cold_today: int  # cold leads in this stage (0 for accounts)
    trend: tuple[tuple[date, int | None], ...]  # snapshot count per day, the 14 days up to today
    entered_daily: tuple[tuple[date, int], ...]  # entered per day, the 14 complete days before today

    def period(self, key: str) -> Comparison:
        return next(comparison for comparison in self.periods if comparison.period.key == key)


@dataclass(frozen=True)
class VelocityReport:
    today: date
    stages: tuple[str, ...]  # the model's stages, lowest first (then any other stage found in the data)
    periods: tuple[Period, ...]
    leads: tuple[StageReport, ...]
    accounts: tuple[StageReport, ...]
    lead_totals: tuple[Comparison, ...]  # all stages together: `new` is the number of new leads
    account_totals: tuple[Comparison, ...]
    snapshot_day: date | None  # the snapshot "today" figures come from; None when there is none
    leads_today: int
    accounts_today: int
    cold_today: int
    cold_trend: tuple[tuple[date, int | None], ...]

    def stage(self, kind: str, stage: str) -> StageReport:
        rows = self.leads if kind == "lead" else self.accounts
        return next(row for row in rows if row.stage == stage)

    def totals(self, kind: str, key: str) -> Comparison:
        rows = self.lead_totals if kind == "lead" else self.account_totals
        return next(comparison for comparison in rows if comparison.period.key == key)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def velocity_report(
    days: Mapping[date, DayAggregate],
    snapshots: Mapping[date, Snapshot],
    today: date,
    stages: Sequence[str],
) -> VelocityReport:
    """The report sent on the morning of `today`: reads at most 60 day aggregates and 14 snapshots."""
    periods = periods_for(today)
    earliest = min(period.previous_start for period in periods)
    window = {day: days[day] for day in _days(earliest, today - timedelta(days=1)) if day in days}
    latest_day = max((day for day in snapshots if day <= today), default=None)
    latest = snapshots[latest_day] if latest_day is not None else Snapshot()
    trend_days = _days(today - timedelta(days=TREND_DAYS - 1), today)
    entered_days = _days(today - timedelta(days=TREND_DAYS), today - timedelta(days=1))

    known = list(dict.fromkeys(stages))
    seen = {stage for aggregate in window.values() for kind in KINDS for stage in aggregate.stages(kind)}
    seen |= set(latest.leads) | set(latest.accounts)
    all_stages = tuple(known + sorted(seen - set(known)))

    def period_stats(kind: str, stage: str | None, start: date, end: date) -> StageStats:
        total = StageStats()
        for day in _days(start, end):
            aggregate = window.get(day)
            if aggregate is None:
                continue
            for name in [stage] if stage is not None else aggregate.stages(kind):
                total.add(aggregate.get(kind, name))
        return total

    def comparisons(kind: str, stage: str | None) -> tuple[Comparison, ...]:
        return tuple(
            Comparison(
                period,
                Figures.of(period_stats(kind, stage, period.start, period.end)),
                Figures.of(period_stats(kind, stage, period.previous_start, period.previous_end)),
            )
            for period in periods
        )

    def rows(kind: str) -> tuple[StageReport, ...]:
        counts = latest.leads if kind == "lead" else latest.accounts
        total = sum(counts.values())
        result = []
        for stage in all_stages:
            trend = []
            for day in trend_days:
                snapshot = snapshots.get(day)
                held = None if snapshot is None else (snapshot.leads if kind == "lead" else snapshot.accounts)
                trend.append((day, None if held is None else held.get(stage, 0)))
            entered = [(day, window[day].get(kind, stage).entered if day in window else 0) for day in entered_days]
            result.append(
                StageReport(
                    stage=stage,
                    kind=kind,
                    periods=comparisons(kind, stage),
                    count_today=counts.get(stage, 0),
                    share_today=counts.get(stage, 0) / total if total else None,
                    cold_today=latest.cold.get(stage, 0) if kind == "lead" else 0,
                    trend=tuple(trend),
                    entered_daily=tuple(entered),
                )
            )
        return tuple(result)

    cold_trend = tuple((day, snapshots[day].cold_total if day in snapshots else None) for day in trend_days)
    return VelocityReport(
        today=today,
        stages=all_stages,
        periods=periods,
        leads=rows("lead"),
        accounts=rows("account"),
        lead_totals=comparisons("lead", None),
        account_totals=comparisons("account", None),
        snapshot_day=latest_day,
        leads_today=latest.leads_total,
        accounts_today=latest.accounts_total,
        cold_today=latest.cold_total,
        cold_trend=cold_trend,
    )


# --- what one save adds, and the daily roll-up (the deployed path) --------------------------------


def save_deltas(
    transitions: Iterable[Transition],
    cold_moves: Iterable[tuple[float, str, int]] = (),
    account_exits: Iterable[tuple[float, str]] = (),
) -> dict[date, dict[str, Any]]:
    """Per UTC day, what one save adds to the day's figures: its transitions as a day aggregate,
    and the change in leads, cold leads and accounts per stage (an account whose last member left
    leaves its stage's count without a transition). Stored as one small item per save and day,
    they add up (add_dicts) into the day's aggregate and the next morning's snapshot."""
    days: dict[date, dict[str, Any]] = {}

    def day(at: float) -> dict[str, Any]:
        return days.setdefault(day_of(at), {"aggregate": DayAggregate(), "leads": {}, "accounts": {}, "cold": {}})

    def count(counts: dict[str, int], stage: str, change: int) -> None:
        counts[stage] = counts.get(stage, 0) + change

    for transition in transitions:
        entry = day(transition.at)
        entry["aggregate"].add(transition)
        counts = entry["leads" if transition.kind == "lead" else "accounts"]
        if transition.from_stage is not None:
            count(counts, transition.from_stage, -1)
        count(counts, transition.to_stage, 1)
    for at, stage, change in cold_moves:
        count(day(at)["cold"], stage, change)
    for at, stage in account_exits:
        count(day(at)["accounts"], stage, -1)
    deltas: dict[date, dict[str, Any]] = {}
    for when, entry in days.items():
        delta: dict[str, Any] = {"aggregate": entry["aggregate"].to_dict()}
        for name in ("leads", "accounts", "cold"):
            changed = {stage: n for stage, n in entry[name].items() if n}
            if changed or name != "accounts":  # a lead's save keeps its earlier shape
                delta[name] = changed
        deltas[when] = delta
    return deltas


def roll_up(previous: Snapshot, deltas: Iterable[Mapping[str, Any]]) -> tuple[DayAggregate, Snapshot]:
    """A day's aggregate from its saves' deltas, and the snapshot at the next midnight: the one
    before plus the day's changes (counts cannot be reconstructed later, so they are carried)."""
    aggregate = DayAggregate()
    counts = {"leads": dict(previous.leads), "accounts": dict(previous.accounts), "cold": dict(previous.cold)}
    for delta in deltas:
        aggregate = aggregate.merge(DayAggregate.from_dict(delta.get("aggregate") or {}))
        for name in ("leads", "accounts", "cold"):
            for stage, change in (delta.get(name) or {}).items():
                counts[name][stage] = counts[name].get(stage, 0) + int(change)
    return aggregate, Snapshot.from_dict({name: {s: n for s, n in c.items() if n > 0} for name, c in counts.items()})
