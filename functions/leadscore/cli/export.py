"""`leadscore export`: the deployed event log as JSON Lines in the project's event format, for
`simulate` and `diff` on real history; optionally a deterministic sample and pseudonymised.

How it reads: a parallel Scan of the event-log table (4 segments, paginated), filtered on each
item's save time (`received_at`). Per-lead Queries would need the list of leads first, which is
itself a scan of the leads table, and then one request per lead (most leads have a handful of
items): for "everything of the last 30 days" one pass over the log costs the fewest requests,
and 4 segments read 4 pages at a time. The filter is applied after the read, so a scan costs
the whole table's read units whatever --since says: it is an operator's tool with its own IAM
(dynamodb:Scan on the event-log table), never a Lambda's. --since filters on when items were
saved; the events keep their own times, and the output is in event-time order.

--pseudonymise replaces, with keyed hashes (HMAC-SHA256; --key, or a random key per run printed
on stderr): each address's local part (`lead-<hex>`), each email domain (`<hex>.pseudonymised.invalid`,
so accounts keyed by domain stay one account), visitor ids, and company ids. Domains the model
itself names (rules on `email: {domain: ...}`, free-mail lists, account owners) and the built-in
free-mail domains are kept, so the file still scores the same. Other profile text (names, job
titles, company names) is kept: rules match on it. Share the file as you would the model.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

SEGMENTS = 4
_DURATION = re.compile(r"([0-9]+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DOMAIN = re.compile(r"\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+\b")


def parse_since(value: str, now: float) -> float:
    """`30d`, `12h`, `2w` before now, or an ISO 8601 time."""
    match = _DURATION.fullmatch(value.strip())
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    from ..core.events import EventError, parse_timestamp

    try:
        return parse_timestamp(value)
    except EventError:
        raise SystemExit(f"leadscore export: {value!r}: expected a duration like 30d or an ISO 8601 time") from None


class Pseudonymiser:
    """Consistent keyed replacements, so one person stays one lead and one company one account."""

    def __init__(self, key: bytes, kept_domains: Iterable[str] = (), company_field: str = "company_id") -> None:
        self.key = key
        self.kept = {domain.casefold() for domain in kept_domains}
        self.company_field = company_field

    def _hex(self, kind: str, value: str, length: int = 16) -> str:
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:length]

    def domain(self, domain: str) -> str:
        domain = domain.casefold()
        return domain if domain in self.kept else f"{self._hex('domain', domain, 12)}.pseudonymised.invalid"

    def email(self, address: str) -> str:
        local, _, domain = address.rpartition("@")
        return f"lead-{self._hex('email', address)}@{self.domain(domain)}" if local else address

    def visitor(self, visitor_id: str) -> str:
        return f"v-{self._hex('visitor', visitor_id.strip())}"

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        out = dict(event)
        if isinstance(out.get("email"), str):
            out["email"] = self.email(out["email"])
        if isinstance(out.get("anonymous_id"), str):
            out["anonymous_id"] = self.visitor(out["anonymous_id"])
        if isinstance(out.get("id"), str) and "@" in out["id"]:
            out["id"] = f"evt-{self._hex('id', out['id'])}"
        for section in ("properties", "profile"):
            details = out.get(section)
            if not isinstance(details, dict):
                continue
            details = dict(details)
            if isinstance(details.get("anonymous_id"), str) and details["anonymous_id"].strip():
                details["anonymous_id"] = self.visitor(details["anonymous_id"])
            if isinstance(details.get("email"), str):
                details["email"] = self.email(details["email"])
            company = details.get(self.company_field)
            if company not in (None, ""):
                details[self.company_field] = f"company-{self._hex('company', str(company).strip().casefold())}"
            out[section] = details
        return out


def model_domains(path: Path | None) -> tuple[set[str], str]:
    """Domains the model names (kept as they are) and its company id field."""
    from ..core.accounts import FREE_MAIL_DOMAINS

    kept = set(FREE_MAIL_DOMAINS)
    field = "company_id"
    if path is None or not path.exists():
        return kept, field
    files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    for file in files:
        kept |= set(_DOMAIN.findall(file.read_text(encoding="utf-8").casefold()))
    try:
        from ..core.loader import load_model

        spec = load_model(path).spec
        kept |= {domain.casefold() for domain in spec.accounts.free_mail_domains}
        field = str(spec.accounts.company_id_field)
    except Exception:  # noqa: BLE001 - a model that does not load still lends its domains
        pass
    return kept, field


def _lead_hash(lead: str) -> str:
    return hashlib.sha256(lead.encode()).hexdigest()


def sample_leads(entries: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The entries of `count` identified leads chosen by a hash of the lead (the same leads on every
    run over the same log), with the anonymous visitors they linked, so every kept lead scores as stored."""
    owner: dict[str, str] = {}  # anon:<id> -> the lead that linked it
    leads: set[str] = set()
    for entry in entries:
        lead = entry["lead"]
        if lead.startswith("anon:"):
            continue
        leads.add(lead)
        event = entry.get("event") or {}
        for section in (event.get("properties") or {}, event.get("profile") or {}):
            visitor = section.get("anonymous_id") if isinstance(section, dict) else None
            if isinstance(visitor, str) and visitor.strip():
                owner.setdefault(f"anon:{visitor.strip()}", lead)
    chosen = set(sorted(leads, key=_lead_hash)[:count])
    return [entry for entry in entries if owner.get(entry["lead"], entry["lead"]) in chosen]


