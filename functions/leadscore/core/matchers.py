"""Turns written conditions into small precompiled predicates over one field's value.

Text comparisons ignore case (marketers write 'Director', forms send 'director'); wildcard
patterns and lists compile to one regular expression or set, so matching stays O(1) per
condition whatever the number of alternatives. Conditions come as plain data (the JSON a build
writes) or as the validated spec's objects; nothing here imports pydantic. Each test exposes
what the compiler's rule index needs: its texts, wildcard patterns or numeric range.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from typing import Any

from .frozen import operators as frozen_operators

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


def literal_prefix(pattern: str) -> str:
    """The text every match of a wildcard pattern starts with: up to its first *, ? or [ set."""
    cuts = [i for i in (pattern.find("*"), pattern.find("?"), pattern.find("[")) if i >= 0]
    return pattern[: min(cuts)] if cuts else pattern


def _glob_regex(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE)


def _one_of(values: list[Any]) -> Test:
    """Equality with any of `values`; text values with * or ? are wildcard patterns."""
    texts = {as_text(v) for v in values if not (isinstance(v, str) and is_wildcard(v))}
    numbers = {n for v in values if isinstance(v, int | float) and (n := as_number(v)) is not None}
    globs = [v for v in values if isinstance(v, str) and is_wildcard(v)]

    if not numbers and not globs:
        return text_test(frozenset(texts))
    if not numbers and not texts:
        return glob_test(globs)
    pattern = GlobTest(globs) if globs else None

    def one_of(value: Any) -> bool:
        if (value.casefold() if type(value) is str else as_text(value)) in texts:
            return True
        if numbers and as_number(value) in numbers:
            return True
        return pattern is not None and isinstance(value, str) and pattern.glob_match()(value) is not None

    return one_of


def text_test(texts: frozenset[str]) -> Test:
    """Equal to one of these texts, ignoring case. `text_values` lets the compiler inline and index it."""

    def text_in(value: Any) -> bool:
        return (value.casefold() if type(value) is str else as_text(value)) in texts

    text_in.text_values = texts  # type: ignore[attr-defined]
    return text_in


class GlobTest:
    """Matches wildcard patterns (one regex for all), ignoring case; the regex is compiled on first use,
    so compiling a model of thousands of rules does not compile thousands of regexes up front.

    `glob_patterns` (as written) lets the compiler index the rule by each pattern's literal
    prefix; `glob_match()` gives the compiled regex's match, which the generated scan inlines.
    """

    __slots__ = ("_match", "glob_patterns")

    def __init__(self, patterns: list[str]) -> None:
        self.glob_patterns = tuple(patterns)
        self._match: Callable[[str], Any] | None = None

    def glob_match(self) -> Callable[[str], Any]:
        if self._match is None:
            self._match = _glob_regex(list(self.glob_patterns)).match
        return self._match

    def __call__(self, value: Any) -> bool:
        return type(value) is str and (self._match or self.glob_match())(value) is not None


def glob_test(patterns: list[str]) -> Test:
    return GlobTest(patterns)


def range_test(low: float, high: float) -> Test:
    """A finite number within [low, high]. `range_bounds` lets the compiler index the rule."""

    def in_range(value: Any) -> bool:
        number = as_number(value)
        return number is not None and low <= number <= high

    in_range.range_bounds = (low, high)  # type: ignore[attr-defined]
    return in_range


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


def operators_of(condition: Any) -> dict[str, Any] | None:
    """A condition's operators as plain data (`not` as written), or None for a value or list condition."""
    if isinstance(condition, dict):
        return condition
    if hasattr(condition, "model_dump"):  # the validated spec's Operators
        dumped: dict[str, Any] = condition.model_dump(by_alias=True)
        return dumped
    return frozen_operators(condition)  # the built model's Operators; None for a value or list


def _operator_tests(ops: dict[str, Any]) -> list[Test]:
    tests: list[Test] = []
    if ops.get("equals") is not None:
        tests.append(_one_of([ops["equals"]]))
    if ops.get("any_of") is not None:
        tests.append(_one_of(ops["any_of"]))
    if ops.get("not") is not None:
        excluded = _one_of(_listify(ops["not"]))
        tests.append(lambda value: not excluded(value))
    if ops.get("glob") is not None:
        tests.append(glob_test(_listify(ops["glob"])))
    if ops.get("regex") is not None:
        search = re.compile(ops["regex"]).search
        tests.append(lambda value: search(value if isinstance(value, str) else as_text(value)) is not None)
    if ops.get("contains") is not None:
        needles = tuple(n.casefold() for n in _listify(ops["contains"]))
        tests.append(lambda value: any(n in as_text(value) for n in needles))
    if ops.get("contains_word") is not None:
        search_word = whole_words(_listify(ops["contains_word"])).search
        tests.append(lambda value: search_word(value if isinstance(value, str) else as_text(value)) is not None)
    if ops.get("min") is not None or ops.get("max") is not None:
        low = -math.inf if ops.get("min") is None else ops["min"]
        high = math.inf if ops.get("max") is None else ops["max"]
        tests.append(range_test(low, high))
    if ops.get("domain") is not None:
        tests.append(_domain_test(_listify(ops["domain"])))
    return tests


def compile_condition(condition: Any) -> tuple[Test, bool]:
    """(test for a present value, whether an absent field matches).

    A test of several operators keeps them in `parts`: the compiler may index the rule by any
    one of them, since all must hold.
    """
    ops = operators_of(condition)
    if ops is not None:
        if ops.get("exists") is False:
            return (lambda value: False), True
        tests = _operator_tests(ops)
        if not tests:  # only `exists: true`
            return (lambda value: value != ""), False
        if len(tests) == 1:
            return tests[0], False

        def all_of(value: Any) -> bool:
            return all(test(value) for test in tests)

        all_of.parts = tuple(tests)  # type: ignore[attr-defined]
        return all_of, False
    return _one_of(_listify(condition)), False
