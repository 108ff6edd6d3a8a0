"""Model YAML is read as a person means it (YAML 1.2 core schema), not as YAML 1.1 guesses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from leadscore.core.loader import load_model, load_text
from leadscore.core.matchers import compile_condition
from leadscore.core.source import model_files, parse_yaml
from leadscore.core.spec import Operators

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("NO", "NO"),
        ("no", "no"),
        ("yes", "yes"),
        ("Yes", "Yes"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("n", "n"),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("1:30", "1:30"),
        ("2026-01-05", "2026-01-05"),
        ("010", 10),
        ("0o10", 8),
        ("0x1F", 31),
        ("-7", -7),
        ("1_000", "1_000"),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("null", None),
        ("~", None),
        ("", None),
        ('"true"', "true"),
        ("'010'", "010"),
    ],
)
def test_plain_values_follow_the_yaml_1_2_core_schema(written: str, read: Any) -> None:
    value = parse_yaml(f"value: {written}\n", "t.yaml").data["value"]
    assert value == read and type(value) is type(read)


def test_keys_are_kept_as_written() -> None:
    assert list(parse_yaml("routes: {NO: a, yes: b, 010: c}\n", "t.yaml").data["routes"]) == ["NO", "yes", "010"]


def _differences(one: Any, other: Any, loc: tuple = ()) -> list[tuple[tuple, Any, Any]]:
    """Every path where two readings of the same file disagree (keys and values)."""
    if isinstance(one, dict) and isinstance(other, dict):
        found = []
        for (key_a, a), (key_b, b) in zip(one.items(), other.items(), strict=True):
            if key_a != key_b:
                found.append(((*loc, key_a), key_a, key_b))
            found += _differences(a, b, (*loc, key_a))
        return found
    if isinstance(one, list) and isinstance(other, list):
        return [d for i, (a, b) in enumerate(zip(one, other, strict=True)) for d in _differences(a, b, (*loc, i))]
    return [] if (one == other and type(one) is type(other)) else [(loc, one, other)]


def test_the_shipped_model_has_no_value_changed_by_yaml_1_1_except_the_known_country_code() -> None:
    # Given every file of the shipped model read twice: as YAML 1.1 (PyYAML) and as this project reads it
    found = []
    for path in model_files(RULES):
        text = path.read_text(encoding="utf-8")
        for loc, ours, theirs in _differences(parse_yaml(text, path.name).data, yaml.safe_load(text)):
            found.append((path.name, loc, ours, theirs))
    # Then the only difference is Norway's code, which YAML 1.1 turns into false
    rule = [r["id"] for r in yaml.safe_load((RULES / "fit.yaml").read_text())["rules"]].index("nordic-country")
    assert found == [("fit.yaml", ("rules", rule, "fit", "country", 0), "NO", False)]


def test_the_shipped_model_reads_norway_as_text_and_says_so() -> None:
    loaded = load_model(RULES, display_base=RULES.parent)
    nordic = next(rule for rule in loaded.spec.rules if rule.id == "nordic-country")
    assert nordic.fit == {"country": ["NO", "SE", "DK", "FI", "NL", "BE"]}
    assert [reading.note() for reading in loaded.readings] == [
        "rules/fit.yaml:28:21: NO is read as the text 'NO' (YAML 1.1 tools would read false)"
    ]


def test_a_model_readings_list_every_ambiguous_value_with_its_position() -> None:
    loaded = load_text("rules:\n  - id: nordic\n    fit: {country: [NO, SE], answer: yes}\n    points: 5\n")
    assert [reading.note() for reading in loaded.readings] == [
        "model.yaml:3:21: NO is read as the text 'NO' (YAML 1.1 tools would read false)",
        "model.yaml:3:38: yes is read as the text 'yes' (YAML 1.1 tools would read true)",
    ]


def test_pasted_characters_are_warnings_at_their_exact_position() -> None:
    text = (
        "profile_fields: {job_title: text}\n"
        "rules:\n"
        "  - id: senior\n"
        "    description: It’s the “senior” rule\n"  # prose: typographic quotes are fine
        "    fit: {job_title: {contains: [“director”, head\u00a0of, vp\u200b]}}\n"
        "    points: 5\n"
    )
    assert load_text(text).warnings == (
        "model.yaml:5:34: warning: rule senior: fit.job_title.contains[0]: a curly quote “ in '“director”' "
        "(pasted from a word processor?) is part of the value, so it will not match; use straight quotes ' or \" or none",
        "model.yaml:5:50: warning: rule senior: fit.job_title.contains[1]: a non-breaking space (U+00A0) in "
        "'head\\xa0of' does not match a normal space; retype the space",
        "model.yaml:5:57: warning: rule senior: fit.job_title.contains[2]: an invisible zero-width space (U+200B) "
        "in 'vp\\u200b' makes it differ from what it looks like; delete it",
    )


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        ("HR manager", True),
        ("Head of hr", True),
        ("hr/people", True),
        ("Chrome", False),
        ("Three", False),
        ("", False),
    ],
)
def test_contains_word_matches_whole_words_only(value: str, matches: bool) -> None:
    test, absent_matches = compile_condition(Operators(contains_word="hr"))
    assert test(value) is matches and absent_matches is False


def test_contains_word_matches_a_phrase_across_spaces_and_any_of_a_list() -> None:
    test, _ = compile_condition(Operators(contains_word=["head of", "VP"]))
    assert [test(v) for v in ["Head  of Sales", "head office", "vp marketing", "MVP"]] == [True, False, True, False]
