"""The indexed rule selection picks exactly the rules a brute-force loop over all conditions picks.

Rules are indexed by one condition each (exact texts by hash, wildcard patterns by literal prefix,
numeric ranges by sorted bounds); the index only narrows the candidates, so on any model and any
properties the matched rules, and their order, must be those of the plain loop.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.core import compiler
from leadscore.core.compiler import build_matcher, build_scan_matcher, compile_rule, matches

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ["url", "kind", "percent", "asset"]
# Texts that fold in surprising ways: sharp s, the Kelvin sign, long s, dotted capital I.
TEXTS = ["a", "A", "ab", "AB", "abc", "b", "10", "2.5", "ß", "ss", "\u212a", "k", "K", "\u017f", "s", "\u0130", "i", ""]
GLOBS = ["a*", "ab*", "A?*", "abc*", "x[ab]*", "*b", "ß*", "k*", "\u212a*", "s*", "10*", "?", "a", "i*"]
NUMBERS = [0, 1, 2.5, 10, 50, 99, 100, -3]

scalars = st.one_of(st.sampled_from(TEXTS), st.sampled_from(NUMBERS), st.booleans())
patterns = st.sampled_from(GLOBS)


@st.composite
def ranges(draw: st.DrawFn) -> dict[str, float]:
    low, high = draw(st.sampled_from([None, *NUMBERS])), draw(st.sampled_from([None, *NUMBERS]))
    result = {}
    if low is not None:
        result["min"] = low
    if high is not None:
        result["max"] = high
    return result or {"min": 0}


conditions = st.one_of(
    scalars,
    st.lists(st.one_of(scalars, patterns), min_size=1, max_size=3),
    patterns,
    ranges(),
    st.builds(lambda g: {"glob": g}, st.one_of(patterns, st.lists(patterns, min_size=1, max_size=3))),
    st.builds(lambda r, g: {**r, "glob": g}, ranges(), patterns),
    st.builds(lambda v: {"any_of": v}, st.lists(scalars, min_size=1, max_size=3)),
    st.builds(lambda v: {"not": v}, scalars),
    st.builds(lambda v: {"contains": v}, st.sampled_from(TEXTS[:6])),
    st.just({"exists": False}),
    st.just({"exists": True}),
)
rules = st.lists(st.dictionaries(st.sampled_from(FIELDS), conditions, max_size=3), min_size=1, max_size=60)
values = st.one_of(
    st.sampled_from(TEXTS),
    st.builds(lambda a, b: a + b, st.sampled_from(TEXTS), st.sampled_from(TEXTS)),
    st.sampled_from(NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(TEXTS), max_size=2),
    st.text(max_size=4),
)
properties = st.dictionaries(st.sampled_from(FIELDS), values)


def compiled(written: list[dict]) -> tuple:
    return tuple(
        compile_rule({"id": f"r{index}", "when": {"event": "e", **when}, "points": 1}, 100)
        for index, when in enumerate(written)
    )


def brute_force(rules: tuple, props: dict) -> list[str]:
    return [rule.id for rule in rules if matches(rule.conditions, props)]


@settings(max_examples=300, deadline=None)
@given(written=rules, events=st.lists(properties, min_size=1, max_size=8))
def test_indexed_selection_equals_brute_force_on_random_models(written, events):
    model_rules = compiled(written)
    indexed = build_matcher(model_rules)
    for props in events:
        assert [rule.id for rule in indexed(props)] == brute_force(model_rules, props)


def test_overlapping_ranges_fall_back_to_testing_every_rule_and_stay_exact():
    # Given forty open-ended ranges (every interval is covered by many rules)
    model_rules = compiled([{"percent": {"min": n}} for n in range(40)] + [{"kind": "a"}])
    indexed = build_matcher(model_rules)
    for value in [-1, 0, 0.5, 7, 39, 40, "12", None, "x"]:
        # Then the selection is still exact
        assert [r.id for r in indexed({"percent": value, "kind": "A"})] == brute_force(
            model_rules, {"percent": value, "kind": "A"}
        )


def test_a_large_model_evaluates_only_candidate_rules():
    # Given 1,000 rules, each on its own URL prefix, campaign or percent band
    written = [{"url": f"https://example.com/s{n}/*"} for n in range(400)]
    written += [{"campaign": f"c{n}"} for n in range(400)]
    written += [{"percent": {"min": n, "max": n + 0.5}} for n in range(200)]
    model_rules = compiled(written)
    calls = []
    indexed = build_matcher(model_rules)

    def counting_get(props: dict):
        class Props(dict):
            def get(self, key, default=None):
                calls.append(key)
                return super().get(key, default)

        return Props(props)

    # When an event matches one rule of each kind
    found = indexed(counting_get({"url": "https://example.com/s17/x", "campaign": "C3", "percent": 150.2}))
    # Then those rules are selected, reading a handful of properties, not one per rule
    assert [r.id for r in found] == ["r17", "r403", "r950"]
    assert len(calls) < 20


def test_small_rule_sets_keep_the_generated_scan():
    few = compiled([{"kind": "a"}] * (compiler.INDEX_MIN_RULES - 1))
    assert build_matcher(few).__name__ == build_scan_matcher(few).__name__ == "match"
    assert [r.id for r in build_matcher(few)({"kind": "A"})] == [r.id for r in few]
