"""What a Lambda cold start pays per handler: imports, then loading + compiling the model.

Each figure is the best of N fresh interpreters (`python -c`), so nothing is cached between
runs. Printed next to the cost of Powertools' Tracer (the X-Ray SDK), which the handlers leave out.

Usage: python benchmarks/cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ["forms", "tracking", "leads", "consumer"]
PROBE = """
import json, time
t0 = time.perf_counter()
import {module}
t1 = time.perf_counter()
from leadscore.handlers import runtime
runtime.model()
t2 = time.perf_counter()
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "model_ms": (t2 - t1) * 1000}}))
"""


def measure(module: str, runs: int) -> dict[str, float]:
    environment = {
        **os.environ,
        "MODEL_PATH": str(ROOT / "rules"),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "leadscore",
    }
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module)],
            capture_output=True,
            text=True,
            env=environment,
            check=True,
        )
        samples.append(json.loads(out.stdout))
    return {key: min(sample[key] for sample in samples) for key in samples[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}; best of {args.runs} fresh interpreters")
    print(f"{'module':<45}{'import ms':>10}{'model ms':>10}")
    for name in HANDLERS:
        figures = measure(f"leadscore.handlers.{name}", args.runs)
        print(f"{'leadscore.handlers.' + name:<45}{figures['import_ms']:>10.0f}{figures['model_ms']:>10.1f}")
    for label, code in PEERS.items():
        print(f"{label:<45}{best_of(code, args.runs):>10.0f}")
    return 0


# What the handlers leave out or share, timed alone: Powertools' Tracer loads the X-Ray SDK
# when a Lambda environment is detected, which would double the cold start.
PEERS = {
    "Tracer() on Lambda (X-Ray SDK), not used": "from aws_lambda_powertools import Tracer; Tracer(service='x')",
    "boto3 alone": "import boto3",
    "pydantic alone": "import pydantic",
}


def best_of(code: str, runs: int) -> float:
    probe = f"import time; t = time.perf_counter(); {code}; print((time.perf_counter() - t) * 1000)"
    environment = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "probe", "AWS_DEFAULT_REGION": "eu-west-1"}
    return min(
        float(
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, env=environment, check=True
            ).stdout
        )
        for _ in range(runs)
    )


if __name__ == "__main__":
    sys.exit(main())
