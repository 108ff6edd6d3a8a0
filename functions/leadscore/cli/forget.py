"""`leadscore forget EMAIL`: erase a lead everywhere from the deployed tables (the right to be forgotten).

The same erasure as DELETE /leads/{email} (service/forgetting.py), run by an operator with the
tables named in the environment (LEADS_TABLE etc.). The audit hash key is derived from the
tracking secret (TRACKING_SECRET_PARAMETER, read from SSM) unless --audit-secret is given, so
records written by the route and by the command hash the same address the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _principal() -> str:
    try:
        import boto3

        return str(boto3.client("sts").get_caller_identity()["Arn"])
    except Exception:  # noqa: BLE001 - no credentials for STS (a local run): say so in the record
        return "unknown (leadscore forget)"


def _tracking_secret(name: str) -> str:
    import boto3

    value = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    return next(line.strip() for line in str(value).splitlines() if line.strip())


def cmd_forget(args: argparse.Namespace) -> int:
    from ..core.events import parse_email

    address = parse_email(args.email)
    if address is None:
        print(f"leadscore forget: {args.email[:80]!r} is not an email address", file=sys.stderr)
        return 2
    if not args.yes:
        if not sys.stdin.isatty():
            print("leadscore forget: add --yes to erase without a question", file=sys.stderr)
            return 2
        answer = input(f"Erase {address} from every table? This cannot be undone. Type the address: ")
        if answer.strip().casefold() != address:
            print("leadscore forget: not confirmed; nothing erased", file=sys.stderr)
            return 1
    from ..adapters.dynamodb import LeadRepository
    from ..service.forgetting import Forgetting, audit_key
    from ..settings import STORAGE, Settings

    settings = Settings.from_env(required=STORAGE)
    secret = args.audit_secret
    if secret is None:
        if not settings.tracking_secret_parameter:
            print("leadscore forget: set TRACKING_SECRET_PARAMETER or pass --audit-secret", file=sys.stderr)
            return 2
        secret = _tracking_secret(settings.tracking_secret_parameter)
    report = Forgetting(LeadRepository(settings), audit_key(secret)).forget(address, _principal())
    result: dict[str, Any] = {"deleted": report.deleted(), "audit": report.audit}
    print(json.dumps(result, sort_keys=True))
    if report.audit is None:
        print("leadscore forget: nothing stored for that address (already forgotten?)", file=sys.stderr)
    return 0


def add_forget_command(commands: Any) -> None:
    forget = commands.add_parser(
        "forget", help="erase a lead, its events, history, visitors, alerts and account membership (LEADS_TABLE etc.)"
    )
    forget.add_argument("email")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.add_argument(
        "--audit-secret", help="the secret the audit hash key is derived from (default: the tracking secret in SSM)"
    )
    forget.set_defaults(run=cmd_forget)
