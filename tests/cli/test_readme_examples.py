"""The README's rules-language and command-line examples, run as written: each block marked
`<!-- tested: NAME -->` is taken from the README itself, so the documentation cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leadscore.cli.main import main
from leadscore.core.compiler import compile_model
from leadscore.core.loader import ModelError, load_text
from leadscore.core.simulation import simulate
from leadscore.core.state import Event

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def example(name: str) -> str:
    found = re.search(rf"<!-- tested: {re.escape(name)} -->\n```[a-z]*\n(.*?)\n```", README, re.S)
    assert found, f"README has no example marked {name}"
    return found.group(1)


def fit_score(model_text: str, profile: dict) -> float:
    model = compile_model(load_text(model_text))
    event = Event("e1", "identify", "ann@acme.example", 1_790_000_000.0, {}, profile)
    return simulate(model, [event]).report()["leads"][0]["fit"]


def test_contains_word_matches_whole_words_only():
    text = example("contains-word")
    assert fit_score(text, {"job_title": "Intern, Data team"}) == -25
    assert fit_score(text, {"job_title": "International Sales Director"}) == 0
    assert load_text(text).warnings == ()


def test_no_is_norway():
    text = example("yaml-1.2")
    assert load_text(text).spec.rules[0].fit == {"country": ["NO", "SE", "DK", "FI"]}
    assert fit_score(text, {"country": "no"}) == 5  # text ignores case


def test_profile_fields_type_forms_and_fit_rules_once():
    text = example("profile-fields")
    loaded = load_text(text)
    assert loaded.warnings == ()
    assert fit_score(text, {"timeline": "now", "budget": 80000}) == 25
    with pytest.raises(ModelError) as error:
        load_text(text.replace("fit: {timeline: now}", "fit: {timeline: quartr}"))
    quoted = re.search(r"With `fit: \{timeline: quartr\}` instead, `validate` answers\n`(.*?)`\.\n", README, re.S)
    assert quoted
    said = quoted.group(1).replace("`` `profile_fields:` ``", "`profile_fields:`")
    assert error.value.problems == [f"model.yaml:12:21: {said}"]


def test_the_shipped_model_passes_the_strict_check(capsys):
    command = example("strict").removeprefix("$ leadscore ").split()
    assert command == ["validate", "--strict", "rules/"]
    assert main([command[0], command[1], str(ROOT / "rules")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_timeline_example_is_what_simulate_prints(capsys):
    shown = example("timeline").splitlines()
    command = shown[0].removeprefix("$ leadscore ").split()
    arguments = [str(ROOT / part) if part in ("rules", "events/sample-traffic.jsonl") else part for part in command]
    assert main(arguments) == 0
    printed = capsys.readouterr().out.splitlines()
    for line in shown[1:]:
        if line != "...":
            assert line in printed, line
