"""What the engine remembers about one lead, as plain data that stores and reloads exactly."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

# Hard bounds that keep a lead's stored item small whatever arrives (see README, "Security and
# limits"). The item is rewritten whole on every save, so its size is the price of every event.
MAX_SEEN_IDS = 1000  # event ids remembered for exact redelivery; 12 bytes each when stored
SEEN_SLACK = 100  # forget this many more at once, so a flood sorts once per 100 events
MAX_STAGE_HISTORY = 50  # the first entry and the 49 latest
MAX_PROFILE_BYTES = 32 * 1024  # keys + JSON values; a field that would pass it is not stored
_SEEN_RECORD = 12  # 8-byte digest of the event id + 4-byte event second
# `limit: {once_per: asset}`: the values already credited, 8-byte digests, at most this many per
# rule and lead (about 1.1 KB stored). At the bound the rule gives nothing more to that lead:
# forgetting a value could score it twice, which is the one thing the limit promises not to do.
MAX_ONCE_VALUES = 100


def event_key(event_id: str) -> bytes:
    """The compact form of an event id kept for duplicate detection: 64 bits of BLAKE2b.

    A lead remembers at most MAX_SEEN_IDS ids, so a collision (about n^2 / 2^65) is about one in
    10^13 per lead even at the bound.
    """
    return hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def value_key(value: Any) -> bytes:
    """The compact form of a property value for `once_per`: 64 bits of BLAKE2b of its text, case folded.

    Text ignores case as conditions do ('WP-1' and 'wp-1' are one asset); a number is its value
    (2 and 2.0 are one); other values are their JSON text.
    """
    if isinstance(value, str):
        text = "s:" + value.strip().casefold()
    elif isinstance(value, bool):
        text = f"b:{value}"
    elif isinstance(value, int | float):
        text = f"n:{value!r}" if isinstance(value, float) and not value.is_integer() else f"n:{int(value)}"
    else:
        text = "j:" + json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def pack_keys(keys: set[bytes]) -> str:
    return base64.b64encode(b"".join(sorted(keys))).decode("ascii")


def unpack_keys(value: Any) -> set[bytes]:
    records = base64.b64decode(value or "")
    return {records[i : i + 8] for i in range(0, len(records), 8)}


def pack_seen(seen: dict[bytes, int]) -> str:
    """Remembered ids as one base64 text: 16 characters per id instead of ~50 as a JSON object."""
    records = b"".join(key + min(max(second, 0), 0xFFFFFFFF).to_bytes(4, "big") for key, second in seen.items())
    return base64.b64encode(records).decode("ascii")


def unpack_seen(value: Any) -> dict[bytes, int]:
    """The inverse of pack_seen; an older state's {event id: time} object is converted."""
    if isinstance(value, dict):
        return {event_key(str(event_id)): int(ts) for event_id, ts in value.items()}
    records = base64.b64decode(value or "")
    return {
        records[i : i + 8]: int.from_bytes(records[i + 8 : i + _SEEN_RECORD], "big")
        for i in range(0, len(records), _SEEN_RECORD)
    }


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
    """An alert that fired: its kind (see core/alerts.py), who it is about, and the event that crossed it."""

    kind: str  # lead_score, lead_qualified, nps_detractor, account_score, engaged_buyers
    subject: str  # the lead, or the account key
    score: float
    threshold: float | None
    ts: float  # event time of the crossing, not processing time
    event_id: str
    name: str = ""  # the model's name for the alert


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
    once_values: dict[str, set[bytes]] = field(default_factory=dict)  # once_per rules: value_key digests
    seen: dict[bytes, int] = field(default_factory=dict)  # event_key -> event second, late window
    seen_floor: float = 0.0  # events before this are late: their ids were forgotten (MAX_SEEN_IDS)
    gains: dict[int, float] = field(default_factory=dict)  # UTC day -> points gained (momentum)
    stage: str = ""
    stage_history: list[tuple[str, float, str]] = field(default_factory=list)  # stage, since, why
    newest_ts: float = 0.0
    pruned_day: int = 0
    last_activity: float = 0.0
    last_increase: float = 0.0
    decay_steps: int = 0  # decay steps applied since last_activity
    cold_since: float | None = None  # when the lead became cold (see mark_cold); None while it is not
    disarmed: list[str] = field(default_factory=list)  # alerts that fired and wait to re-arm
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
            once_values={rule: set(keys) for rule, keys in self.once_values.items()},
            seen=dict(self.seen),
            seen_floor=self.seen_floor,
            gains=dict(self.gains),
            stage=self.stage,
            stage_history=list(self.stage_history),
            newest_ts=self.newest_ts,
            pruned_day=self.pruned_day,
            last_activity=self.last_activity,
            last_increase=self.last_increase,
            decay_steps=self.decay_steps,
            cold_since=self.cold_since,
            disarmed=list(self.disarmed),
            account=self.account,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: integer keys become strings, tuples lists."""
        data = asdict(self)
        data["buckets"] = {r: {str(k): v for k, v in b.items()} for r, b in self.buckets.items()}
        data["gains"] = {str(k): v for k, v in self.gains.items()}
        data["stage_history"] = [list(item) for item in self.stage_history]
        data["seen"] = pack_seen(self.seen)
        data["once_values"] = {rule: pack_keys(keys) for rule, keys in self.once_values.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeadState:
        """The inverse of to_dict; fields added since a state was stored take their defaults."""
        data = dict(data)
        data["buckets"] = {r: {int(k): int(v) for k, v in b.items()} for r, b in data.get("buckets", {}).items()}
        data["gains"] = {int(k): float(v) for k, v in data.get("gains", {}).items()}
        data["stage_history"] = [tuple(item) for item in data.get("stage_history", [])]
        data["seen"] = unpack_seen(data.get("seen"))
        data["once_values"] = {rule: unpack_keys(keys) for rule, keys in data.get("once_values", {}).items()}
        if data.pop("alert_armed", True) is False:  # stored before alerts had names
            data.setdefault("disarmed", []).append("lead")
        return cls(**data)
