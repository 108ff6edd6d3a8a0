"""The `leadscore` command: validate, explain, simulate and diff scoring models, without AWS."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..core.compiler import compile_model
from ..core.events import EventError, normalise_email, parse_timestamp
from ..core.loader import LoadedModel, ModelError, load_model
from ..core.simulation import Simulation, simulate
from ..core.spec import json_schema
from ..core.state import Outcome
from ..core.units import format_number
from ..settings import SettingsError
from .accounts import add_accounts_command
from .assets import add_import_assets_command
from .calibrate import add_calibrate_command
from .explain import explain
from .export import add_export_command
from .forget import add_forget_command
from .openapi import add_openapi_command
from .report import add_report_command
from .serve import add_serve_command
from .simulate import EventFileError, diff_data, diff_report, events_from, leaderboard, unknown_type_warnings
from .tables import ROUNDING_NOTE, json_text, render
from .timeline import closest, lead_breakdown, timeline

DEFAULT_MODEL = Path("rules")


def _load(path: Path) -> LoadedModel:
    return load_model(path)


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = _load(args.path)
    spec = loaded.spec
    print(
        f"ok: {', '.join(loaded.sources)}: {len(spec.rules)} rules, {len(spec.stages)} stages, "
        f"{len(spec.scores)} extra scores, {len(spec.forms)} forms (version {loaded.version})"
    )
    for line in loaded.warnings:
        print(line, file=sys.stderr)
    if loaded.warnings and args.strict:
        print(f"leadscore: {len(loaded.warnings)} warning(s) in the model (--strict)", file=sys.stderr)
        return 1
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    print(explain(_load(args.path), args.format))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _at(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except EventError:
        raise SystemExit(f"leadscore: --at: {value!r} is not an ISO 8601 time like 2026-11-20T00:00:00Z") from None


def _warn_unknown_types(result: Simulation) -> None:
    for line in unknown_type_warnings(result):
        print(line, file=sys.stderr)


def cmd_simulate(args: argparse.Namespace) -> int:
    model = compile_model(_load(args.path))
    watch = normalise_email(args.lead) if args.lead else None
    result = simulate(model, events_from(args.events), _at(args.at), watch=watch)
    _warn_unknown_types(result)
    if watch is not None:
        return _print_timeline(result, watch, args.format)
    report = result.report()
    if args.format == "json":
        print(json_text(report))
    else:
        print(leaderboard(report, args.format, args.top))
    return 0


def _print_timeline(result: Simulation, lead: str, fmt: str) -> int:
    if lead not in result.leads:
        known = sorted(name for name in result.leads if not name.startswith("anon:"))
        near = closest(lead, known)
        hint = f"; closest: {', '.join(near)}" if near else f"; the events name {len(known)} leads"
        print(f"leadscore: no lead {lead} in the events{hint}", file=sys.stderr)
        return 1
    if fmt == "json":
        steps = [
            {
                "kind": step.kind,
                "at": step.ts,
                "event": step.event._asdict() if step.event else None,
                "linked": step.linked,
                "outcome": _outcome_json(step.outcome),
            }
            for step in result.steps
        ]
        lead_view = next(item for item in result.report()["leads"] if item["lead"] == lead)
        print(json_text({"lead": lead_view, "steps": steps}))
    else:
        print(timeline(result, lead))
    return 0


def _outcome_json(outcome: Outcome | None) -> dict[str, object] | None:
    if outcome is None:
        return None
    data = outcome._asdict()
    data["changes"] = [change._asdict() for change in outcome.changes]
    data["alerts"] = [alert._asdict() for alert in outcome.alerts]
    data["skipped"] = [skip._asdict() for skip in outcome.skipped]
    return data


def _model_at_revision(revision: str, path: Path, workdir: Path) -> Path:
    """Write the model files as they were at a git revision into a temporary folder."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", revision, "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise SystemExit(f"leadscore: git cannot read {path} at {revision}: {listing.stderr.strip()}")
    files = [line for line in listing.stdout.splitlines() if line.endswith((".yaml", ".yml"))]
    if not files:
        raise SystemExit(f"leadscore: no model files under {path} at {revision}")
    target = workdir / path
    target.mkdir(parents=True, exist_ok=True)
    for name in files:
        content = subprocess.run(["git", "show", f"{revision}:{name}"], capture_output=True, check=True).stdout
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_bytes(content)
    return target if path.is_dir() or len(files) > 1 else workdir / files[0]


