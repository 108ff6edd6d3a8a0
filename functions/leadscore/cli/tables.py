"""Plain-text and Markdown tables for terminal output and pull-request comments, and JSON as tables round."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

DECIMALS = 2  # what format_number shows; JSON output rounds to the same places
ROUNDING_NOTE = (
    "numbers in JSON are rounded to 2 decimals as the tables show them (whole numbers without a decimal point)"
)


def rounded(value: Any) -> Any:
    """`value` with every float rounded to DECIMALS places, so JSON says 63.74, never 63.74000000000001."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        number = round(value, DECIMALS)
        return int(number) if number.is_integer() else number
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def json_text(data: Any) -> str:
    """Machine output: sorted keys, numbers rounded as the tables round them (see ROUNDING_NOTE)."""
    return json.dumps(rounded(data), indent=2, sort_keys=True, default=str)


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def render(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    fmt: str = "table",
    max_width: int | None = None,
    shrink: Sequence[tuple[int, int]] = (),
) -> str:
    """A table; with `max_width`, the (column, narrowest) pairs in `shrink` give way, widest first, with an ellipsis."""
    cells = [[str(cell) for cell in row] for row in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    if max_width is not None:
        _fit(widths, max_width, dict(shrink))
        cells = [[ellipsis(c, w) for c, w in zip(row, widths, strict=True)] for row in cells]
    line = "  ".join(ellipsis(h, w).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join([line, rule, *body])


def _fit(widths: list[int], max_width: int, narrowest: dict[int, int]) -> None:
    """Narrow the shrinkable columns one character at a time, the widest first, until the table fits."""
    while sum(widths) + 2 * (len(widths) - 1) > max_width:
        candidates = [column for column, least in narrowest.items() if widths[column] > least]
        if not candidates:
            return
        widest = max(candidates, key=lambda column: (widths[column] - narrowest[column], -column))
        widths[widest] -= 1
