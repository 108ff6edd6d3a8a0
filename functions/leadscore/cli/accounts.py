"""`leadscore accounts spill`: every small account into an item per member, in the deployed tables.

A small account keeps its members' scores in its summary (see adapters/dynamodb.py); releases
before that read only member items. Before rolling back to one, set the stack's AccountMembers
parameter to `items` (new accounts are then written the old way) and run this: each spill is one
conditional transaction, safe next to live saves; rerun it if it reports an account that kept
changing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cmd_accounts_spill(args: argparse.Namespace) -> int:
    from ..adapters.dynamodb import LeadRepository, StorageError
    from ..settings import Settings, SettingsError

    try:
        settings = Settings.from_env(required=["accounts_table"])
    except SettingsError as error:
        print(f"leadscore accounts spill: {error}: set it to the deployed stack's AccountsTable", file=sys.stderr)
        return 2
    try:
        spilled, large = LeadRepository(settings).spill_all()
    except StorageError as error:
        print(f"leadscore accounts spill: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"spilled": spilled, "large_already": large}, sort_keys=True))
    return 0


def add_accounts_command(commands: Any) -> None:
    accounts = commands.add_parser("accounts", help="operations on the deployed accounts table (ACCOUNTS_TABLE)")
    actions = accounts.add_subparsers(dest="action", required=True)
    spill = actions.add_parser(
        "spill",
        help="every small account into an item per member (before rolling back to a release without inline members)",
    )
    spill.set_defaults(run=cmd_accounts_spill)
