"""Parsing of the two units marketers write by hand: durations ("30d") and percentages ("30%")."""

from __future__ import annotations

import re

DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?[smhdw]$"
PERCENT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?%$"

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_RE = re.compile(DURATION_PATTERN)
_PERCENT_RE = re.compile(PERCENT_PATTERN)

DAY = 86400


def duration_seconds(text: str) -> float:
    """'90s', '15m', '12h', '30d', '2w' -> seconds."""
    if not isinstance(text, str) or not _DURATION_RE.match(text):
        raise ValueError(f"{text!r} is not a duration; write a number and a unit, like 30d, 12h or 2w")
    return float(text[:-1]) * _SECONDS[text[-1]]


def percent_fraction(text: str) -> float:
    """'30%' -> 0.3; negative percentages are allowed for negative rules."""
    if not isinstance(text, str) or not _PERCENT_RE.match(text):
        raise ValueError(f"{text!r} is not a percentage; write it like 30%")
    return float(text[:-1]) / 100.0


def format_number(value: float) -> str:
    """Scores print as integers when they are whole, so tables stay readable."""
    if value in (float("inf"), float("-inf")):
        return "unlimited" if value > 0 else "-unlimited"
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")
