"""Loading the shipped model, the version hash, and the JSON Schema editors use."""

from __future__ import annotations

from pathlib import Path

from leadscore.core.loader import load_model, load_text
from leadscore.core.source import merge_documents, model_files, parse_yaml
from leadscore.core.spec import json_schema

RULES = Path(__file__).resolve().parents[2] / "rules"
SMALL = "rules:\n  - id: wp  # a comment\n    when: {event: download}\n    readiness: 30%\n"


def test_shipped_model_loads_from_its_three_files():
    loaded = load_model(RULES, display_base=RULES.parent)
    assert loaded.sources == ("rules/behaviour.yaml", "rules/fit.yaml", "rules/model.yaml")
    assert len(loaded.spec.rules) == 36
    assert loaded.spec.sales_ready_score == 100


def test_version_hash_ignores_comments_and_layout():
    reformatted = "rules:\n- id: wp\n  when:\n    event: download\n  readiness: 30%   # thirty\n"
    assert load_text(SMALL).version == load_text(reformatted).version


def test_version_hash_changes_when_a_number_changes():
    assert load_text(SMALL).version != load_text(SMALL.replace("30%", "31%")).version


def test_defaults_fill_the_seed_stages():
    spec = load_text(SMALL).spec
    assert [(s.id, s.min, s.max) for s in spec.stages] == [
        ("awareness", 0, 32),
        ("consideration", 33, 66),
        ("decision", 67, 99),
        ("sales_ready", 100, None),
    ]


def test_shipped_model_validates_against_the_json_schema():
    import jsonschema

    docs = [parse_yaml(path.read_text(), path.name) for path in model_files(RULES)]
    merged = merge_documents(docs).data
    jsonschema.Draft202012Validator.check_schema(json_schema())
    errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(merged))
    assert errors == []


def test_json_schema_flags_what_the_loader_rejects():
    import jsonschema

    validator = jsonschema.Draft202012Validator(json_schema())
    bad = {"rules": [{"id": "wp", "when": {"event": "download"}, "redainess": "30%"}]}
    assert any("redainess" in error.message for error in validator.iter_errors(bad))
