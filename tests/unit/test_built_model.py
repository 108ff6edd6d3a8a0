"""The model as `sam build` leaves it in the rules layer: validated once at build time, read by
cold starts without YAML or pydantic (its spec as plain frozen objects), and never used when it no longer matches the
files beside it."""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.core.built import BUILT_NAME, load_deployed, read_built
from leadscore.core.compiler import compile_model
from leadscore.core.events import parse_event
from leadscore.core.frozen import DEFAULT_NPS, Frozen, freeze
from leadscore.core.loader import load_model
from leadscore.core.matchers import operators_of
from leadscore.core.simulation import simulate
from leadscore.core.spec import NpsSpec, Operators

ROOT = Path(__file__).resolve().parents[2]
TRAFFIC = ROOT / "events" / "sample-traffic.jsonl"

# A fresh interpreter, as a Lambda cold start: load the layer's model, score the sample traffic,
# and report what had to be imported or built to do it.
COLD_START = """
import json, sys
from leadscore.core.built import load_deployed
from leadscore.core.events import parse_event
from leadscore.core.simulation import simulate
model = load_deployed(sys.argv[1])
events = [parse_event(json.loads(line)) for line in open(sys.argv[2])]
result = simulate(model, events, max(e.ts for e in events) + 40 * 86400)
imported = [name for name in ("yaml", "leadscore.core.loader", "pydantic", "leadscore.core.spec") if name in sys.modules]
print(json.dumps({"version": model.version, "scores": {l: [s.engagement, s.stage, s.rule_points] for l, s in result.leads.items()},
                  "imported": imported}))
"""


def build_layer(target: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "scripts/build_rules_layer.py", "rules", str(target)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "validated model stored for cold starts" in result.stdout
    return target


def expected_scores() -> tuple[str, dict[str, list]]:
    model = compile_model(load_model(ROOT / "rules"))
    events = [parse_event(json.loads(line)) for line in TRAFFIC.read_text().splitlines() if line.strip()]
    result = simulate(model, events, max(e.ts for e in events) + 40 * 86400)
    return model.version, {lead: [state.engagement, state.stage, state.rule_points] for lead, state in result.leads.items()}


def test_a_cold_start_scores_from_the_built_model_without_yaml_or_pydantic(tmp_path):
    layer = build_layer(tmp_path / "python")
    assert (layer / BUILT_NAME).is_file()
    run = subprocess.run(
        [sys.executable, "-c", COLD_START, str(layer), str(TRAFFIC)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "functions"), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    cold = json.loads(run.stdout)
    version, scores = expected_scores()
    assert cold["version"] == version and cold["scores"] == scores  # the same model, the same scores
    assert cold["imported"] == []  # no YAML read, no validation code, not even pydantic imported


def test_a_model_file_edited_after_the_build_is_read_from_its_yaml_with_a_warning(tmp_path, caplog):
    layer = build_layer(tmp_path / "python")
    behaviour = layer / "behaviour.yaml"
    behaviour.write_text(behaviour.read_text() + "\n# edited after the build\n")
    assert read_built(layer)[0] is None
    with caplog.at_level(logging.WARNING, logger="leadscore.core.built"):
        model = load_deployed(layer)
    assert "does not match the files beside it" in caplog.text
    assert model.version == compile_model(load_model(layer)).version  # the edited files' model


def test_a_built_model_that_cannot_be_read_here_falls_back_to_the_yaml(tmp_path, caplog):
    layer = build_layer(tmp_path / "python")
    path = layer / BUILT_NAME
    header, _, body = path.read_bytes().partition(b"\n")
    path.write_bytes(header + b"\n" + body[: len(body) // 2])  # e.g. another library version's format
    with caplog.at_level(logging.WARNING, logger="leadscore.core.built"):
        model = load_deployed(layer)
    assert "cannot be read here" in caplog.text
    assert model.version == compile_model(load_model(ROOT / "rules")).version


def test_a_folder_without_a_built_model_is_read_from_its_yaml_silently(tmp_path, caplog):
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    with caplog.at_level(logging.WARNING, logger="leadscore.core.built"):
        model = load_deployed(tmp_path / "rules")
    assert caplog.text == ""
    assert model.version == compile_model(load_model(ROOT / "rules")).version


def test_the_built_spec_reads_as_the_validated_one_without_pydantic(tmp_path):
    loaded = load_model(ROOT / "rules")
    built, why = read_built(build_layer(tmp_path / "python"))
    assert built is not None, why
    spec, validated = built[0].spec, loaded.spec
    assert spec == freeze(validated) and isinstance(spec, Frozen)
    # every field, at every depth, has the validated value: compared through JSON, which both give
    assert json.loads(json.dumps(spec, default=vars)) == json.loads(json.dumps(validated.model_dump(mode="json")))
    assert spec.trusted() == validated.trusted()
    assert {n: f.captured_groups() for n, f in spec.forms.items()} == {
        n: f.captured_groups() for n, f in validated.forms.items()
    }
    assert {n: a.resolved_kind(n) for n, a in spec.alerts.items()} == {
        n: a.resolved_kind(n) for n, a in validated.alerts.items()
    }
    with pytest.raises(AttributeError, match="frozen"):
        spec.name = "changed"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_the_default_nps_settings_are_the_specs_defaults():
    assert freeze(NpsSpec()) == DEFAULT_NPS


def test_a_frozen_condition_reads_as_the_operators_it_was_written_with():
    condition = Operators.model_validate({"not": ["student", "intern"], "contains": "manager"})
    assert operators_of(freeze(condition)) == operators_of(condition)
    assert operators_of(freeze(condition))["not"] == ["student", "intern"]
