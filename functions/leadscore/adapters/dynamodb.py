"""DynamoDB storage: PynamoDB models and the small repository the scoring service uses.

Nothing above this module touches boto3 or PynamoDB; their errors are translated here into
`VersionConflict` (someone else saved the lead first: reload and retry) and
`RetryableStorageError` (throttling, timeouts: let SQS redeliver).

Per lead and per batch, a save is one atomic write: the lead's item (conditional on its version)
with the batch's history (every scored event, with its changes) and event log (every accepted
event as received) waiting in it, `pending`, until they fill it to about 2 KB; then, or when the
save writes other items anyway (the account membership, aliases), one transaction writes
them all, the waiting history and log as one history item and one event-log item. Nothing is
half-written when a Lambda dies mid-way, and a save that touches only the lead
costs one PutItem of at most 2 write units instead of a transaction of three items (6 units).
Readers merge what is waiting with what was written, so history and log read the same either way.

Some writes follow the lead's instead of joining it: a small account's copy of its member's moved
score (`_sync`), an idempotent update conditional on the lead's version, and a stage move's
velocity figures and the alerts it fired (`_put_new`), keyed by the lead's version and the
alert's event. When a Lambda dies between them, the redelivered batch (its events then
duplicates) writes what is missing (`sync_member`, `send_follow_ups`, from what the lead item
keeps until its next save); a later save of the lead writes them first, and into a spilled
account first sets its member item right.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import BINARY, STRING
from pynamodb.exceptions import AttributeDeserializationError, PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import size
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from ..core.events import format_timestamp
from ..core.state import Change, LeadState
from ..settings import Settings
from .packing import pack, unpack, write_with


class StorageError(Exception):
    pass


class VersionConflict(StorageError):
    """The lead changed since it was read: reload it and apply the events again."""


class TransactionConflict(VersionConflict):
    """Another transaction held one of the items (an account summary two members save at once):
    nothing was written; reading again and retrying is safe."""


class RetryableStorageError(StorageError):
    """Throttling or a transient failure: the messages should be redelivered later."""


def pack_state(state: LeadState) -> bytes:
    """A lead's state as stored: compact JSON, compressed (`packing`: zlib with a preset dictionary).
    About a third of the size, so a lived-in lead's item stays near 1 KB: one write unit, which a
    transaction doubles, instead of two or three."""
    return pack(json.dumps(state.to_dict(), separators=(",", ":")).encode())


def unpack_state(stored: bytes) -> dict[str, Any]:
    """The stored state back as a dict (LeadState.from_dict takes it); for tools that read items raw too."""
    return json.loads(unpack(stored))


class PackedJSONAttribute(Attribute[str]):
    """A JSON text stored compressed as binary (`packing`). History and event-log bodies repeat
    their keys and the event's own fields, so they shrink 3-5x: a batch's items fit in one or two
    write units instead of four or five, each billed twice inside the save's transaction. Items
    written earlier as plain text, or compressed without the preset dictionary, are still read."""

    attr_type = BINARY

    def serialize(self, value: str) -> bytes:
        return pack(value.encode("utf-8"))

    def get_value(self, value: dict[str, Any]) -> Any:
        if BINARY in value:
            return value[BINARY]
        if STRING in value:
            return value[STRING]
        raise AttributeDeserializationError(self.attr_name, self.attr_type)

    def deserialize(self, value: bytes | str) -> str:
        return value if isinstance(value, str) else unpack(value).decode("utf-8")


def packed_json(value: dict[str, Any]) -> str:
    """A PackedJSONAttribute's text from a raw item's attribute value ({"B": ...} or {"S": ...})."""
    attribute = PackedJSONAttribute()
    return attribute.deserialize(attribute.get_value(value))


class LeadItem(Model):
    """A lead's scoring state, or (for an anonymous id once identified) an alias to the lead."""

    class Meta:
        table_name = "leads"

    lead = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(default=0)
    state = BinaryAttribute(null=True, legacy_encoding=False)  # LeadState.to_dict(): compressed JSON (pack_state)
    merged_into = UnicodeAttribute(null=True)
    score = NumberAttribute(null=True)
    stage = UnicodeAttribute(null=True)
    account = UnicodeAttribute(null=True)
    model_version = UnicodeAttribute(null=True)
    updated_at = NumberAttribute(null=True)
    # The next time the schedule has something to do for this lead (a decay step, turning cold),
    # indexed by DueIndex; absent when nothing is due, so the index holds only leads that matter.
    due_shard = UnicodeAttribute(null=True)  # due#00..due#15: spreads the index over partitions
    due_at = NumberAttribute(null=True)
    # History and event-log records of the latest saves, not yet written as their own items (JSON:
    # {"history": [{sk, version, model_version, recorded_at, entries}], "log": [{sk, received_at, entries}]})
    pending = PackedJSONAttribute(null=True)
    # What this version's save writes after the lead, its velocity figures and alerts (JSON:
    # {"figures": {day: delta}, "alerts": [AlertRecord]}): kept until the next save, which writes
    # them first if the Lambda died before it did (`send_follow_ups`)
    follow_ups = PackedJSONAttribute(null=True)


DUE_SHARDS = 16


def due_shard(lead: str) -> str:
    return f"due#{int(hashlib.sha256(lead.encode()).hexdigest()[:8], 16) % DUE_SHARDS:02d}"


class HistoryItem(Model):
    """Why the scores moved: one item per save, listing each scored event and its changes."""

    class Meta:
        table_name = "history"

    lead = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # <first event time>#<lead version>
    version = NumberAttribute()
    events = PackedJSONAttribute()  # JSON: [{event_id, event_type, at, score/stage before+after, changes, alerts}]
    model_version = UnicodeAttribute()
    recorded_at = NumberAttribute()
    expires_at = NumberAttribute(null=True)


class EventLogItem(Model):
    """Every accepted event as received, so a later model can be replayed over real history."""

    class Meta:
        table_name = "event-log"

    lead = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # <first event time>#<lead version>
    events = PackedJSONAttribute()  # JSON: [{id, type, at, payload (as received), event (project format)}]
    received_at = NumberAttribute()
    expires_at = NumberAttribute(null=True)


class AccountItem(Model):
    """An account's summary: its members' count, the alerts waiting to re-arm and the stage, and
    its members' scores.

    A small account (up to INLINE_MEMBERS members, most of them) keeps its members' scores in the
    summary itself (`inline`): a member whose score moves writes it there after its lead's save,
    one small UpdateItem ordered by the lead's version (`inline_versions`), and reading the account
    is one GetItem. Joining and leaving change the count, so they are in the lead's transaction.
    The member joining past that first spills them, in their own transaction, into one item per
    member plus the scores' sum (`total`); the ByScore index then gives the best members a few at
    a time, so reading or saving an account costs the same for 50 members or 10,000. A summary without `inline` (every account written before inline
    members existed, or while `Settings.account_members` is "items") is a spilled one."""

    class Meta:
        table_name = "accounts"

    account = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # member#<lead> or #summary
    lead = UnicodeAttribute(null=True)
    member_score = NumberAttribute(null=True)  # a member's main score (the ByScore index's range key)
    score = NumberAttribute(null=True)  # summary: the account score when an alert last flipped
    total = NumberAttribute(null=True)  # summary: the members' scores summed
    members = NumberAttribute(null=True)  # summary: how many members
    armed = BooleanAttribute(null=True)  # before alerts had names: False meant `account` had fired
    disarmed = UnicodeSetAttribute(null=True)  # account alerts that fired and wait to re-arm
    stage = UnicodeAttribute(null=True)  # summary: the stage of the account score's band, for velocity
    stage_since = NumberAttribute(null=True)
    updated_at = NumberAttribute(null=True)
    inline = MapAttribute(null=True)  # summary of a small account: member_key(lead) -> its main score
    inline_version = NumberAttribute(null=True)  # summary: counts inline changes (a spill is conditional on it)
    # summary of a small account: member_key(lead) -> the lead version its inline score is from, so a
    # member's score written after its lead's save (`sync_member`) never puts an older one back
    inline_versions = MapAttribute(null=True)


# A spill writes this many member items and the summary in one transaction: at most 10 items,
# DynamoDB's first limit and DynamoDB Local's (the service now takes 100).
INLINE_MEMBERS = 8
SYNC_ATTEMPTS = 8  # reads and writes of a member's score before letting SQS redeliver


def member_key(lead: str) -> str:
    """A lead id as a key of the summary's `inline` map: brackets would read as a list index in a
    document path, so they (and the escape character) are escaped."""
    return lead.replace("%", "%25").replace("[", "%5B").replace("]", "%5D")