def cmd_diff(args: argparse.Namespace) -> int:
    events = events_from(args.events)
    at = _at(args.at)
    with tempfile.TemporaryDirectory() as tmp:
        if args.base:
            if len(args.paths) > 1:
                raise SystemExit("leadscore: diff takes --base REV and one model path, or two model paths")
            head_path = args.paths[0] if args.paths else DEFAULT_MODEL
            base_path = _model_at_revision(args.base, head_path, Path(tmp))
            base_loaded = load_model(base_path, display_base=Path(tmp))
            base_label, head_label = f"{args.base}:{head_path}", str(head_path)
        else:
            if len(args.paths) != 2:
                raise SystemExit("leadscore: diff takes --base REV [PATH], or two model paths")
            base_loaded = load_model(args.paths[0])
            head_path = args.paths[1]
            base_label, head_label = str(args.paths[0]), str(head_path)
        head_loaded = load_model(head_path)
    base_run = simulate(compile_model(base_loaded), events, at)
    head_run = simulate(compile_model(head_loaded), events, at)
    _warn_unknown_types(head_run)
    thresholds = [
        alert.threshold
        for name, alert in head_loaded.spec.alerts.items()
        if alert.resolved_kind(name) in ("lead_score", "lead_qualified") and alert.threshold is not None
    ]
    threshold = min(thresholds) if thresholds else head_loaded.spec.sales_ready_score
    text, changed = diff_report(base_run, head_run, base_label, head_label, threshold)
    if args.format == "json":
        data = diff_data(base_run, head_run, threshold)
        data |= {"base": base_label, "head": head_label}
        data |= {"base_version": base_run.model.version, "head_version": head_run.model.version}
        print(json_text(data))
    else:
        print(text)
    return 1 if (args.fail_on_change and changed) else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..local.demo import main as demo_main  # moto and the AWS SDK load only for this command

    argv = ["--leads", str(args.leads), "--seed", str(args.seed)]
    if args.outbox is not None:
        argv += ["--outbox", str(args.outbox)]
    if args.quiet:
        argv.append("--quiet")
    return demo_main(argv)


def _missing_settings(names: Iterable[str]) -> list[str]:
    return [name.upper() for name in names if not os.environ.get(name.upper())]


