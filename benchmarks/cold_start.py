"""What a Lambda cold start pays per handler, measured on the `sam build` output: imports, then the model.

Each figure is the median of N fresh interpreters run as Lambda runs the package: `python -S -B`
(no site-packages, no bytecode written: the code folder is read-only), the function artifact on
sys.path, MODEL_PATH at the rules layer. `import boto3` from the same package is timed in the
same run, interleaved, and each handler's import is printed as a ratio to it. "model ms" is the
handler's first model load done the way the handler does it (MODEL_LOADS), after its import;
"+ model" is import and model load together, as a ratio to boto3 too (the target is on the import).

Usage:
    python benchmarks/cold_start.py [--runs 7] [--build-dir .aws-sam/build]   # builds with sam if no dir
    python benchmarks/cold_start.py --source                                # the source tree (fast, no build)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
HANDLERS = ["forms", "tracking", "leads", "consumer"]
TARGET = 1.3  # consumer import <= 1.3x a bare `import boto3`
# Each handler's first model load, as the handler itself does it on its first invocation: the HTTP
# doors through the shared runtime module, the scorers (leads, consumer) through the scoring service.
RUNTIME_MODEL = "from leadscore.handlers import runtime; runtime.model()"
SERVICE_MODEL = (
    "from leadscore.service.scoring import load_compiled_model; from leadscore.settings import Settings; "
    "load_compiled_model(Settings.from_env())"
)
MODEL_LOADS = {"forms": RUNTIME_MODEL, "tracking": RUNTIME_MODEL, "leads": SERVICE_MODEL, "consumer": SERVICE_MODEL}
PROBE = """
import json, sys, time
sys.path.insert(0, {code!r})
t0 = time.perf_counter()
{statement}
t1 = time.perf_counter()
model_ms = None
if {model_load!r}:
    {model_load}
    model_ms = (time.perf_counter() - t1) * 1000
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "model_ms": model_ms}}))
"""


def sam_build(target: Path) -> Path:
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
    }
    command = [
        str(SAM),
        "build",
        "ScoringFunction",
        "--template-file",
        str(ROOT / "template.yaml"),
        "--build-dir",
        str(target),
    ]
    subprocess.run(command, cwd=ROOT, env=environment, check=True, capture_output=True, timeout=900)
    return target


def probe(code: Path, model: Path, statement: str, model_load: str, isolated: bool) -> dict[str, float]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "MODEL_PATH": str(model),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "leadscore",
    }
    flags = ["-S", "-B"] if isolated else []
    source = PROBE.format(code=str(code), statement=statement, model_load=model_load)
    out = subprocess.run(
        [sys.executable, *flags, "-c", source], capture_output=True, text=True, env=environment, check=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--build-dir", type=Path, help="a `sam build` output (default: build one in a temp dir)")
    parser.add_argument("--source", action="store_true", help="measure the source tree and venv, not a build")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="leadscore-cold-start-") as scratch:
        if args.source:
            code, model, isolated, label = (
                ROOT / "functions",
                ROOT / "rules",
                False,
                "source tree + venv (not the build)",
            )
        else:
            build = args.build_dir or sam_build(Path(scratch) / "build")
            code, model, isolated = build / "ScoringFunction", build / "RulesLayer" / "python", True
            label = f"sam build output {build}"
        statements = {"boto3 alone": ("import boto3", "")}
        statements |= {
            f"leadscore.handlers.{name}": (f"import leadscore.handlers.{name}", MODEL_LOADS[name]) for name in HANDLERS
        }
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in statements}
        for _ in range(args.runs):  # interleaved, so noise falls on every figure alike
            for name, (statement, model_load) in statements.items():
                samples[name].append(probe(code, model, statement, model_load, isolated))

    medians = {
        name: {
            "import_ms": statistics.median(s["import_ms"] for s in runs),
            "model_ms": statistics.median(s["model_ms"] for s in runs) if runs[0]["model_ms"] is not None else None,
        }
        for name, runs in samples.items()
    }
    boto3_ms = medians["boto3 alone"]["import_ms"]
    print(f"Python {sys.version.split()[0]}; {label}; medians of {args.runs} fresh interpreters")
    print(f"{'module':<36}{'import ms':>10}{'x boto3':>9}{'model ms':>10}{'+ model x boto3':>17}")
    for name, figures in medians.items():
        model_ms = figures["model_ms"]
        model_text = f"{model_ms:>10.1f}" if model_ms is not None else f"{'':>10}"
        total_text = f"{(figures['import_ms'] + model_ms) / boto3_ms:>16.2f}x" if model_ms is not None else ""
        print(
            f"{name:<36}{figures['import_ms']:>10.0f}{figures['import_ms'] / boto3_ms:>8.2f}x{model_text}{total_text}"
        )
    ratio = medians["leadscore.handlers.consumer"]["import_ms"] / boto3_ms
    print()
    where = "on the built package" if not args.source else "on the source tree (the target is judged on the build)"
    print(
        f"target consumer import <= {TARGET}x a bare import boto3 ({where}): {ratio:.2f}x -> {'met' if ratio <= TARGET else 'NOT met'}"
    )
    consumer = medians["leadscore.handlers.consumer"]
    total = (consumer["import_ms"] + (consumer["model_ms"] or 0.0)) / boto3_ms
    print(f"consumer import + first model load (what its first invocation pays before scoring): {total:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