def member_lead(key: str) -> str:
    return key.replace("%5D", "]").replace("%5B", "[").replace("%25", "%")


def inline_scores(summary: AccountItem) -> dict[str, float] | None:
    """A small account's members (lead -> main score) from its summary; None for a spilled one."""
    if summary.inline is None:
        return None
    return {member_lead(key): float(score) for key, score in summary.inline.as_dict().items()}


class AlertItem(Model):
    """One alert to deliver (the outbox): written right after the lead's save that caused it (or in
    the account summary's flip transaction), once, conditional on its id being new; a save whose
    Lambda died before writing it is followed by one that does (`send_follow_ups`). Its stream
    feeds the notifier."""

    class Meta:
        table_name = "alerts"

    alert_id = UnicodeAttribute(hash_key=True)  # <alert name>#<subject>#<event id>: once per cause
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    subject = UnicodeAttribute()
    subject_type = UnicodeAttribute()  # lead | account
    score = NumberAttribute()
    threshold = NumberAttribute(null=True)
    event_id = UnicodeAttribute()
    occurred_at = NumberAttribute()  # the event's time, not the processing time
    account = UnicodeAttribute(null=True)
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    route_note = UnicodeAttribute(null=True)  # why the default recipients were used
    model_version = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")  # pending | sending | sent | failed | suppressed (never sent)
    attempts = NumberAttribute(default=0)
    lease_until = NumberAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    published_event_id = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    sent_at = NumberAttribute(null=True)


class MetricsItem(Model):
    """The velocity figures: what each save added to a day (`velocity#<day>#<shard>`, one item per
    save), and the daily roll-ups (`aggregate`, `snapshot`, `report` partitions, by day)."""

    class Meta:
        table_name = "metrics"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = UnicodeAttribute()  # JSON
    status = UnicodeAttribute(null=True)  # report items: sending | sent
    lease_until = NumberAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    created_at = NumberAttribute(null=True)


METRIC_SHARDS = 16  # spreads a busy day's writes over partitions: about 16 x 1,000 writes/s


def metric_shard(lead: str) -> int:
    return int(hashlib.sha256(lead.encode()).hexdigest()[8:16], 16) % METRIC_SHARDS


SUMMARY = "#summary"
_MODELS: dict[str, type[Model]] = {
    "leads_table": LeadItem,
    "history_table": HistoryItem,
    "event_log_table": EventLogItem,
    "accounts_table": AccountItem,
    "alerts_table": AlertItem,
    "metrics_table": MetricsItem,
}


def bind(settings: Settings) -> None:
    """Point the models at the deployed tables (names come from the template's outputs), and
    write stored JSON in the configured format."""
    write_with(settings.stored_json_dictionary)
    for setting, model in _MODELS.items():
        model.Meta.table_name = getattr(settings, setting) or model.Meta.table_name
        model.Meta.host = settings.dynamodb_endpoint
        model.Meta.region = settings.region
        model._connection = None  # rebuilt lazily with the new table name and endpoint


def sort_key(ts: float, version: int) -> str:
    return f"{format_timestamp(ts)}#{version:010d}"


# A lead item holding its waiting history and log up to this size costs 2 write units a save;
# past it they are written out (see the module's docstring).
LEAD_ITEM_BUDGET = 2048
NO_PENDING: dict[str, list[dict[str, Any]]] = {"history": [], "log": []}


def unpack_pending(text: str | None) -> dict[str, list[dict[str, Any]]]:
    if not text:
        return {"history": [], "log": []}
    pending: dict[str, list[dict[str, Any]]] = json.loads(text)
    return {"history": list(pending.get("history", [])), "log": list(pending.get("log", []))}


def item_size(item: Model) -> int:
    """The item's size as DynamoDB bills it: names and values (a number counted at its longest)."""
    size = 0
    for name, value in item.serialize().items():
        kind, raw = next(iter(value.items()))
        size += len(name.encode())
        if kind == BINARY:
            size += len(raw)
        elif kind == STRING:
            size += len(raw.encode())
        elif kind == "N":
            size += len(raw) + 1
        else:
            size += len(json.dumps(raw, default=str))
    return size


def _read(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as readers get it, without the save time an item written out keeps for each."""
    entry.pop("recorded_at", None)
    entry.pop("received_at", None)
    return entry


def _merged(
    written: Iterable[tuple[str, list[dict[str, Any]]]],
    waiting: list[tuple[str, list[dict[str, Any]]]],
    enough: int | None,
    version: int,
) -> list[list[dict[str, Any]]] | None:
    """(sk, entries) blocks newest first: the items read (newest first) and the records waiting in
    the lead item at `version`, in sort-key order, reading items until `enough` entries are found.
    None if an item read was written out after that version (the waiting records read are stale)."""
    blocks, found, lowest, stopped = [], 0, None, False
    for sk, entries in written:
        if int(sk.rsplit("#", 1)[1]) > version:
            return None
        blocks.append((sk, entries))
        found += len(entries)
        lowest = sk
        if enough is not None and found >= enough:
            stopped = True
            break
    # a waiting record older than the last item read could come after items not read: left out
    blocks += [(sk, entries) for sk, entries in waiting if not stopped or lowest is None or sk >= lowest]
    return [entries for _, entries in sorted(blocks, key=lambda block: block[0], reverse=True)]


@dataclass
class StoredLead:
    state: LeadState | None
    version: int
    merged_into: str | None = None
    score: float | None = None  # the main score last saved (its account membership holds the same)
    model_version: str | None = None  # the model its state was built under (a rescore replays it when it differs)
    pending: str | None = None  # history and log waiting in the lead item (LeadItem.pending): kept by the next save
    due_at: float | None = None  # what the DueIndex holds for it (a lower bound of its next due time)
    follow_ups: str | None = None  # the figures and alerts its save writes after the lead (LeadItem.follow_ups)


@dataclass
class LoggedEvent:
    """An accepted event to store in the event log, exactly as received."""

    lead: str
    event_id: str
    event_type: str
    ts: float
    payload: dict[str, Any]  # as received
    event: dict[str, Any]  # normalised (leadscore.core.events.event_to_json)


@dataclass
class ScoredEvent:
    lead: str
    event_id: str
    event_type: str
    ts: float
    changes: list[Change]
    alerts: list[dict[str, Any]]
    score_before: float
    score_after: float
    stage_before: str
    stage_after: str
    note: dict[str, Any] = field(default_factory=dict)  # e.g. a model change's two versions: added to the entry


@dataclass(frozen=True)
class AlertRecord:
    """An alert to store in the outbox (see AlertItem)."""

    name: str
    kind: str
    subject: str
    subject_type: str
    score: float
    threshold: float | None
    event_id: str
    occurred_at: float
    account: str | None
    recipients: list[str]
    route_note: str | None
    model_version: str
    status: str = "pending"  # "suppressed": a crossing a model change caused, recorded and never emailed

    @property
    def alert_id(self) -> str:
        return f"{self.name}#{self.subject}#{self.event_id}"

    def item(self, now: float) -> AlertItem:
        return AlertItem(
            self.alert_id,
            name=self.name,
            kind=self.kind,
            subject=self.subject,
            subject_type=self.subject_type,
            score=self.score,
            threshold=self.threshold,
            event_id=self.event_id,
            occurred_at=self.occurred_at,
            account=self.account,
            recipients=list(self.recipients),
            route_note=self.route_note,
            model_version=self.model_version,
            status=self.status,
            attempts=0,
            created_at=now,
        )


@dataclass
class AccountView:
    members: dict[str, float]  # its best members (as many as asked for) -> their scores
    disarmed: set[str]  # account alerts that fired and wait to re-arm
    stage: str | None  # the stage the velocity figures last counted it in; None: not counted
    stage_since: float | None
    count: int = 0  # how many members it has
    total: float = 0.0  # their scores summed
    inline: dict[str, float] | None = None  # a small account: every member -> score (None: spilled)


@dataclass
class LeadCommit:
    """Everything one lead's batch changes: one atomic write (a PutItem or a transaction), and the
    idempotent writes that follow it (see `LeadRepository.commit`)."""

    state: LeadState
    expected_version: int  # 0: the lead must not exist yet
    score: float
    model_version: str
    scored: list[ScoredEvent] = field(default_factory=list)
    logged: list[LoggedEvent] = field(default_factory=list)
    previous_account: str | None = None
    aliases: list[tuple[str, int]] = field(default_factory=list)  # (anonymous lead, its version)
    alerts: list[AlertRecord] = field(default_factory=list)  # written right after the lead (a rescore's: with it)
    previous_score: float | None = None  # the score its account membership was last saved with
    due_at: float | None = None  # when the schedule should wake this lead (DueIndex): at or before its next due time
    day_figures: dict[Any, dict[str, Any]] = field(default_factory=dict)  # day -> velocity delta
    pending: str | None = None  # StoredLead.pending of the version expected
    alias_pending: dict[str, str] = field(default_factory=dict)  # anonymous lead -> its StoredLead.pending
    # a small account's member whose score moved, the velocity figures and the alerts: written after
    # the lead (False: in its transaction, for callers whose work nothing delivers again if it dies
    # between the writes)
    member_after_lead: bool = True
    follow_ups: str | None = None  # StoredLead.follow_ups of the version expected: written first if missing


_NEW_FIGURE = MetricsItem.sk.does_not_exist()


def _figure_item(lead: str, version: int, day: str, delta: dict[str, Any], now: float) -> MetricsItem:
    """What the lead's save at `version` added to the day's velocity figures (one item per save)."""
    return MetricsItem(
        f"velocity#{day}#{metric_shard(lead):02d}",
        f"{lead}#{version:010d}",
        data=json.dumps(delta, separators=(",", ":")),
        created_at=now,
    )


def _follow_ups_json(figures: dict[Any, dict[str, Any]], alerts: list[AlertRecord]) -> str:
    return json.dumps(
        {
            "figures": {day if isinstance(day, str) else day.isoformat(): delta for day, delta in figures.items()},
            "alerts": [asdict(alert) for alert in alerts],
        },
        separators=(",", ":"),
    )


def _follow_up_items(lead: str, version: int, text: str, now: float) -> list[Model]:
    """The items a lead's save at `version` writes after the lead (`LeadItem.follow_ups`)."""
    follow_ups = json.loads(text)
    known = {f.name for f in fields(AlertRecord)}  # (a field a later release added is left out)
    items: list[Model] = [
        AlertRecord(**{k: v for k, v in alert.items() if k in known}).item(now) for alert in follow_ups.get("alerts", [])
    ]  # the alerts first: an email should not wait on a figure
    items += [_figure_item(lead, version, day, delta, now) for day, delta in follow_ups.get("figures", {}).items()]
    return items


def _new(item: Model) -> Any:
    """The condition that writes a follow-up item once: its key is not there yet."""
    return AlertItem.alert_id.does_not_exist() if isinstance(item, AlertItem) else _NEW_FIGURE


def _key(item: Model) -> tuple[str, ...]:
    return (item.alert_id,) if isinstance(item, AlertItem) else (item.pk, item.sk)


def _translate(error: Exception) -> StorageError:
    text = str(error)
    cause = getattr(error, "cause_response_code", None) or ""
    reasons = getattr(error, "cancellation_reasons", None) or []
    if any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons):
        return VersionConflict(text)
    if any(reason is not None and reason.code == "TransactionConflict" for reason in reasons):
        return TransactionConflict(text)
    if "ConditionalCheckFailed" in cause or "ConditionalCheckFailed" in text:
        return VersionConflict(text)
    return RetryableStorageError(f"{cause or type(error).__name__}: {text}")


