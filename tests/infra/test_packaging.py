"""`sam build` really puts the scoring model into the deployable artifact, and it loads there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.core.loader import load_model

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    if not SAM.exists() or sys.version_info[:2] != (3, 13):
        message = "sam build needs scripts/sam-cli.sh and Python 3.13 (the Lambda runtime)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    build_dir = tmp_path_factory.mktemp("aws-sam") / "build"
    environment = {
        **os.environ,
        # sam build looks for the runtime's interpreter, python3.13, on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
    }
    result = subprocess.run(
        [
            str(SAM),
            "build",
            "ScoringFunction",
            "--template-file",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(build_dir),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build_dir


def test_the_model_ships_in_the_rules_layer(built):
    layer = built / "RulesLayer" / "python"
    assert sorted(p.name for p in layer.glob("*.yaml")) == ["behaviour.yaml", "fit.yaml", "model.yaml"]
    assert (layer / "model.pickle").is_file()  # the validated model, for cold starts
    assert load_model(layer).version == load_model(ROOT / "rules").version


def test_the_function_artifact_holds_the_code_and_its_dependencies(built):
    function = built / "ScoringFunction"
    for needed in (
        "leadscore/handlers/consumer.py",
        "leadscore/core/engine.py",
        "pynamodb",
        "pydantic",
        "yaml",
        "aws_lambda_powertools",
    ):
        assert (function / needed).exists(), needed


# Every handler module a function of the template names (Handler: leadscore.handlers.<name>.handler).
HANDLERS = sorted(
    {
        line.split("leadscore.handlers.")[1].split(".")[0]
        for line in (ROOT / "template.yaml").read_text().splitlines()
        if "Handler: leadscore.handlers." in line
    }
)


def test_the_built_handler_loads_the_model_from_the_layer_path(built):
    # As on Lambda: code from the function artifact, the model from the layer (MODEL_PATH)
    # -S: no site-packages at all, so every import must come from the artifact itself
    code = (
        f"import sys; sys.path.insert(0, {str(built / 'ScoringFunction')!r}); "
        f"from leadscore.handlers import runtime, {', '.join(HANDLERS)}; import leadscore; "
        f"assert leadscore.__file__.startswith({str(built)!r}); "
        "from leadscore.service.scoring import load_compiled_model; from leadscore.settings import Settings; "
        "m = runtime.model(); print(m.version, len(m.spec.rules), load_compiled_model(Settings.from_env()).version); "
        # the validated model the build stored, not the YAML: no YAML parser, no loader, and not even
        # pydantic or the spec's classes (the build stores the spec as plain frozen objects)
        "print([name for name in ('yaml', 'leadscore.core.loader', 'pydantic', 'leadscore.core.spec') "
        "if name in sys.modules]); "
        f"import pydantic; assert pydantic.__file__.startswith({str(built)!r})"  # shipped for a YAML fallback
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        cwd=built,
        env={
            "MODEL_PATH": str(built / "RulesLayer" / "python"),
            "PATH": "/usr/bin:/bin",
            "AWS_DEFAULT_REGION": "eu-west-1",
        },
    )
    assert result.returncode == 0, result.stderr[-2000:]
    expected = load_model(ROOT / "rules")
    assert result.stdout.split("\n")[:2] == [f"{expected.version} {len(expected.spec.rules)} {expected.version}", "[]"]


def _pyc_flags(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[4:8], "little")  # PEP 552: bit 0 hash-based, bit 1 check source


def test_the_function_artifact_ships_bytecode_a_read_only_folder_can_use(built):
    # Lambda's code folder is read-only: without .pyc files every cold start compiles every module
    function = built / "ScoringFunction"
    for module in ("leadscore/handlers/consumer.py", "leadscore/core/engine.py", "boto3/__init__.py"):
        source = function / module
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert cached.exists(), cached
        assert _pyc_flags(cached) & 1, f"{cached} is timestamp-based; the build writes hash-based .pyc files"
