"""Turns written conditions into small precompiled predicates over one field's value.

Text comparisons ignore case (marketers write 'Director', forms send 'director'); wildcard
patterns and lists compile to one regular expression or set, so matching stays O(1) per
condition whatever the number of alternatives.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from typing import Any

from .spec import Operators

Test = Callable[[Any], bool]


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).casefold()


def as_number(value: Any) -> float | None:
    """A finite number, or None: NaN, infinities ('inf', 'nan' text too) and huge integers match no min/max."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):  # float() of an int past ~1e308 overflows
            return None
        return number if math.isfinite(number) else None
    return None


def is_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _glob_regex(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE)


def _one_of(values: list[Any]) -> Test:
    """Equality with any of `values`; text values with * or ? are wildcard patterns."""
    texts = {as_text(v) for v in values if not (isinstance(v, str) and is_wildcard(v))}
    numbers = {n for v in values if isinstance(v, int | float) and (n := as_number(v)) is not None}
    globs = [v for v in values if isinstance(v, str) and is_wildcard(v)]
    pattern = _glob_regex(globs) if globs else None

    if not numbers and pattern is None:
        return text_test(frozenset(texts))
    if not numbers and not texts and pattern is not None:
        return glob_test(pattern)

    def one_of(value: Any) -> bool:
        if (value.casefold() if type(value) is str else as_text(value)) in texts:
            return True
        if numbers and as_number(value) in numbers:
            return True
        return pattern is not None and isinstance(value, str) and pattern.match(value) is not None

    return one_of


def text_test(texts: frozenset[str]) -> Test:
    """Equal to one of these texts, ignoring case. `text_values` lets the compiler inline it."""

    def text_in(value: Any) -> bool:
        return (value.casefold() if type(value) is str else as_text(value)) in texts

    text_in.text_values = texts  # type: ignore[attr-defined]
    return text_in


def glob_test(pattern: re.Pattern[str]) -> Test:
    """Matches wildcard patterns compiled to one regex. `glob_match` lets the compiler inline it."""
    match = pattern.match

    def matches_glob(value: Any) -> bool:
        return type(value) is str and match(value) is not None

    matches_glob.glob_match = match  # type: ignore[attr-defined]
    return matches_glob


def whole_words(words: list[str]) -> re.Pattern[str]:
    """Any of `words` standing alone, ignoring case: spaces inside a word match any run of spaces."""
    parts = [r"\s+".join(re.escape(piece) for piece in word.split()) for word in words if word.strip()]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts or [r"(?!)"]) + r")(?!\w)", re.IGNORECASE)


def _domain_test(domains: list[str]) -> Test:
    wanted = tuple(d.casefold().lstrip("@") for d in domains)

    def at_domain(value: Any) -> bool:
        if not isinstance(value, str) or "@" not in value:
            return False
        domain = value.rsplit("@", 1)[1].casefold()
        return any(domain == d or domain.endswith("." + d) for d in wanted)

    return at_domain


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _operator_tests(ops: Operators) -> list[Test]:
    tests: list[Test] = []
    if ops.equals is not None:
        tests.append(_one_of([ops.equals]))
    if ops.any_of is not None:
        tests.append(_one_of(ops.any_of))
    if ops.not_ is not None:
        excluded = _one_of(_listify(ops.not_))
        tests.append(lambda value: not excluded(value))
    if ops.glob is not None:
        tests.append(glob_test(_glob_regex(_listify(ops.glob))))
    if ops.regex is not None:
        search = re.compile(ops.regex).search
        tests.append(lambda value: search(value if isinstance(value, str) else as_text(value)) is not None)
    if ops.contains is not None:
        needles = tuple(n.casefold() for n in _listify(ops.contains))
        tests.append(lambda value: any(n in as_text(value) for n in needles))
    if ops.contains_word is not None:
        search = whole_words(_listify(ops.contains_word)).search
        tests.append(lambda value: search(value if isinstance(value, str) else as_text(value)) is not None)
    if ops.min is not None or ops.max is not None:
        low = -math.inf if ops.min is None else ops.min
        high = math.inf if ops.max is None else ops.max

        def in_range(value: Any) -> bool:
            number = as_number(value)
            return number is not None and low <= number <= high

        tests.append(in_range)
    if ops.domain is not None:
        tests.append(_domain_test(_listify(ops.domain)))
    return tests


def compile_condition(condition: Any) -> tuple[Test, bool]:
    """(test for a present value, whether an absent field matches)."""
    if isinstance(condition, Operators):
        if condition.exists is False:
            return (lambda value: False), True
        tests = _operator_tests(condition)
        if not tests:  # only `exists: true`
            return (lambda value: value != ""), False
        if len(tests) == 1:
            return tests[0], False
        return (lambda value: all(test(value) for test in tests)), False
    return _one_of(_listify(condition)), False