class LeadRepository:
    def __init__(self, settings: Settings, clock: Any = time.time) -> None:
        bind(settings)
        self.settings = settings
        self.clock = clock
        self._connection = Connection(region=settings.region, host=settings.dynamodb_endpoint)

    # --- reads ------------------------------------------------------------------------------

    def load(self, lead: str) -> StoredLead | None:
        try:
            item = LeadItem.get(lead, consistent_read=True)
        except LeadItem.DoesNotExist:
            return None
        except PynamoDBException as error:
            raise _translate(error) from error
        state = LeadState.from_dict(unpack_state(item.state)) if item.state else None
        score = float(item.score) if item.score is not None else None
        due = float(item.due_at) if item.due_at is not None else None
        return StoredLead(
            state, int(item.version or 0), item.merged_into, score, item.model_version, item.pending, due, item.follow_ups
        )

    def _blocks(
        self, lead: str, kind: str, enough: int | None = None, known: StoredLead | None = None
    ) -> list[list[dict[str, Any]]]:
        """The lead's history ("history") or event log ("log") as entry blocks, newest first: the
        items written out and the records still waiting in the lead's item, read as one. Read again
        if the lead wrote its waiting records out in between (rare: it only moves them).

        `known`: the lead as the caller just loaded it, so its item is not read a second time
        (read again only if it has written its records out since)."""
        table: type[HistoryItem] | type[EventLogItem] = HistoryItem if kind == "history" else EventLogItem
        for attempt in range(10):
            try:
                if known is not None and attempt == 0:
                    version, records = known.version, unpack_pending(known.pending)[kind]
                else:
                    try:
                        lead_item = LeadItem.get(
                            lead, consistent_read=True, attributes_to_get=["lead", "version", "pending"]
                        )
                        version, records = int(lead_item.version or 0), unpack_pending(lead_item.pending)[kind]
                    except LeadItem.DoesNotExist:
                        version, records = 10**10, []  # gone (or never was): whatever items remain
                if kind == "history":
                    waiting = [
                        (r["sk"], [{**e, "model_version": r["model_version"]} for e in r["entries"]]) for r in records
                    ]
                    written = (
                        (item.sk, [_read({"model_version": item.model_version, **e}) for e in json.loads(item.events)])
                        for item in HistoryItem.query(lead, scan_index_forward=False, consistent_read=True)
                    )
                else:
                    waiting = [(r["sk"], r["entries"]) for r in records]
                    written = (
                        (item.sk, [_read(entry) for entry in json.loads(item.events)])
                        for item in table.query(lead, scan_index_forward=False, consistent_read=True)
                    )
                blocks = _merged(written, waiting, enough, version)
            except PynamoDBException as error:
                raise _translate(error) from error
            if blocks is not None:
                return blocks
        raise RetryableStorageError(f"{lead}: its history kept moving while read")

    def logged_events(
        self, lead: str, newest: int | None = None, known: StoredLead | None = None
    ) -> list[dict[str, Any]]:
        """The lead's logged events in the project format, oldest first; only the `newest` N if given.

        Read newest item first and stopped once N are found, so a visitor with a long history
        costs a bounded read. `known`: the lead as just loaded (its item is not read again).
        """
        blocks = self._blocks(lead, "log", newest, known)
        events = [entry["event"] for entries in blocks for entry in reversed(entries)]
        if newest is not None:
            events = events[:newest]
        events.reverse()
        return events

    def history(self, lead: str, limit: int = 20) -> list[dict[str, Any]]:
        """The lead's most recent scored events, newest first, each with its changes."""
        blocks = self._blocks(lead, "history", limit)
        return [entry for entries in blocks for entry in reversed(entries)][:limit]

    def account_members(self, account: str) -> tuple[dict[str, float], set[str]]:
        """(every member lead -> score, the account alerts that fired and wait to re-arm): reads
        all members, for tools and tests; the scoring path reads `account` instead."""
        members: dict[str, float] = {}
        disarmed: set[str] = set()
        try:
            for item in AccountItem.query(account, consistent_read=True):
                if item.sk == SUMMARY:
                    disarmed = self._disarmed(item)
                    members.update(inline_scores(item) or {})
                elif item.lead is not None and item.member_score is not None:
                    members[item.lead] = float(item.member_score)
        except PynamoDBException as error:
            raise _translate(error) from error
        return members, disarmed

    @staticmethod
    def _disarmed(summary: AccountItem) -> set[str]:
        disarmed = set(summary.disarmed or ())
        if summary.armed is False:
            disarmed.add("account")
        return disarmed

    def account(self, account: str, best: int = 0) -> AccountView:
        """The account's summary (count, sum, alerts waiting to re-arm, stage) and its `best`
        members by score: one GetItem, and for a spilled account one short Query, whatever the
        membership."""
        view = AccountView({}, set(), None, None)
        summary = self._summary(account)
        if summary is None:
            return view
        view.disarmed = self._disarmed(summary)
        view.stage, view.stage_since = summary.stage, summary.stage_since
        view.count = int(summary.members or 0)
        view.inline = inline_scores(summary)
        if view.inline is not None:
            view.total = sum(view.inline.values())
            ranked = sorted(view.inline.items(), key=lambda pair: (-pair[1], pair[0]))
            view.members = dict(ranked[:best])
            return view
        view.total = float(summary.total or 0)
        if best and view.count:
            view.members = self._best_members(account, best)
        return view

    @staticmethod
    def _summary(account: str) -> AccountItem | None:
        try:
            return AccountItem.get(account, SUMMARY, consistent_read=True)
        except AccountItem.DoesNotExist:
            return None
        except PynamoDBException as error:
            raise _translate(error) from error

    def _best_members(self, account: str, limit: int) -> dict[str, float]:
        try:
            page = self._connection.client.query(
                TableName=AccountItem.Meta.table_name,
                IndexName="ByScore",
                KeyConditionExpression="account = :account",
                ExpressionAttributeValues={":account": {"S": account}},
                ScanIndexForward=False,
                Limit=limit,
                ConsistentRead=True,
            )
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise RetryableStorageError(f"{type(error).__name__}: {error}") from error
        return {item["lead"]["S"]: float(item["member_score"]["N"]) for item in page.get("Items", [])}

    def members_at_least(self, account: str, score: float, enough: int, view: AccountView | None = None) -> int:
        """How many members score at least `score`, counted up to `enough` (an alert needs to know
        only whether a committee is complete): from a small account's view as read, else at most
        `enough` index items read."""
        if view is not None and view.inline is not None:
            return min(sum(1 for value in view.inline.values() if value >= score), max(1, enough))
        try:
            page = self._connection.client.query(
                TableName=AccountItem.Meta.table_name,
                IndexName="ByScore",
                KeyConditionExpression="account = :account AND member_score >= :score",
                ExpressionAttributeValues={":account": {"S": account}, ":score": {"N": repr(float(score))}},
                Select="COUNT",
                Limit=max(1, enough),
                ConsistentRead=True,
            )
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise RetryableStorageError(f"{type(error).__name__}: {error}") from error
        return min(int(page["Count"]), max(1, enough))

    def scan_leads(
        self, segment: int, segments: int, start: dict[str, Any] | None = None, limit: int = 100
    ) -> tuple[list[tuple[str, str | None]], dict[str, Any] | None]:
        """One page of one segment of a parallel scan of the leads with a state (aliases left out):
        (lead, the model version its state was built under), and the key to continue from (None at
        the end of the segment). A rescore run's walk over every lead."""
        arguments: dict[str, Any] = {
            "TableName": LeadItem.Meta.table_name,
            "Segment": segment,
            "TotalSegments": segments,
            "Limit": limit,
            "FilterExpression": "attribute_exists(#state)",
            "ProjectionExpression": "#lead, model_version",
            "ExpressionAttributeNames": {"#lead": "lead", "#state": "state"},
            "ConsistentRead": True,
        }
        if start:
            arguments["ExclusiveStartKey"] = start
        try:
            page = self._connection.client.scan(**arguments)
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise RetryableStorageError(f"{type(error).__name__}: {error}") from error
        leads = [
            (item["lead"]["S"], item["model_version"]["S"] if "model_version" in item else None)
            for item in page.get("Items", [])
        ]
        return leads, page.get("LastEvaluatedKey")

    def alert(self, alert_id: str) -> AlertItem | None:
        try:
            return AlertItem.get(alert_id, consistent_read=True)
        except AlertItem.DoesNotExist:
            return None
        except PynamoDBException as error:
            raise _translate(error) from error

    def due_leads(
        self, shard: str, now: float, start: dict[str, Any] | None = None, limit: int = 1000
    ) -> tuple[list[str], dict[str, Any] | None]:
        """One page of the leads whose next scheduled work is due by `now`, from DueIndex (never a scan).

        Returns the leads and the key to continue from (None at the end of the shard).
        """
        client = self._connection.client
        arguments: dict[str, Any] = {
            "TableName": LeadItem.Meta.table_name,
            "IndexName": "DueIndex",
            "KeyConditionExpression": "due_shard = :shard AND due_at <= :now",
            "ExpressionAttributeValues": {":shard": {"S": shard}, ":now": {"N": repr(float(now))}},
            "Limit": limit,
        }
        if start:
            arguments["ExclusiveStartKey"] = start
        try:
            page = client.query(**arguments)
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise RetryableStorageError(f"{type(error).__name__}: {error}") from error
        return [item["lead"]["S"] for item in page.get("Items", [])], page.get("LastEvaluatedKey")

    def alerts(self) -> Iterable[AlertItem]:
        """Every recorded alert (for `leadscore alerts` and local runs; a scan)."""
        return AlertItem.scan()

    def delete_alert(self, alert_id: str) -> None:
        try:
            AlertItem(alert_id).delete()
        except PynamoDBException as error:
            raise _translate(error) from error

    def claim_alert(self, alert_id: str, now: float, lease_seconds: float) -> AlertItem | None:
        """Take a pending alert (or one whose sender died: its lease ran out) for sending; None if
        someone else holds it or it is done. Conditional, so two notifiers never send one alert."""
        item = AlertItem(alert_id)
        condition = (AlertItem.status == "pending") | ((AlertItem.status == "sending") & (AlertItem.lease_until < now))
        try:
            item.update(
                actions=[
                    AlertItem.status.set("sending"),
                    AlertItem.attempts.add(1),
                    AlertItem.lease_until.set(now + lease_seconds),
                ],
                condition=AlertItem.alert_id.exists() & condition,
            )
        except PynamoDBException as error:
            translated = _translate(error)
            if isinstance(translated, VersionConflict):
                return None
            raise translated from error
        return item

    def finish_alert(
        self,
        alert_id: str,
        status: str,
        *,
        message_id: str | None = None,
        error: str | None = None,
        published_event_id: str | None = None,
        now: float | None = None,
    ) -> None:
        """Record how a claimed alert ended: sent, failed (for good), or pending again (retry later)."""
        actions: list[Any] = [AlertItem.status.set(status), AlertItem.lease_until.remove()]
        if message_id is not None:
            actions.append(AlertItem.message_id.set(message_id))
        if error is not None:
            actions.append(AlertItem.last_error.set(error[:500]))
        if published_event_id is not None:
            actions.append(AlertItem.published_event_id.set(published_event_id))
        if status == "sent":
            actions.append(AlertItem.sent_at.set(now if now is not None else self.clock()))
        try:
            AlertItem(alert_id).update(actions=actions, condition=AlertItem.status == "sending")
        except PynamoDBException as error_:
            raise _translate(error_) from error_

    def mark_published(self, alert_id: str, event_id: str) -> None:
        try:
            AlertItem(alert_id).update(actions=[AlertItem.published_event_id.set(event_id)])
        except PynamoDBException as error:
            raise _translate(error) from error

    def leads(self) -> Iterable[LeadItem]:
        """Every stored lead (for local runs and replays; a scan)."""
        return (item for item in LeadItem.scan() if item.state)

    # --- writes -----------------------------------------------------------------------------

    def flip_account_alert(self, account: str, name: str, armed: bool, score: float, alert: AlertRecord | None) -> bool:
        """Arm or disarm one account alert atomically, storing the alert it fires in the same write.

        Conditional on the alert's current position, so among concurrent writers (or a redelivery)
        exactly one flips it, and only that one records the alert. False when it already was flipped.
        """
        now = self.clock()
        summary = AccountItem(account, SUMMARY)
        if armed:
            condition = AccountItem.disarmed.contains(name)
            change = AccountItem.disarmed.delete({name})
        else:
            condition = AccountItem.disarmed.does_not_exist() | ~AccountItem.disarmed.contains(name)
            change = AccountItem.disarmed.add({name})
        actions = [change, AccountItem.score.set(score), AccountItem.updated_at.set(now)]
        if name == "account":  # a summary stored before alerts had names
            legacy = AccountItem.armed == False  # noqa: E712 - a DynamoDB condition, not a test
            condition = (condition | legacy) if armed else (condition & ~legacy)
            actions.append(AccountItem.armed.remove())

        def write(tx: TransactWrite) -> None:
            tx.update(summary, actions=actions, condition=condition)
            if alert is not None:
                tx.save(alert.item(now), condition=AlertItem.alert_id.does_not_exist())

        return self._transact_flip(write)

    def move_account_stage(
        self, account: str, from_stage: str | None, to_stage: str | None, at: float, figures: dict[Any, dict[str, Any]]
    ) -> bool:
        """Move the account's counted stage and add the move to the day's figures, in one write.

        Conditional on the stage it was read in, so among concurrent savers of its members (or a
        redelivery) exactly one counts each move. False when someone else moved it first.
        `to_stage` None: its last member left, it is no longer counted.
        """
        now = self.clock()
        summary = AccountItem(account, SUMMARY)
        condition = AccountItem.stage.does_not_exist() if from_stage is None else AccountItem.stage == from_stage
        if to_stage is None:
            actions = [AccountItem.stage.remove(), AccountItem.stage_since.remove(), AccountItem.updated_at.set(now)]
        else:
            actions = [
                AccountItem.stage.set(to_stage),
                AccountItem.stage_since.set(at),
                AccountItem.updated_at.set(now),
            ]
        move = f"{from_stage or ''}>{to_stage or ''}"

        def write(tx: TransactWrite) -> None:
            tx.update(summary, actions=actions, condition=condition)
            for day, delta in figures.items():
                item = MetricsItem(
                    f"velocity#{day.isoformat()}#{metric_shard(account):02d}",
                    f"account#{account}#{at!r}#{move}#{uuid.uuid4().hex}",
                    data=json.dumps(delta, separators=(",", ":")),
                    created_at=now,
                )
                tx.save(item, condition=MetricsItem.sk.does_not_exist())

        return self._transact_flip(write)

    def commit(self, plan: LeadCommit) -> int:
        """Write one lead's batch atomically (one PutItem, or one transaction), then what follows
        it idempotently (a small account's member score, the velocity figures and the alerts);
        returns the new version."""
        now = self.clock()
        new_version = plan.expected_version + 1
        state = plan.state
        pending = self._unexpired(unpack_pending(plan.pending), now)
        history, log = self._history_and_log(plan, new_version, now)
        if plan.follow_ups:  # the last save's, in case its Lambda died before writing them
            self.send_follow_ups(state.lead, plan.expected_version, plan.follow_ups)
        # a stage move's velocity figures and the alerts fired: written after the lead, each once
        # (keyed by the lead's version, and by the event that fired the alert)
        late_figures = plan.day_figures if plan.member_after_lead else {}
        late_alerts = plan.alerts if plan.member_after_lead else []
        follow_ups = _follow_ups_json(late_figures, late_alerts) if late_figures or late_alerts else None
        pending["history"] += history
        pending["log"] += log
        lead_item = LeadItem(
            state.lead,
            version=new_version,
            state=pack_state(state),
            score=plan.score,
            stage=state.stage,
            account=state.account,
            model_version=plan.model_version,
            updated_at=now,
            due_shard=due_shard(state.lead) if plan.due_at is not None else None,
            due_at=plan.due_at,
            pending=json.dumps(pending, separators=(",", ":"), default=str) if pending != NO_PENDING else None,
            follow_ups=follow_ups,
        )
        others: list[Model] = []  # written once, never replaced
        if lead_item.pending is not None and item_size(lead_item) > LEAD_ITEM_BUDGET:
            others += self._written_out(state.lead, pending, new_version, plan.model_version, now)
            lead_item.pending = None
        if plan.expected_version == 0:
            lead_condition = LeadItem.lead.does_not_exist()
        else:
            lead_condition = LeadItem.version == plan.expected_version
        stayed = plan.previous_account == state.account and plan.previous_score is not None
        moves_account = bool(state.account) and (not stayed or plan.score != (plan.previous_score or 0.0))
        # (a new lead's first events may name another account than its email's: it was in none)
        leaves_account = bool(plan.previous_account) and plan.previous_account != state.account
        leaves_account = leaves_account and plan.previous_score is not None
        # how each account keeps its members (inline in the summary, or spilled): read before writing
        current = self._summary(state.account) if moves_account and state.account else None
        if stayed and current is not None and current.inline is not None and state.lead not in inline_scores(current):
            stayed = False  # a small account that does not list it (an older release's doing): it joins
        if current is not None and not stayed and len(inline_scores(current) or ()) >= INLINE_MEMBERS:
            self._spill(state.account, current, now)  # one member too many to keep inline
            current = self._summary(state.account)
        previous = self._summary(plan.previous_account) if leaves_account and plan.previous_account else None
        # a small account's member whose score moved: its inline score is written after the lead
        # (sync_member), idempotent and ordered by version, so neither pays a transaction's double price
        after_lead = moves_account and stayed and current is not None and current.inline is not None
        after_lead = after_lead and plan.member_after_lead
        in_transaction = moves_account and not after_lead
        figures_in_transaction = {} if follow_ups else plan.day_figures
        alerts_in_transaction = [] if follow_ups else plan.alerts
        if not (others or in_transaction or leaves_account or alerts_in_transaction or figures_in_transaction or plan.aliases):
            try:
                lead_item.save(condition=lead_condition)  # the lead alone: no transaction, half the price
            except PynamoDBException as error:
                raise _translate(error) from error
            if after_lead and state.account:
                self._sync(state.account, state.lead, plan.score, new_version, current)
            if follow_ups:
                self._put_new(_follow_up_items(state.lead, new_version, follow_ups, now))
            return new_version

        def write(tx: TransactWrite) -> None:
            for item in others:
                tx.save(item, condition=type(item).sk.does_not_exist())
            tx.save(lead_item, condition=lead_condition)
            if in_transaction and state.account:
                held = (plan.previous_score or 0.0) if stayed else None
                self._member_moves(tx, state.account, current, state.lead, plan.score, new_version, held, now)
            if leaves_account and plan.previous_account:
                self._member_leaves(tx, plan.previous_account, previous, state.lead, plan.previous_score or 0.0)
            for alert in alerts_in_transaction:
                tx.save(alert.item(now), condition=AlertItem.alert_id.does_not_exist())
            for day, delta in figures_in_transaction.items():
                tx.save(_figure_item(state.lead, new_version, day.isoformat(), delta, now), condition=_NEW_FIGURE)
            for anonymous, version in plan.aliases:
                # the visitor's waiting history and log are written out: its item becomes an alias
                waiting = unpack_pending(plan.alias_pending.get(anonymous))
                for item in self._written_out(anonymous, waiting, version + 1, plan.model_version, now):
                    tx.save(item, condition=type(item).sk.does_not_exist())
                alias = LeadItem(anonymous, version=version + 1, merged_into=state.lead, updated_at=now)
                condition = LeadItem.lead.does_not_exist() if version == 0 else LeadItem.version == version
                tx.save(alias, condition=condition)

        try:
            self._transact(write)
        except VersionConflict:
            # a member item that does not hold the score the lead was saved with (a small account's
            # score written after its lead was lost, then the account spilled): set right, then retry
            held = plan.previous_score or 0.0
            if in_transaction and stayed and current is not None and current.inline is None and state.account:
                self._sync_spilled(state.account, state.lead, held, plan.expected_version)
            if previous is not None and previous.inline is None and plan.previous_account:
                self._sync_spilled(plan.previous_account, state.lead, held, plan.expected_version)
            raise
        if after_lead and state.account:
            self._sync(state.account, state.lead, plan.score, new_version, current)
        if follow_ups:
            self._put_new(_follow_up_items(state.lead, new_version, follow_ups, now))
        return new_version

    @staticmethod
    def _put_new(items: list[Model]) -> None:
        """The velocity figures and alerts of a lead's save, right after it: each item once (keyed by
        the lead's version or the alert's event, so a second writer finds it there and writes nothing)."""
        for item in items:
            try:
                item.save(condition=_new(item))
            except PynamoDBException as error:
                translated = _translate(error)
                if isinstance(translated, VersionConflict) and not isinstance(translated, TransactionConflict):
                    continue  # written already
                raise translated from error

    def send_follow_ups(self, lead: str, version: int, follow_ups: str) -> None:
        """The figures and alerts the lead's save at `version` writes after it (`LeadItem.follow_ups`),
        if its Lambda died first: called by the next save of the lead, and by a redelivery that
        finds its work saved. A read (half a read unit) finds each there, the common case. A missing
        one is written only while the lead is still at that version (a transaction with a check of
        the lead): after an erasure, or once a later save has seen to them, nothing is written."""
        for item in _follow_up_items(lead, version, follow_ups, self.clock()):
            try:
                type(item).get(*_key(item), attributes_to_get=[type(item)._hash_key_attribute().attr_name])
                continue
            except type(item).DoesNotExist:
                pass
            except PynamoDBException as error:
                raise _translate(error) from error

            def write(tx: TransactWrite, item: Model = item) -> None:
                tx.condition_check(LeadItem, lead, condition=LeadItem.version == version)
                tx.save(item, condition=_new(item))

            try:
                self._transact(write)
            except TransactionConflict:
                raise
            except VersionConflict:
                continue  # written meanwhile, or the lead moved on or is gone: nothing to write

    def _unexpired(self, pending: dict[str, list[dict[str, Any]]], now: float) -> dict[str, list[dict[str, Any]]]:
        """Waiting records younger than their table's retention: what a TTL would have left."""
        limits = {"log": self.settings.event_retention_days, "history": self.settings.history_retention_days}
        for kind, days in limits.items():
            if days > 0:
                at = "received_at" if kind == "log" else "recorded_at"
                pending[kind] = [r for r in pending[kind] if float(r[at]) + days * 86400 > now]
        return pending

    def _written_out(
        self, lead: str, pending: dict[str, list[dict[str, Any]]], version: int, model_version: str, now: float
    ) -> list[Model]:
        """The waiting records as one history item and one event-log item, keyed by their oldest
        record's time and the version that writes them out (a version writes them out once)."""
        items: list[Model] = []
        if pending["history"]:
            records = pending["history"]
            retention = self.settings.history_retention_days
            items.append(
                HistoryItem(
                    lead,
                    f"{min(r['sk'] for r in records).rsplit('#', 1)[0]}#{version:010d}",
                    version=version,
                    events=json.dumps(
                        [
                            {**entry, "model_version": r["model_version"], "recorded_at": r["recorded_at"]}
                            for r in records
                            for entry in r["entries"]
                        ],
                        separators=(",", ":"),
                        default=str,
                    ),
                    model_version=model_version,
                    recorded_at=now,
                    expires_at=int(now + retention * 86400) if retention > 0 else None,
                )
            )
        if pending["log"]:
            records = pending["log"]
            items.append(
                EventLogItem(
                    lead,
                    f"{min(r['sk'] for r in records).rsplit('#', 1)[0]}#{version:010d}",
                    events=json.dumps(
                        [{**entry, "received_at": r["received_at"]} for r in records for entry in r["entries"]],
                        separators=(",", ":"),
                        default=str,
                    ),
                    received_at=max(float(r["received_at"]) for r in records),  # each entry keeps its own
                    expires_at=int(now + self.settings.event_retention_days * 86400),
                )
            )
        return items

    @staticmethod
    def _add_to_summary(tx: TransactWrite, account: str, delta: float, members: int) -> None:
        """A spilled account's summary: commutative adds, so concurrent members' saves never
        overwrite each other's (and never while its members are inline: a spill moves them)."""
        actions = [AccountItem.total.add(delta)]
        if members:
            actions.append(AccountItem.members.add(members))
        tx.update(AccountItem(account, SUMMARY), actions=actions, condition=AccountItem.inline.does_not_exist())

    def _member_moves(
        self,
        tx: TransactWrite,
        account: str,
        summary: AccountItem | None,
        lead: str,
        score: float,
        version: int,
        held: float | None,
        now: float,
    ) -> None:
        """The member joining its account, or moving in a spilled one, by how the account keeps its
        members as read just before; each write is conditional on that, so a concurrent change of it
        (another member's spill, a join that fills it) cancels the save, which is then read and done
        again. `held`: the score a member staying in it was saved with (None: it joins). A small
        account's member that stays is mostly written after the lead instead (`_sync`)."""
        scores = inline_scores(summary) if summary is not None else None
        key = member_key(lead)
        if summary is None and self.settings.account_members == "items":  # as releases before inline members did
            tx.save(AccountItem(account, f"member#{lead}", lead=lead, member_score=score, updated_at=now))
            self._add_to_summary(tx, account, score, 1)
        elif summary is None:  # the account's first member: a summary with it inline
            actions = [
                AccountItem.inline.set({key: score}),
                AccountItem.inline_versions.set({key: version}),
                AccountItem.members.add(1),
                AccountItem.inline_version.add(1),
            ]
            tx.update(AccountItem(account, SUMMARY), actions=actions, condition=AccountItem.sk.does_not_exist())
        elif scores is None:  # spilled: the member's item, and its change added to the sum
            member = AccountItem(account, f"member#{lead}", lead=lead, member_score=score, updated_at=now)
            if held is not None:  # the sum moves by the change from the score the member item holds: check it does
                tx.save(member, condition=AccountItem.member_score == held)
                self._add_to_summary(tx, account, score - held, 0)
            else:
                tx.save(member)
                self._add_to_summary(tx, account, score, 1)
        elif held is not None:  # stays in a small account, written in the lead's transaction
            actions = [AccountItem.inline[key].set(score), AccountItem.inline_version.add(1)]
            versioned, version_condition = self._inline_version_set(summary, key, version)
            condition = AccountItem.inline[key].exists() & version_condition
            tx.update(AccountItem(account, SUMMARY), actions=actions + versioned, condition=condition)
        elif len(scores) < INLINE_MEMBERS:
            actions = [
                AccountItem.inline[key].set(score),
                AccountItem.members.add(1),
                AccountItem.inline_version.add(1),
            ]
            condition = (  # exists() first: size() of a missing map is an error to moto, not False
                AccountItem.inline.exists()
                & AccountItem.inline[key].does_not_exist()
                & (size(AccountItem.inline) < INLINE_MEMBERS)
            )
            versioned, version_condition = self._inline_version_set(summary, key, version)
            tx.update(AccountItem(account, SUMMARY), actions=actions + versioned, condition=condition & version_condition)
        else:  # full: `commit` spills it first, so this is a summary read before someone else filled it
            raise VersionConflict(f"account {account}: its inline members are full; read it again")

    @staticmethod
    def _inline_version_set(summary: AccountItem | None, key: str, version: int) -> tuple[list[Any], Any]:
        """(the actions recording a member's version in `inline_versions`, their condition): a key of
        the map when the summary read has one, else the map itself (summaries written before it)."""
        if summary is not None and summary.inline_versions is not None:
            return [AccountItem.inline_versions[key].set(version)], AccountItem.inline_versions.exists()
        return [AccountItem.inline_versions.set({key: version})], AccountItem.inline_versions.does_not_exist()

    def sync_member(self, account: str, lead: str, score: float, version: int) -> None:
        """Make the account hold the member's score as of the lead's `version`: after a save whose
        inline write was lost (a Lambda that died between the two writes, redelivered as duplicates).
        One GetItem when nothing is missing (two in a spilled account): a score already there is not
        written again (a lead's queued batches come one at a time, so no older write is in flight
        but by a rare race with its visitor's batches, which the member's next move corrects)."""
        self._sync(account, lead, score, version, self._summary(account), written_once=True)

    def _sync(
        self,
        account: str,
        lead: str,
        score: float,
        version: int,
        summary: AccountItem | None,
        written_once: bool = False,
    ) -> None:
        """A small account's copy of its member's score, written after the lead's save: conditional
        on an older version having written it, so a redelivery writes it once and a late writer
        never puts an older score back; read again and redone when the account changed under it."""
        key = member_key(lead)
        for _ in range(SYNC_ATTEMPTS):
            if summary is None:
                return  # no account (erased): nothing holds the member
            if summary.inline is None:
                self._sync_spilled(account, lead, score, version)  # spilled since: its member item
                return
            scores = inline_scores(summary) or {}
            versions = summary.inline_versions.as_dict() if summary.inline_versions is not None else {}
            if lead not in scores:
                if not self._rejoin(account, lead, score, version, summary):
                    return  # a later save of the lead took it out
            elif key in versions and int(versions[key]) >= version:
                return  # this version's score, or a later one, is there
            elif written_once and scores[lead] == score:
                return
            else:
                actions = [AccountItem.inline[key].set(score), AccountItem.inline_version.add(1)]
                versioned, version_condition = self._inline_version_set(summary, key, version)
                condition = AccountItem.inline[key].exists() & version_condition
                if summary.inline_versions is not None:  # (a map written since: version_condition fails)
                    condition &= AccountItem.inline_versions[key].does_not_exist() | (
                        AccountItem.inline_versions[key] < version
                    )
                for gone in (k for k in versions if k not in {member_key(m) for m in scores}):
                    # left or erased by a release that did not know the map: its id goes too
                    versioned.append(AccountItem.inline_versions[gone].remove())
                    condition &= AccountItem.inline[gone].does_not_exist()
                try:
                    AccountItem(account, SUMMARY).update(actions=actions + versioned, condition=condition)
                    return
                except PynamoDBException as error:
                    if not isinstance(_translate(error), VersionConflict):
                        raise _translate(error) from error
            summary = self._summary(account)
        raise RetryableStorageError(f"account {account}: it kept changing while {lead}'s score was written")

    def _rejoin(self, account: str, lead: str, score: float, version: int, summary: AccountItem) -> bool:
        """A lead saved as a member of a small account that does not list it (written by a release
        before this one): joined now, if the lead is still at `version`; False when it is not."""
        scores = inline_scores(summary) or {}
        if len(scores) >= INLINE_MEMBERS:
            with contextlib.suppress(VersionConflict):  # changed since it was read
                self._spill(account, summary, self.clock())
            return True  # read again: a spilled account has its members' items

        def write(tx: TransactWrite) -> None:
            self._lead_still_at(tx, lead, version, account)
            self._member_moves(tx, account, summary, lead, score, version, None, self.clock())

        try:
            self._transact(write)
        except VersionConflict:
            return self._lead_at(lead, version)
        return True

    @staticmethod
    def _lead_still_at(tx: TransactWrite, lead: str, version: int, account: str) -> None:
        tx.condition_check(LeadItem, lead, condition=(LeadItem.version == version) & (LeadItem.account == account))

    @staticmethod
    def _held(member: AccountItem) -> tuple[float, Any]:
        """(the score a member item holds, the condition that it still does)."""
        if member.member_score is None:  # as releases before `member_score` wrote it (in `score`)
            return float(member.score or 0.0), AccountItem.member_score.does_not_exist()
        return float(member.member_score), AccountItem.member_score == float(member.member_score)

    @staticmethod
    def _lead_at(lead: str, version: int) -> bool:
        try:
            return int(LeadItem.get(lead, consistent_read=True, attributes_to_get=["version"]).version) == version
        except LeadItem.DoesNotExist:
            return False
        except PynamoDBException as error:
            raise _translate(error) from error

    def _sync_spilled(self, account: str, lead: str, score: float, version: int) -> None:
        """A spilled account's member item set to the lead's score as of `version` (and the sum moved
        by the difference), if the lead is still at that version: one GetItem when it holds it."""
        for _ in range(SYNC_ATTEMPTS):
            try:
                item: AccountItem | None = AccountItem.get(account, f"member#{lead}", consistent_read=True)
            except AccountItem.DoesNotExist:
                item = None
            except PynamoDBException as error:
                raise _translate(error) from error
            if item is not None and item.member_score is not None and float(item.member_score) == score:
                return
            found, held = self._held(item) if item is not None else (0.0, AccountItem.sk.does_not_exist())

            def write(tx: TransactWrite, found: float = found, held: Any = held, joins: int = int(item is None)) -> None:
                self._lead_still_at(tx, lead, version, account)
                member = AccountItem(account, f"member#{lead}", lead=lead, member_score=score, updated_at=self.clock())
                tx.save(member, condition=held)
                self._add_to_summary(tx, account, score - found, joins)

            try:
                self._transact(write)
                return
            except VersionConflict:
                if not self._lead_at(lead, version):
                    return  # a later save of the lead wrote its own score
        raise RetryableStorageError(f"account {account}: it kept changing while {lead}'s score was written")

    def _spill(self, account: str, summary: AccountItem, now: float) -> None:
        """A full account's inline members into one item each and their sum into the summary, in
        one transaction conditional on the inline members read (so none is lost or stale)."""
        scores = inline_scores(summary) or {}

        def write(tx: TransactWrite) -> None:
            for member, score in scores.items():
                tx.save(AccountItem(account, f"member#{member}", lead=member, member_score=score, updated_at=now))
            actions = [
                AccountItem.inline.remove(),
                AccountItem.inline_versions.remove(),
                AccountItem.total.set(sum(scores.values())),
                AccountItem.inline_version.add(1),
            ]
            read = summary.inline_version
            condition = (
                AccountItem.inline_version.does_not_exist() if read is None else AccountItem.inline_version == read
            )
            tx.update(AccountItem(account, SUMMARY), actions=actions, condition=AccountItem.inline.exists() & condition)

        self._transact(write)

    def spill_all(self) -> tuple[int, int]:
        """Spill every small account (a Scan of the summaries), as before rolling back to a release
        that cannot read inline members; (accounts spilled, accounts found large already). Each
        spill is conditional on what it read, so it runs safely next to live saves (and is read
        and done again when one of them changed the account first)."""
        spilled = large = 0
        try:
            summaries = list(AccountItem.scan(AccountItem.sk == SUMMARY, consistent_read=True))
        except PynamoDBException as error:
            raise _translate(error) from error
        for summary in summaries:
            for _ in range(20):
                if summary is None or summary.inline is None:
                    large += 1
                    break
                try:
                    self._spill(summary.account, summary, self.clock())
                    spilled += 1
                    break
                except VersionConflict:
                    summary = self._summary(summary.account)
            else:
                raise StorageError(f"account {summary.account}: it kept changing; run the spill again")
        return spilled, large

    def _member_leaves(
        self, tx: TransactWrite, account: str, summary: AccountItem | None, lead: str, score: float
    ) -> None:
        """The member out of the account it leaves: out of its summary's inline members, or its
        item deleted and its score taken off the sum."""
        if summary is not None and summary.inline is not None:
            key = member_key(lead)
            actions = [AccountItem.inline[key].remove(), AccountItem.members.add(-1), AccountItem.inline_version.add(1)]
            condition = AccountItem.inline[key].exists()
            if summary.inline_versions is not None:
                actions.append(AccountItem.inline_versions[key].remove())
                condition &= AccountItem.inline_versions.exists()
            else:  # a map written since would keep the lead's id: read again
                condition &= AccountItem.inline_versions.does_not_exist()
            tx.update(AccountItem(account, SUMMARY), actions=actions, condition=condition)
            return
        # the sum loses the score the member item holds: check it does (see _sync_spilled)
        tx.delete(AccountItem(account, f"member#{lead}"), condition=AccountItem.member_score == score)
        self._add_to_summary(tx, account, -score, -1)

    @staticmethod
    def _history_and_log(
        plan: LeadCommit, version: int, now: float
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """This save's history record and event-log record (none when it scored or logged nothing)."""
        history: list[dict[str, Any]] = []
        log: list[dict[str, Any]] = []
        if plan.scored:
            history.append(
                {
                    "sk": sort_key(min(scored.ts for scored in plan.scored), version),
                    "version": version,
                    "model_version": plan.model_version,
                    "recorded_at": now,
                    "entries": [
                        {
                            "event_id": scored.event_id,
                            "event_type": scored.event_type,
                            "at": format_timestamp(scored.ts),
                            "score_before": scored.score_before,
                            "score_after": scored.score_after,
                            "stage_before": scored.stage_before,
                            "stage_after": scored.stage_after,
                            "changes": [change._asdict() for change in scored.changes],
                            "alerts": scored.alerts,
                            **scored.note,
                        }
                        for scored in plan.scored
                    ],
                }
            )
        if plan.logged:
            log.append(
                {
                    "sk": sort_key(min(logged.ts for logged in plan.logged), version),
                    "received_at": now,
                    "entries": [
                        {
                            "id": logged.event_id,
                            "type": logged.event_type,
                            "at": format_timestamp(logged.ts),
                            "payload": logged.payload,
                            "event": logged.event,
                        }
                        for logged in plan.logged
                    ],
                }
            )
        return history, log

    def _transact_flip(self, write: Any, attempts: int = 8) -> bool:
        """A conditional flip: False when its condition failed (someone else flipped first);
        retried when another transaction only held the item for a moment."""
        for attempt in range(attempts):
            try:
                self._transact(write)
                return True
            except TransactionConflict:
                if attempt == attempts - 1:
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
            except VersionConflict:
                return False
        return False  # unreachable: the last attempt returns or raises

    def _transact(self, write: Any) -> None:
        try:
            with TransactWrite(connection=self._connection) as transaction:
                write(transaction)
        except TransactWriteError as error:
            raise _translate(error) from error
        except PynamoDBException as error:
            raise _translate(error) from error

    # --- erasure (the right to be forgotten) and export ------------------------------------
    # Every read is a Query or a GetItem by key (ForgetFunction may not scan) and every delete one
    # DeleteItem (no BatchWriteItem either); only `scan_event_log` scans, for the operators' export.

    def lead_keys(self, table: type[Model], lead: str) -> list[tuple[str, str]]:
        """(lead, sk) of every item a HistoryItem / EventLogItem table holds for the lead (a Query)."""
        try:
            return [
                (lead, item.sk) for item in table.query(lead, consistent_read=True, attributes_to_get=["lead", "sk"])
            ]
        except PynamoDBException as error:
            raise _translate(error) from error

    def logged_entries(self, lead: str) -> list[dict[str, Any]]:
        """Every event-log entry of the lead ({id, type, at, payload, event}), oldest item first."""
        blocks = self._blocks(lead, "log")
        return [entry for entries in reversed(blocks) for entry in entries]

    def history_times(self, lead: str) -> list[str]:
        """The `at` of every scored entry in the lead's history (ISO 8601 UTC)."""
        blocks = self._blocks(lead, "history")
        return [str(entry.get("at")) for entries in reversed(blocks) for entry in entries if entry.get("at")]

    def alert_ids_for(self, subject: str) -> list[str]:
        """The ids of the alerts about `subject`, from the AlertsTable's BySubject index (never a scan)."""
        client = self._connection.client
        arguments: dict[str, Any] = {
            "TableName": AlertItem.Meta.table_name,
            "IndexName": "BySubject",
            "KeyConditionExpression": "subject = :subject",
            "ExpressionAttributeValues": {":subject": {"S": subject}},
        }
        ids: list[str] = []
        try:
            while True:
                page = client.query(**arguments)
                ids.extend(item["alert_id"]["S"] for item in page.get("Items", []))
                if not page.get("LastEvaluatedKey"):
                    return ids
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise RetryableStorageError(f"{type(error).__name__}: {error}") from error

    @staticmethod
    def follow_up_keys(lead: str, stored: StoredLead | None) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        """The keys of the velocity items and of the alerts the lead's last save writes after the
        lead (`follow_ups`)."""
        if stored is None or not stored.follow_ups:
            return [], []
        items = _follow_up_items(lead, stored.version, stored.follow_ups, 0.0)
        return (
            [_key(item) for item in items if isinstance(item, MetricsItem)],
            [_key(item) for item in items if isinstance(item, AlertItem)],
        )

    def velocity_keys_of(self, lead: str, days: Iterable[str]) -> list[tuple[str, str]]:
        """(pk, sk) of the per-save velocity items the lead's saves wrote on these UTC days (YYYY-MM-DD)."""
        client = self._connection.client
        keys: list[tuple[str, str]] = []
        try:
            for day in sorted(set(days)):
                arguments: dict[str, Any] = {
                    "TableName": MetricsItem.Meta.table_name,
                    "KeyConditionExpression": "pk = :pk AND begins_with(sk, :lead)",
                    "ExpressionAttributeValues": {
                        ":pk": {"S": f"velocity#{day}#{metric_shard(lead):02d}"},
                        ":lead": {"S": f"{lead}#"},
                    },
                    "ProjectionExpression": "pk, sk",
                }
                while True:
                    page = client.query(**arguments)
                    keys.extend((item["pk"]["S"], item["sk"]["S"]) for item in page.get("Items", []))
                    if not page.get("LastEvaluatedKey"):
                        break
                    arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise RetryableStorageError(f"{type(error).__name__}: {error}") from error
        return keys

    def delete_found(self, table: type[Model], keys: Iterable[tuple[str, ...]]) -> int:
        """Delete items by key (one DeleteItem each); returns how many were there."""
        count = 0
        try:
            for key in keys:
                old = table._get_connection().delete_item(*key, return_values="ALL_OLD")
                count += bool(old.get("Attributes"))
        except PynamoDBException as error:
            raise _translate(error) from error
        return count

    def delete_keys(self, table: type[Model], keys: Iterable[tuple[str, ...]]) -> int:
        """Delete items by key, one DeleteItem each (idempotent: a missing item is no error)."""
        count = 0
        try:
            for key in keys:
                table(*key).delete()
                count += 1
        except PynamoDBException as error:
            raise _translate(error) from error
        return count

    def delete_alias(self, anonymous: str, lead: str) -> bool:
        """Delete an anonymous visitor's alias item, only if it is merged into `lead`."""
        try:
            LeadItem(anonymous).delete(condition=LeadItem.merged_into == lead)
        except PynamoDBException as error:
            translated = _translate(error)
            if isinstance(translated, VersionConflict):
                return False  # gone already, or someone else's visitor: not ours to erase
            raise translated from error
        return True

    def remove_lead(self, lead: str, expected_version: int | None = None) -> ErasedLead:
        """Delete the lead item and its account membership in one transaction, subtracting the
        member's score and one member from the account's summary exactly as `commit` does when a
        lead leaves an account. Conditional on the versions read, so a concurrent save makes it
        fail (VersionConflict: read again and retry) and a second call finds nothing to do;
        `expected_version`: the version the caller found (and erased the items of), or it fails too."""
        try:
            item = LeadItem.get(lead, consistent_read=True)
        except LeadItem.DoesNotExist:
            return ErasedLead(False)
        except PynamoDBException as error:
            raise _translate(error) from error
        if expected_version is not None and int(item.version or 0) != expected_version:
            raise VersionConflict(f"{lead} was saved since it was read (version {item.version})")
        account = item.account
        member: AccountItem | None = None
        summary = self._summary(account) if account else None
        inline = (inline_scores(summary) or {}) if summary is not None and summary.inline is not None else None
        if account:  # its member item too, even in a small account: erasure leaves no copy behind
            try:
                member = AccountItem.get(account, f"member#{lead}", consistent_read=True)
            except AccountItem.DoesNotExist:
                member = None
            except PynamoDBException as error:
                raise _translate(error) from error
        version = int(item.version or 0)
        in_summary = inline is not None and lead in inline

        def write(tx: TransactWrite) -> None:
            tx.delete(LeadItem(lead), condition=LeadItem.version == version)
            if in_summary and account:
                self._member_leaves(tx, account, summary, lead, 0.0)
            if member is not None and account:
                score, held = self._held(member)
                tx.delete(AccountItem(account, f"member#{lead}"), condition=held)
                if inline is None:  # a large account counts it in its sum (a small one in its map)
                    self._add_to_summary(tx, account, -score, -1)

        self._transact(write)
        return ErasedLead(True, account, member is not None or in_summary)

    def put_audit(self, pk: str, sk: str, data: dict[str, Any]) -> None:
        """Write an audit record to the metrics table (written once: never replaced)."""
        item = MetricsItem(
            pk, sk, data=json.dumps(data, separators=(",", ":"), sort_keys=True), created_at=self.clock()
        )
        try:
            item.save(condition=MetricsItem.sk.does_not_exist())
        except PynamoDBException as error:
            raise _translate(error) from error

    def scan_event_log(
        self,
        segment: int,
        segments: int,
        since: float,
        until: float | None = None,
        start: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of one segment of a parallel scan of the event log, and then of the log records
        still waiting in lead items, filtered on the save time (`received_at`); returns the entries
        ({id, type, at, payload, event}) with their lead, and the key to continue from (None at the
        end of the segment). Operators' tool only."""
        waiting = bool(start and start.get(WAITING))
        arguments: dict[str, Any] = {
            "TableName": LeadItem.Meta.table_name if waiting else EventLogItem.Meta.table_name,
            "Segment": segment,
            "TotalSegments": segments,
        }
        if waiting:
            arguments |= {
                "FilterExpression": "attribute_exists(#pending)",
                "ProjectionExpression": "#lead, #pending",
                "ExpressionAttributeNames": {"#lead": "lead", "#pending": "pending"},
            }
        else:  # an item written out holds saves up to its received_at: each entry is checked below
            arguments |= {
                "FilterExpression": "#at >= :since",
                "ExpressionAttributeValues": {":since": {"N": repr(float(since))}},
                "ProjectionExpression": "#lead, #sk, #events, #at",
                "ExpressionAttributeNames": {"#lead": "lead", "#sk": "sk", "#events": "events", "#at": "received_at"},
            }
        key = {name: value for name, value in (start or {}).items() if name != WAITING}
        if key:
            arguments["ExclusiveStartKey"] = key
        try:
            page = self._connection.client.scan(**arguments)
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise RetryableStorageError(f"{type(error).__name__}: {error}") from error
        entries: list[dict[str, Any]] = []
        for item in page.get("Items", []):
            lead = item["lead"]["S"]
            if waiting:
                found = [
                    {**entry, "received_at": record["received_at"]}
                    for record in unpack_pending(packed_json(item["pending"]))["log"]
                    for entry in record["entries"]
                ]
            else:
                saved = float(item["received_at"]["N"])
                found = [{"received_at": saved, **entry} for entry in json.loads(packed_json(item["events"]))]
            for entry in found:
                at = float(entry.pop("received_at"))
                if at >= since and (until is None or at < until):
                    entries.append({**entry, "lead": lead})
        following = page.get("LastEvaluatedKey")
        if following:
            return entries, ({**following, WAITING: {"BOOL": True}} if waiting else following)
        return entries, (None if waiting else {WAITING: {"BOOL": True}})  # then the lead items' waiting log


WAITING = "__waiting__"  # in a scan_event_log cursor: the scan has reached the lead items


@dataclass
class ErasedLead:
    """What `LeadRepository.remove_lead` found and removed in its one transaction."""

    removed: bool  # False: the lead item was already gone (a second forget)
    account: str | None = None
    member_removed: bool = False