def cmd_lead(args: argparse.Namespace) -> int:
    """The stored breakdown of one lead, from the tables named in the environment."""
    from ..settings import STORAGE

    missing = _missing_settings(STORAGE)
    if missing:  # checked here, before the AWS SDK loads, so the answer is one line
        print(
            f"leadscore lead: missing settings {', '.join(missing)}: set them to the deployed stack's table names",
            file=sys.stderr,
        )
        return 2
    from ..service.scoring import build_service_from_env

    description = build_service_from_env().describe_lead(normalise_email(args.email))
    if description is None:
        print(f"leadscore: no lead {args.email}", file=sys.stderr)
        return 1
    print(json_text(description) if args.format == "json" else lead_breakdown(description))
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """The recorded alerts and their delivery, from the alert table named in the environment."""
    from ..adapters.dynamodb import LeadRepository
    from ..core.events import format_timestamp
    from ..settings import Settings

    repository = LeadRepository(Settings.from_env(required=["alerts_table"]))
    items = sorted(repository.alerts(), key=lambda item: (item.occurred_at, item.alert_id))
    if args.status:
        items = [item for item in items if item.status == args.status]
    rows = [
        [
            format_timestamp(float(item.occurred_at)),
            item.name,
            item.kind,
            item.subject,
            format_number(float(item.score)),
            item.status,
            str(int(item.attempts)),
            ", ".join(item.recipients) or "-",
        ]
        for item in items
    ]
    if not rows:
        print("no alerts recorded" + (f" with status {args.status}" if args.status else ""))
        return 0
    print(render(["when", "alert", "kind", "who", "score", "status", "tries", "to"], rows, "table"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadscore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a model; list every problem with file:line:column")
    validate.add_argument("path", nargs="?", type=Path, default=DEFAULT_MODEL)
    validate.add_argument("--strict", action="store_true", help="fail on warnings too (the pull request check)")
    validate.set_defaults(run=cmd_validate)

    explain_cmd = commands.add_parser("explain", help="print the model as a table: rule, stage, readiness, points")
    explain_cmd.add_argument("path", nargs="?", type=Path, default=DEFAULT_MODEL)
    explain_cmd.add_argument(
        "--format", choices=["table", "markdown", "csv"], default="table", help="csv: the asset spreadsheet"
    )
    explain_cmd.set_defaults(run=cmd_explain)

    schema = commands.add_parser("schema", help="print the JSON Schema of model files (for editors)")
    schema.add_argument("--output", help="write to this file instead of standard output")
    schema.set_defaults(run=cmd_schema)

    sim = commands.add_parser("simulate", help="replay events and print leads, accounts and alerts")
    sim.add_argument("path", nargs="?", type=Path, default=DEFAULT_MODEL)
    sim.add_argument("--events", type=Path, action="append", required=True, help="JSON Lines file (repeatable)")
    sim.add_argument("--at", help="score as of this time (ISO 8601); default: the last event")
    sim.add_argument("--format", choices=["table", "markdown", "json"], default="table", help=ROUNDING_NOTE)
    sim.add_argument("--top", type=int, help="show only the N best leads")
    sim.add_argument("--lead", metavar="EMAIL", help="print this lead's timeline: each event, change, cap and why")
    sim.set_defaults(run=cmd_simulate)

    diff = commands.add_parser("diff", help="compare two model versions on the same events (markdown)")
    diff.add_argument("paths", nargs="*", type=Path, help="model path (with --base) or two model paths")
    diff.add_argument("--base", help="git revision of the base model, e.g. origin/main")
    diff.add_argument("--events", type=Path, action="append", required=True)
    diff.add_argument("--at", help="score as of this time (ISO 8601)")
    diff.add_argument("--fail-on-change", action="store_true", help="exit 1 when a lead changes stage")
    diff.add_argument("--format", choices=["markdown", "json"], default="markdown", help=ROUNDING_NOTE)
    diff.set_defaults(run=cmd_diff)

    demo = commands.add_parser(
        "demo", help="replay a generated funnel through the Lambda handlers on a local AWS stand-in"
    )
    demo.add_argument("--leads", type=int, default=200, help="how many leads the funnel has (default 200)")
    demo.add_argument("--seed", type=int, default=7, help="the same seed gives the same funnel (default 7)")
    demo.add_argument("--outbox", type=Path, help="folder for the emails, the page and the funnel (default outbox/)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=cmd_demo)

    add_report_command(commands)
    add_calibrate_command(commands)
    add_openapi_command(commands)
    add_import_assets_command(commands)
    add_serve_command(commands)
    add_export_command(commands)
    add_forget_command(commands)
    add_accounts_command(commands)

    alerts = commands.add_parser("alerts", help="the recorded alerts and whether each was sent (ALERTS_TABLE)")
    alerts.add_argument("--status", choices=["pending", "sending", "sent", "failed"], help="only these")
    alerts.set_defaults(run=cmd_alerts)

    lead = commands.add_parser("lead", help="a stored lead's score breakdown (tables from LEADS_TABLE etc.)")
    lead.add_argument("email")
    lead.add_argument("--format", choices=["text", "json"], default="text", help=ROUNDING_NOTE)
    lead.set_defaults(run=cmd_lead)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ModelError as error:
        print("\n".join(error.problems), file=sys.stderr)
        print(f"leadscore: {len(error.problems)} problem(s) in the model", file=sys.stderr)
        return 1
    except EventFileError as error:
        print(str(error), file=sys.stderr)
        return 1
    except SettingsError as error:
        print(f"leadscore: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"leadscore: {error.filename}: no such file", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `leadscore simulate ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
