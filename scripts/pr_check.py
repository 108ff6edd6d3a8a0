#!/usr/bin/env python3
"""The pull-request check of the scoring model: one comment on the pull request, updated on every push.

    python scripts/pr_check.py --base origin/main --events events/sample-traffic.jsonl [--rules rules]

What it does, with the installed `leadscore` package (no shelling out to the CLI):

1. validates the head model as `leadscore validate --strict` does (errors and warnings, file:line:column);
2. replays the events sample through the base model (read from the git revision `--base`) and the head model,
   as `leadscore diff` does, and compares leads (stage, qualification), the score distribution, accounts and
   the alerts that would fire;
3. writes one Markdown comment starting with the hidden marker `<!-- leadscore-pr-check -->` and posts it with
   the GitHub REST API: it lists the pull request's comments (every page), PATCHes the one with the marker, or
   POSTs a new one, so a pull request has exactly one such comment, updated on each push.

Settings come from the GitHub Actions environment: GITHUB_TOKEN, GITHUB_REPOSITORY (owner/name), GITHUB_API_URL
(default https://api.github.com), GITHUB_EVENT_PATH (the pull-request number and head commit; `--pr N` overrides).
`--dry-run` prints the comment and `--output FILE` writes it, neither posts. With GITHUB_STEP_SUMMARY set, the
comment is also added to the job summary.

Personal data: the comment names leads by their address and accounts by their domain or company id. By default
(`--names pseudonymised`) each is replaced with the keyed hash `leadscore export --pseudonymise` uses
(`lead-<hex>@<hex>.pseudonymised.invalid`, `id:company-<hex>`; domains the model itself names are kept), so a
comment on a public pull request holds no address even when the sample is a plain export. Identifiers that are
already pseudonymised (an export made with `--pseudonymise`) are shown as they are. The key is
LEADSCORE_PSEUDONYMISE_KEY (or `--key`): with a stable key the same lead has the same name on every push;
without one a random key is used per run. `--names plain` shows addresses as they are (synthetic samples,
private repositories).

Exit status: 0 the model is valid (whatever the diff shows), 1 validation failed (errors, or warnings: the check
is strict), 2 the check could not run (unreadable events, unknown revision, the comment could not be posted).
The comment is posted in every case where it can be, saying why the check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leadscore.cli.export import Pseudonymiser, model_domains
from leadscore.cli.simulate import EventFileError, diff_data, events_from, unknown_type_warnings
from leadscore.cli.tables import render
from leadscore.core.compiler import compile_model
from leadscore.core.events import EventError, format_timestamp, parse_timestamp
from leadscore.core.loader import LoadedModel, ModelError, load_model
from leadscore.core.simulation import Simulation, simulate
from leadscore.core.state import Event
from leadscore.core.units import format_number

MARKER = "<!-- leadscore-pr-check -->"
MAX_ROWS = 25
MAX_COMMENT = 65_000  # GitHub refuses comment bodies over 65,536 characters
DEFAULT_API = "https://api.github.com"
ACCOUNT_KINDS = frozenset({"account_score", "engaged_buyers"})
_LOCATED = re.compile(r"^(?P<file>[^:\n]+):(?P<line>[0-9]+):(?P<col>[0-9]+): (?P<message>.*)$")
_PSEUDONYMOUS_EMAIL = re.compile(r"^lead-[0-9a-f]{16}@")
_PSEUDONYMOUS_COMPANY = re.compile(r"^company-[0-9a-f]{16}$")
_PSEUDONYMOUS_DOMAIN = ".pseudonymised.invalid"


class CheckError(Exception):
    """The check could not run (not a problem of the model): said in the comment, exit status 2."""


class NoBaseModel(CheckError):
    """The base revision has no model yet (the pull request adds it): nothing to compare, not a failure."""


class GitHubError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"GitHub API: HTTP {status}: {message}")
        self.status = status


# --- validation --------------------------------------------------------------------------------------------


@dataclass
class Validation:
    path: str
    loaded: LoadedModel | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.loaded is not None and not self.errors and not self.warnings


def validate(path: Path, root: Path) -> Validation:
    """`leadscore validate --strict PATH`, with file names relative to the repository root."""
    try:
        loaded = load_model(path, display_base=root)
    except ModelError as error:
        return Validation(str(path), None, errors=list(error.problems))
    return Validation(str(path), loaded, warnings=list(loaded.warnings))


def annotations(validation: Validation) -> list[str]:
    """GitHub workflow commands, so each problem is also marked on the changed line of the pull request."""
    lines = []
    for level, problems in (("error", validation.errors), ("warning", validation.warnings)):
        for problem in problems:
            match = _LOCATED.match(problem)
            if match:
                where = f" file={match['file']},line={match['line']},col={match['col']}"
                message = match["message"].removeprefix("warning: ")
            else:
                where, message = "", problem
            text = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            lines.append(f"::{level}{where}::{text}")
    return lines


# --- the base model from git -----------------------------------------------------------------------------


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)


def model_at_revision(root: Path, revision: str, relative: Path, workdir: Path) -> Path:
    """The model files under `relative` (a path inside the repository) as they were at `revision`."""
    listing = _git(root, "ls-tree", "-r", "--name-only", revision, "--", relative.as_posix())
    if listing.returncode != 0:
        raise CheckError(f"git cannot read `{relative}` at `{revision}`: {listing.stderr.decode().strip()}")
    files = [name for name in listing.stdout.decode().splitlines() if name.endswith((".yaml", ".yml"))]
    if not files:
        raise NoBaseModel(f"there is no model under `{relative}` at `{revision}`")
    for name in files:
        shown = _git(root, "show", f"{revision}:{name}")
        if shown.returncode != 0:
            raise CheckError(f"git cannot read `{name}` at `{revision}`: {shown.stderr.decode().strip()}")
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_bytes(shown.stdout)
    target = workdir / relative
    return target if target.is_dir() or len(files) > 1 else workdir / files[0]


# --- names in the comment --------------------------------------------------------------------------------


class Names:
    """How leads and accounts are named in the comment: pseudonymised (the export's keyed hashes) or plain."""

    def __init__(self, pseudonymiser: Pseudonymiser | None, key_source: str = "") -> None:
        self.pseudonymiser = pseudonymiser
        self.key_source = key_source

    def domain(self, domain: str) -> str:
        if self.pseudonymiser is None or domain.endswith(_PSEUDONYMOUS_DOMAIN):
            return domain
        return self.pseudonymiser.domain(domain)

    def lead(self, lead: str) -> str:
        p = self.pseudonymiser
        if p is None:
            return lead
        if lead.startswith("anon:"):
            visitor = lead.removeprefix("anon:")
            return lead if visitor.startswith("v-") else f"anon:{p.visitor(visitor)}"
        if "@" not in lead:
            return f"lead-{p.visitor(lead).removeprefix('v-')}"
        if _PSEUDONYMOUS_EMAIL.match(lead):
            local, _, domain = lead.rpartition("@")
            return f"{local}@{self.domain(domain)}"
        return p.email(lead)

    def account(self, account: str | None) -> str:
        if not account:
            return "-"
        p = self.pseudonymiser
        if p is None:
            return account
        if account.startswith("id:"):
            company = account.removeprefix("id:")
            if _PSEUDONYMOUS_COMPANY.match(company):
                return account
            # the export's company pseudonym, through its public event method
            name = p.company_field
            return "id:" + str(p.event({"profile": {name: company}})["profile"][name])
        return self.domain(account)

    def subject(self, kind: str, subject: str) -> str:
        return self.account(subject) if kind in ACCOUNT_KINDS else self.lead(subject)

    def note(self) -> str:
        if self.pseudonymiser is None:
            return "Leads and accounts are shown as they are in the events sample."
        return (
            "Leads and accounts are pseudonymised (keyed hashes, as `leadscore export --pseudonymise` writes them; "
            f"domains the model names are kept) {self.key_source}."
        )


def names_for(mode: str, key: str | None, rules: Path) -> Names:
    if mode == "plain":
        return Names(None)
    kept, company_field = model_domains(rules)
    if key:
        source = "with the repository's key: the same lead has the same name on every push"
    else:
        key = secrets.token_hex(16)
        source = (
            "with a key drawn for this run: names change on each push (set LEADSCORE_PSEUDONYMISE_KEY to keep them)"
        )
    return Names(Pseudonymiser(key.encode(), kept, company_field), source)


# --- the comparison ----------------------------------------------------------------------------------------


def alert_threshold(loaded: LoadedModel) -> float:
    """The score at which a lead counts as qualified, as `leadscore diff` takes it."""
    spec = loaded.spec
    thresholds = [
        alert.threshold
        for name, alert in spec.alerts.items()
        if alert.resolved_kind(name) in ("lead_score", "lead_qualified") and alert.threshold is not None
    ]
    return min(thresholds) if thresholds else spec.sales_ready_score


@dataclass
class Comparison:
    base: Simulation
    head: Simulation
    data: dict[str, Any]  # leadscore's diff_data
    base_report: dict[str, Any]
    head_report: dict[str, Any]
    sales_ready: float


def compare(base: LoadedModel, head: LoadedModel, events: list[Event], at: float | None) -> Comparison:
    base_run = simulate(compile_model(base), events, at)
    head_run = simulate(compile_model(head), events, at)
    data = diff_data(base_run, head_run, alert_threshold(head))
    return Comparison(base_run, head_run, data, base_run.report(), head_run.report(), head.spec.sales_ready_score)


def moved(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        item
        for item in data["changes"]
        if item["stage_before"] != item["stage_after"] or item["qualified_before"] != item["qualified_after"]
    ]


def account_changes(comparison: Comparison) -> list[dict[str, Any]]:
    before = {item["account"]: item for item in comparison.base_report["accounts"]}
    after = {item["account"]: item for item in comparison.head_report["accounts"]}
    changes = []
    for name in before.keys() | after.keys():
        old, new = before.get(name), after.get(name)
        old_score = round(old["score"], 2) if old else None
        new_score = round(new["score"], 2) if new else None
        if old_score == new_score:
            continue
        changes.append(
            {
                "account": name,
                "before": old_score,
                "after": new_score,
                "change": (new_score or 0.0) - (old_score or 0.0),
                "leads": (new or old or {}).get("leads", 0),
            }
        )
    changes.sort(key=lambda item: (-abs(item["change"]), item["account"]))
    return changes


def _alert_key(alert: dict[str, Any]) -> tuple[str, str, str]:
    return (alert.get("name") or alert["kind"], alert["kind"], alert["subject"])


def alert_changes(comparison: Comparison) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(alerts the head model fires that the base does not, alerts only the base fires): the first firing of each
    alert and subject, with how many times it fires."""

    def firsts(report: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
        counts = Counter(_alert_key(alert) for alert in report["alerts"])
        first: dict[tuple[str, str, str], dict[str, Any]] = {}
        for alert in sorted(report["alerts"], key=lambda item: item["ts"]):
            first.setdefault(_alert_key(alert), alert | {"times": counts[_alert_key(alert)]})
        return first

    before, after = firsts(comparison.base_report), firsts(comparison.head_report)
    order = lambda item: (item["ts"], item["name"] or item["kind"], item["subject"])  # noqa: E731
    newly = sorted((alert for key, alert in after.items() if key not in before), key=order)
    gone = sorted((alert for key, alert in before.items() if key not in after), key=order)
    return newly, gone


def buckets(leads: list[dict[str, Any]], sales_ready: float) -> list[tuple[str, int]]:
    """How many leads score in each quarter of the sales-ready score, and at or over it."""
    edges = [sales_ready * share for share in (0.25, 0.5, 0.75, 1.0)]
    labels = [f"score < {format_number(edges[0])}"]
    labels += [
        f"{format_number(low)} ≤ score < {format_number(high)}" for low, high in zip(edges, edges[1:], strict=False)
    ]
    labels.append(f"score ≥ {format_number(edges[-1])}")
    counts = [0] * len(labels)
    for lead in leads:
        counts[sum(1 for edge in edges if lead["score"] >= edge)] += 1
    return list(zip(labels, counts, strict=True))


# --- the comment -----------------------------------------------------------------------------------------


def _signed(value: float) -> str:
    return f"+{format_number(value)}" if value > 0 else format_number(value)


def _score(value: float | None) -> str:
    return "-" if value is None else format_number(value)


def _code(text: str) -> str:
    """An identifier in a code span: no autolinked addresses, no Markdown from the data."""
    return "`" + text.replace("`", "'") + "`"


def _account_cell(names: Names, account: str | None) -> str:
    return _code(names.account(account)) if account else "-"


def _more(total: int, shown: int, what: str) -> list[str]:
    return [f"…and {total - shown} more {what}."] if total > shown else []


def _rules(rules: dict[str, list[float]]) -> str:
    parts = [f"{rule} {format_number(a)} → {format_number(b)}" for rule, (a, b) in rules.items()]
    return ", ".join(parts) or "none (decay, caps or floor)"


def _qualification(item: dict[str, Any]) -> str:
    old, new = item["qualified_before"], item["qualified_after"]
    if old == new:
        return "yes" if new else "no"
    return "**newly qualified**" if new else "**no longer qualified**"


@dataclass
class Context:
    rules: str
    base: str
    events_label: str
    events_count: int
    head_sha: str = ""


def validation_section(validation: Validation, command: str) -> list[str]:
    if validation.loaded is not None and validation.ok:
        spec = validation.loaded.spec
        return [
            f"✅ **Validation** (`{command}`): ok, {len(spec.rules)} rules, {len(spec.stages)} stages, "
            f"{len(spec.scores)} extra scores, {len(spec.forms)} forms, no warnings."
        ]
    lines = []
    if validation.errors:
        lines.append(
            f"❌ **Validation** (`{command}`): {len(validation.errors)} problem(s); the model does not load, "
            "so nothing was scored:"
        )
        problems = validation.errors
    else:
        lines.append(
            f"❌ **Validation** (`{command}`): {len(validation.warnings)} warning(s); the model loads, but the "
            "check is strict: fix or remove what each warning names:"
        )
        problems = validation.warnings
    return [*lines, "", "```text", *problems, "```"]


def build_comment(
    validation: Validation,
    context: Context,
    names: Names,
    comparison: Comparison | None = None,
    base_version: str | None = None,
    notes: Sequence[str] = (),
    max_rows: int = MAX_ROWS,
    failed: bool = False,
) -> str:
    title = "❌ Lead scoring model check" if failed or not validation.ok else "✅ Lead scoring model check"
    lines = [MARKER, f"## {title}", ""]
    lines += validation_section(validation, f"leadscore validate --strict {context.rules}")
    lines.append("")
    base_text = f"`{base_version}`" if base_version else "unknown"
    head_text = f"`{validation.loaded.version}`" if validation.loaded else "does not load"
    lines.append(f"- **Model version**: {base_text} (`{context.base}`) → {head_text} (this pull request)")
    if comparison is not None:
        report = comparison.head_report
        lines.append(
            f"- **Events**: {_code(context.events_label)}: {context.events_count} events, "
            f"{comparison.data['leads_replayed']} leads replayed, scores at {format_timestamp(report['at'])}"
        )
    for note in notes:
        lines += ["", f"⚠️ {note}"]
    if comparison is not None:
        lines += ["", *comparison_sections(comparison, names, max_rows)]
    lines += ["", "---", f"<sub>{names.note()}"]
    commit = f" Updated for commit {context.head_sha[:12]}." if context.head_sha else ""
    lines[-1] += f"{commit} This comment is rewritten on each push.</sub>"
    text = "\n".join(lines) + "\n"
    if len(text) > MAX_COMMENT:
        text = text[: MAX_COMMENT - 200].rsplit("\n", 1)[0] + "\n\n…(cut: the comment is too long for GitHub)\n"
    return text


def comparison_sections(comparison: Comparison, names: Names, max_rows: int) -> list[str]:
    data = comparison.data
    lines: list[str] = []
    stage_moves = moved(data)
    threshold = format_number(data["threshold"])
    lines.append(f"### Leads that change stage or qualification ({len(stage_moves)})")
    lines.append("")
    if stage_moves:
        head_leads = {lead["lead"]: lead for lead in comparison.head_report["leads"]}
        base_leads = {lead["lead"]: lead for lead in comparison.base_report["leads"]}
        rows = [
            [
                _code(names.lead(item["lead"])),
                _account_cell(
                    names, (head_leads.get(item["lead"]) or base_leads.get(item["lead"]) or {}).get("account")
                ),
                f"{_score(item['score_before'])} → {_score(item['score_after'])} ({_signed(item['change'])})",
                item["stage_before"]
                if item["stage_before"] == item["stage_after"]
                else f"{item['stage_before'] or '-'} → **{item['stage_after'] or '-'}**",
                _qualification(item),
                _rules(item["rules"]),
            ]
            for item in stage_moves[:max_rows]
        ]
        lines.append(render(["lead", "account", "score", "stage", "qualified", "rules responsible"], rows, "markdown"))
        lines += _more(len(stage_moves), len(rows), "leads change stage or qualification")
    else:
        lines.append("No lead changes stage or qualification.")
    others = len(data["changes"]) - len(stage_moves)
    lines += [
        "",
        f"Qualified = score ≥ {threshold}. {others} other lead(s) change score only; "
        f"{data['leads_replayed'] - len(data['changes'])} of {data['leads_replayed']} leads do not change.",
    ]

    old, new = data["distribution"]["before"], data["distribution"]["after"]
    rows = [["leads", old["count"], new["count"], _signed(new["count"] - old["count"])]]
    for key in ("min", "median", "p90", "max"):
        if key in old and key in new:
            rows.append([key, format_number(old[key]), format_number(new[key]), _signed(new[key] - old[key])])
    before_buckets = buckets(
        [lead for lead in comparison.base_report["leads"] if not lead["lead"].startswith("anon:")],
        comparison.sales_ready,
    )
    after_buckets = buckets(
        [lead for lead in comparison.head_report["leads"] if not lead["lead"].startswith("anon:")],
        comparison.sales_ready,
    )
    for (label, count_before), (_, count_after) in zip(before_buckets, after_buckets, strict=True):
        rows.append([label, count_before, count_after, _signed(count_after - count_before)])
    for stage in dict.fromkeys([*old["stages"], *new["stages"]]):
        count_before, count_after = old["stages"].get(stage, 0), new["stages"].get(stage, 0)
        rows.append([f"in {stage}", count_before, count_after, _signed(count_after - count_before)])
    lines += ["", "### Score distribution", "", render(["", "before", "after", "change"], rows, "markdown")]

    accounts = account_changes(comparison)
    lines += ["", f"### Accounts whose score changes ({len(accounts)})", ""]
    if accounts:
        rows = [
            [
                _account_cell(names, item["account"]),
                _score(item["before"]),
                _score(item["after"]),
                _signed(item["change"]),
                item["leads"],
            ]
            for item in accounts[:max_rows]
        ]
        lines.append(render(["account", "score before", "score after", "change", "leads"], rows, "markdown"))
        lines += _more(len(accounts), len(rows), "accounts")
    else:
        lines.append("No account score changes.")

    newly, gone = alert_changes(comparison)
    for title, alerts, empty in (
        ("Alerts that would newly fire", newly, "No alert newly fires."),
        ("Alerts that would no longer fire", gone, "No alert stops firing."),
    ):
        lines += ["", f"### {title} ({len(alerts)})", ""]
        if not alerts:
            lines.append(empty)
            continue
        rows = [
            [
                alert["name"] or alert["kind"],
                alert["kind"],
                _code(names.subject(alert["kind"], alert["subject"])),
                format_timestamp(alert["ts"]),
                format_number(alert["score"]),
                format_number(alert["threshold"]) if alert["threshold"] is not None else "-",
                alert["times"],
            ]
            for alert in alerts[:max_rows]
        ]
        headers = ["alert", "kind", "who", "first fires", "score", "threshold", "times"]
        lines.append(render(headers, rows, "markdown"))
        lines += _more(len(alerts), len(rows), "alerts")
    return lines


# --- GitHub --------------------------------------------------------------------------------------------------


class GitHub:
    """The few REST calls the check needs, with urllib."""

    def __init__(self, token: str, repository: str, api: str = DEFAULT_API, timeout: float = 30.0) -> None:
        self.token = token
        self.repository = repository
        self.api = api.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        if not url.startswith(self.api + "/"):  # the token goes to the API and nowhere else
            raise GitHubError(0, f"refusing to send the token to {url}")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "leadscore-pr-check")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
                headers = {key.lower(): value for key, value in response.headers.items()}
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            raise GitHubError(error.code, f"{method} {url}: {detail}") from None
        except urllib.error.URLError as error:
            raise GitHubError(0, f"{method} {url}: {error.reason}") from None
        return (json.loads(payload) if payload else None), headers

    def comments(self, number: int) -> Iterator[dict[str, Any]]:
        """Every issue comment of the pull request, following the `Link: <...>; rel="next"` pages."""
        url: str | None = f"{self.api}/repos/{self.repository}/issues/{number}/comments?per_page=100"
        while url:
            page, headers = self.request("GET", url)
            yield from page
            url = next_page(headers.get("link", ""))

    def upsert_comment(self, number: int, body: str) -> tuple[str, int]:
        """PATCH the comment with the marker, or POST one: ("updated" | "created", comment id)."""
        for comment in self.comments(number):
            if MARKER in (comment.get("body") or ""):
                url = f"{self.api}/repos/{self.repository}/issues/comments/{comment['id']}"
                self.request("PATCH", url, {"body": body})
                return "updated", int(comment["id"])
        created, _ = self.request(
            "POST", f"{self.api}/repos/{self.repository}/issues/{number}/comments", {"body": body}
        )
        return "created", int(created["id"])


def next_page(link: str) -> str | None:
    for part in link.split(","):
        match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', part)
        if match:
            return match.group(1)
    return None


# --- the command -----------------------------------------------------------------------------------------------


def _event_payload() -> dict[str, Any]:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _pr_number(explicit: int | None, payload: dict[str, Any]) -> int | None:
    if explicit is not None:
        return explicit
    number = (payload.get("pull_request") or {}).get("number") or payload.get("number")
    return int(number) if number else None


def _from_fork(payload: dict[str, Any]) -> bool:
    pull = payload.get("pull_request") or {}
    head = ((pull.get("head") or {}).get("repo") or {}).get("full_name")
    base = ((pull.get("base") or {}).get("repo") or {}).get("full_name")
    return bool(head and base and head != base)


def _head_sha(root: Path, payload: dict[str, Any]) -> str:
    sha = ((payload.get("pull_request") or {}).get("head") or {}).get("sha")
    if sha:
        return str(sha)
    result = _git(root, "rev-parse", "HEAD")
    return result.stdout.decode().strip() if result.returncode == 0 else ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git revision of the base model, e.g. origin/main")
    parser.add_argument("--rules", type=Path, default=Path("rules"), help="the model folder (default rules)")
    parser.add_argument("--events", type=Path, action="append", required=True, help="JSON Lines sample (repeatable)")
    parser.add_argument("--events-label", help="how the comment names the sample (default: the file names)")
    parser.add_argument("--at", help="score as of this time (ISO 8601); default: the last event")
    parser.add_argument("--repo", type=Path, help="the git repository (default: the one holding the current folder)")
    parser.add_argument("--pr", type=int, help="pull request number (default: from GITHUB_EVENT_PATH)")
    parser.add_argument("--names", choices=["pseudonymised", "plain"], default="pseudonymised")
    parser.add_argument("--key", help="pseudonymisation key (default: LEADSCORE_PSEUDONYMISE_KEY, else random)")
    parser.add_argument("--max-rows", type=int, default=MAX_ROWS, help="rows per table (default 25)")
    parser.add_argument("--dry-run", action="store_true", help="print the comment; do not post it")
    parser.add_argument("--output", type=Path, help="write the comment to this file; do not post it")
    return parser


def _repository_root(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit.resolve()
    result = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"pr_check: not inside a git repository: {result.stderr.strip()}")
    return Path(result.stdout.strip()).resolve()


def run_check(args: argparse.Namespace, root: Path, names: Names, payload: dict[str, Any]) -> tuple[str, int]:
    """(the comment, the exit status)."""
    rules = args.rules.resolve()
    try:
        relative = rules.relative_to(root)
    except ValueError:
        raise SystemExit(f"pr_check: {args.rules} is not inside the repository {root}") from None
    context = Context(
        rules=relative.as_posix(),
        base=args.base,
        events_label=args.events_label or ", ".join(path.as_posix() for path in args.events),
        events_count=0,
        head_sha=_head_sha(root, payload),
    )
    validation = validate(rules, root)
    notes: list[str] = []
    status = 0 if validation.ok else 1
    base_version: str | None = None
    comparison: Comparison | None = None
    try:
        at = parse_timestamp(args.at) if args.at else None
        events = events_from(args.events)
        context.events_count = len(events)
        with tempfile.TemporaryDirectory(prefix="leadscore-pr-check-") as tmp:
            base_path = model_at_revision(root, args.base, relative, Path(tmp))
            try:
                base_loaded = load_model(base_path, display_base=Path(tmp))
            except ModelError as error:
                base_loaded = None
                notes.append(
                    f"The base model at `{args.base}` does not load ({len(error.problems)} problem(s)), "
                    "so there is nothing to compare with."
                )
        if base_loaded is not None:
            base_version = base_loaded.version
            if validation.loaded is not None:
                comparison = compare(base_loaded, validation.loaded, events, at)
                notes += [line.removeprefix("leadscore: ") for line in unknown_type_warnings(comparison.head)]
    except NoBaseModel as error:
        notes.append(f"Nothing to compare with: {error} (this pull request adds the model).")
    except CheckError as error:
        notes.append(f"The comparison could not run: {error}.")
        status = max(status, 2)
    except EventError as error:
        notes.append(f"--at: {error}")
        status = max(status, 2)
    except EventFileError as error:
        lines = str(error).splitlines()
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        notes.append(f"The events sample cannot be read: `{lines[0]}`{more}")
        status = max(status, 2)
    except FileNotFoundError as error:
        notes.append(f"The events sample `{error.filename}` does not exist.")
        status = max(status, 2)
    comment = build_comment(
        validation, context, names, comparison, base_version, notes, args.max_rows, failed=status != 0
    )
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in annotations(validation):
            print(line)
    return comment, status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = _repository_root(args.repo)
    payload = _event_payload()
    key = args.key or os.environ.get("LEADSCORE_PSEUDONYMISE_KEY") or None
    names = names_for(args.names, key, args.rules.resolve())
    comment, status = run_check(args, root, names, payload)

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(comment.removeprefix(MARKER + "\n") + "\n")
    if args.output:
        args.output.write_text(comment, encoding="utf-8")
        print(f"pr_check: comment written to {args.output}", file=sys.stderr)
    if args.dry_run:
        sys.stdout.write(comment)
    if args.dry_run or args.output:
        return status

    number = _pr_number(args.pr, payload)
    token = os.environ.get("GITHUB_TOKEN")
    repository = os.environ.get("GITHUB_REPOSITORY")
    missing = [
        name
        for name, value in (
            ("GITHUB_TOKEN", token),
            ("GITHUB_REPOSITORY", repository),
            ("--pr or GITHUB_EVENT_PATH", number),
        )
        if not value
    ]
    if missing:
        print(f"pr_check: cannot post the comment: missing {', '.join(missing)} (or use --dry-run)", file=sys.stderr)
        return max(status, 2)
    assert token and repository and number
    github = GitHub(token, repository, os.environ.get("GITHUB_API_URL") or DEFAULT_API)
    try:
        action, comment_id = github.upsert_comment(number, comment)
    except GitHubError as error:
        if _from_fork(payload) and error.status in (401, 403, 404):
            # a fork's pull request gets a read-only token: the job summary and annotations still say it all
            print(f"::warning::pull request from a fork: the comment cannot be posted ({error})")
            return status
        print(f"pr_check: {error}", file=sys.stderr)
        return max(status, 2)
    print(f"pr_check: comment {comment_id} {action} on pull request #{number}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