class Progress:
    """A one-line counter on stderr; silent when stderr is not a terminal (CI logs, pipes)."""

    def __init__(self, stream: TextIO, enabled: bool | None = None) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.pages = self.events = 0
        self._shown = 0.0

    def add(self, events: int) -> None:
        self.pages += 1
        self.events += events
        if self.enabled and time.monotonic() - self._shown > 0.1:
            self._shown = time.monotonic()
            self.stream.write(f"\rexport: {self.pages} pages, {self.events} events read")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write(f"\rexport: {self.pages} pages, {self.events} events read\n")
            self.stream.flush()


def read_log(
    scan_page: Callable[..., tuple[list[dict[str, Any]], dict[str, Any] | None]],
    since: float,
    until: float | None,
    progress: Progress,
    segments: int = SEGMENTS,
) -> list[dict[str, Any]]:
    """Every entry saved in [since, until), reading the segments side by side, each page by page."""

    def segment(number: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            entries, start = scan_page(number, segments, since, until, start)
            found.extend(entries)
            progress.add(len(entries))
            if not start:
                return found

    with ThreadPoolExecutor(max_workers=segments) as pool:
        parts = list(pool.map(segment, range(segments)))
    return [entry for part in parts for entry in part]


def export_events(
    entries: list[dict[str, Any]], sample: int | None = None, pseudonymiser: Pseudonymiser | None = None
) -> list[dict[str, Any]]:
    """The project-format events of the entries, sampled and pseudonymised, in time order."""
    if sample is not None:
        entries = sample_leads(entries, sample)
    events = [entry["event"] for entry in entries if isinstance(entry.get("event"), dict)]
    if pseudonymiser is not None:
        events = [pseudonymiser.event(event) for event in events]
    return sorted(events, key=lambda event: (str(event.get("timestamp")), str(event.get("id"))))


def write_lines(events: Iterable[dict[str, Any]], stream: TextIO) -> int:
    count = 0
    for event in events:
        stream.write(json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def cmd_export(args: argparse.Namespace) -> int:
    from ..adapters.dynamodb import LeadRepository
    from ..settings import Settings

    now = time.time()
    since = parse_since(args.since, now)
    until = parse_since(args.until, now) if args.until else None
    repository = LeadRepository(Settings.from_env(required=["event_log_table"]))
    progress = Progress(sys.stderr)
    entries = read_log(repository.scan_event_log, since, until, progress, args.segments)
    progress.done()
    pseudonymiser = None
    if args.pseudonymise:
        key_text = args.key or secrets.token_hex(16)
        if not args.key:
            print(f"export: pseudonymised with key {key_text} (pass --key to repeat it)", file=sys.stderr)
        kept, field = model_domains(args.model)
        pseudonymiser = Pseudonymiser(key_text.encode(), kept, field)
    events = export_events(entries, args.sample, pseudonymiser)
    if args.output:
        with Path(args.output).open("w", encoding="utf-8") as handle:
            count = write_lines(events, handle)
    else:
        count = write_lines(events, sys.stdout)
    print(f"export: {count} events", file=sys.stderr)
    return 0


def add_export_command(commands: Any) -> None:
    export = commands.add_parser(
        "export", help="the deployed event log as JSON Lines for simulate and diff (EVENT_LOG_TABLE)"
    )
    export.add_argument("--since", default="30d", help="saved at or after: a duration (30d, 12h) or ISO time")
    export.add_argument("--until", help="saved before: a duration ago or ISO time (default: now)")
    export.add_argument("--sample", type=int, metavar="N", help="keep N leads (chosen by a hash: same on every run)")
    export.add_argument("--pseudonymise", action="store_true", help="replace emails, domains, visitor and company ids")
    export.add_argument("--key", help="pseudonymisation key (default: random, printed on stderr)")
    export.add_argument("--model", type=Path, default=Path("rules"), help="model whose named domains are kept")
    export.add_argument("--segments", type=int, default=SEGMENTS, help=argparse.SUPPRESS)
    export.add_argument("--output", help="write to this file (default: standard output)")
    export.set_defaults(run=cmd_export)
