"""`leadscore serve`: the CLI registration of local/serve.py (every function of template.yaml, locally)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_serve(args: argparse.Namespace) -> int:
    from ..local.serve import options_from, run

    return run(options_from(args))


def add_serve_command(commands: Any) -> None:
    from ..local.serve import add_arguments

    serve = commands.add_parser(
        "serve",
        help="run every function of template.yaml locally on moto's server: HTTP routes, queue consumer, "
        "alert notifier, schedules (Ctrl-C stops it)",
    )
    add_arguments(serve)
    serve.set_defaults(run=cmd_serve)
