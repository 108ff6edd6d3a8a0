"""How the cost per event and the compile time grow with the number of rules in a model.

Synthetic models of 100, 1,000 and 5,000 rules over eight event types, each rule keyed on its own
URL prefix, campaign, asset, video, webinar or form (plus a few rules every event of a type
matches), and traffic where each event matches a few rules. For each size, in one run:
- the full engine (apply_event) per event, with the rule index (what ships) and with every rule
  of the event type tested (brute force, what the index replaces): medians of several runs;
- compiling the validated model, and loading + validating + compiling it from YAML (what a cold
  start does; `sam build` validates it too, so a bad model never deploys).

Usage: python benchmarks/model_scaling.py [--sizes 100,1000,5000] [--events 20000] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))

from leadscore.core.built import load_deployed, write_built  # noqa: E402
from leadscore.core.compiler import CompiledModel, build_scan_matcher, compile_model  # noqa: E402
from leadscore.core.engine import apply_event, new_lead  # noqa: E402
from leadscore.core.loader import load_model, load_text  # noqa: E402
from leadscore.core.state import Event  # noqa: E402

START = 1_788_220_800.0  # 2026-09-01T00:00:00Z
DAY = 86400.0
# event type -> (property, how a rule keyed on value k is written, a value that matches it)
KINDS: dict[str, tuple[str, Any, Any]] = {
    "page_view": ("url", lambda k: f"https://example.com/s{k}/*", lambda k: f"https://example.com/s{k}/page"),
    "email_click": ("campaign", lambda k: f"c{k}", lambda k: f"C{k}"),
    "download": ("asset", lambda k: [f"asset-{k}", f"asset-{k}-v2"], lambda k: f"asset-{k}"),
    "video_play": ("video", lambda k: f"v{k}", lambda k: f"v{k}"),
    "webinar_attend": ("webinar", lambda k: f"w{k}", lambda k: f"w{k}"),
    "form_submit": ("form", lambda k: f"f{k}", lambda k: f"f{k}"),
    "email_open": ("campaign", lambda k: f"c{k}", lambda k: f"c{k}"),
    "webinar_register": ("webinar", lambda k: {"glob": f"w{k}-*"}, lambda k: f"w{k}-emea"),
}
TYPES = list(KINDS)


def model_yaml(size: int, seed: int = 7) -> str:
    """`size` rules: a few generic ones per event type, the rest keyed on their own value."""
    rng = random.Random(seed)
    rules: list[dict[str, Any]] = []
    for event in TYPES:  # 2 per type that every event of the type matches (unindexed)
        rules.append({"id": f"any-{event}", "when": {"event": event}, "points": 1, "limit": {"max": 3, "per": "day"}})
        rules.append({"id": f"range-{event}", "when": {"event": event, "percent": {"min": 50}}, "points": 2})
    limits: list[Any] = [None, "once", {"max": 2, "per": "week"}, {"cooldown": "1h"}]
    for index in range(size - len(rules)):
        event = TYPES[index % len(TYPES)]
        name, written, _ = KINDS[event]
        rule: dict[str, Any] = {"id": f"r{index}", "when": {"event": event, name: written(index)}}
        rule["points"] = rng.choice([1, 2, 3, 5, 8, -2])
        if (limit := limits[index % len(limits)]) is not None:
            rule["limit"] = limit
        rules.append(rule)
    return json.dumps({"name": f"scaling-{size}", "rules": rules})  # JSON is YAML


def events_for(size: int, count: int, seed: int = 11, leads: int = 2000) -> list[Event]:
    """Each event names the key of one rule of the model (or of none, one in five)."""
    rng = random.Random(seed)
    keyed = size - 2 * len(TYPES)
    events = []
    for index in range(count):
        key = rng.randrange(keyed) if rng.random() < 0.8 else keyed + rng.randrange(1000)
        event = TYPES[key % len(TYPES)] if key < keyed else rng.choice(TYPES)
        name, _, matching = KINDS[event]
        props = {name: matching(key), "percent": rng.randrange(101)}
        ts = START + index * 60.0
        events.append(Event(f"e{index}", event, f"lead{rng.randrange(leads)}@example.com", ts, props))
    return events


def brute_force(model: CompiledModel) -> CompiledModel:
    """The same model with every rule of an event type tested on each event (no index)."""
    return dataclasses.replace(model, matchers={t: build_scan_matcher(r) for t, r in model.by_event.items()})


def per_event_us(model: CompiledModel, events: list[Event], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        states: dict[str, Any] = {}
        gc.collect()
        started = time.perf_counter()
        for event in events:
            state = states.get(event.lead)
            if state is None:
                state = states[event.lead] = new_lead(model, event.lead)
            apply_event(model, state, event)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) / len(events) * 1e6


def median_ms(function: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = []
    folder = Path(tempfile.mkdtemp(prefix="model-scaling-"))
    for size in sizes:
        text = model_yaml(size)
        layer = folder / f"layer-{size}"  # as sam build leaves the rules layer: the YAML and the validated model
        layer.mkdir()
        (layer / "model.yaml").write_text(text)
        write_built(load_model(layer), layer)
        loaded = load_text(text, f"scaling-{size}.yaml")
        model = compile_model(loaded)
        events = events_for(size, args.events)
        matched = sum(len(model.matchers[e.type](e.properties)) for e in events) / len(events)
        rows.append(
            {
                "rules": size,
                "matched_per_event": matched,
                "indexed_us": per_event_us(model, events, args.repeat),
                "brute_force_us": per_event_us(brute_force(model), events, args.repeat),
                "compile_ms": median_ms(lambda m=loaded: compile_model(m), args.repeat),
                "validate_compile_yaml_ms": median_ms(
                    lambda t=text: compile_model(load_text(t)), max(1, min(args.repeat, 3))
                ),
                "built_load_ms": median_ms(lambda f=layer: load_deployed(f), args.repeat),
            }
        )
    shutil.rmtree(folder, ignore_errors=True)
    base = rows[0]
    for row in rows:
        row["indexed_ratio"] = row["indexed_us"] / base["indexed_us"]
        row["brute_force_ratio"] = row["brute_force_us"] / base["indexed_us"]
    by_size = {row["rules"]: row for row in rows}
    verdicts = []
    if 1000 in by_size and 100 in by_size:
        ratio = by_size[1000]["indexed_us"] / by_size[100]["indexed_us"]
        verdicts.append(("1,000 rules cost <= 1.5x 100 rules per event", ratio, ratio <= 1.5))
    if 1000 in by_size:
        compile_ms = by_size[1000]["compile_ms"]
        verdicts.append(("1,000 validated rules compile in < 50 ms", compile_ms, compile_ms < 50))
        loading = by_size[1000]["built_load_ms"]
        verdicts.append(("a cold start loads 1,000 rules (the build's validated model, compiled) in < 50 ms", loading, loading < 50))

    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "rows": rows, "targets": verdicts}, indent=2))
        return 0
    print(f"Python {sys.version.split()[0]}; {args.events:,} events per model; medians of {args.repeat} runs")
    print()
    print("Cost per event (full engine, apply_event) by model size, as a ratio to the 100-rule model")
    header = f"{'rules':>7}{'matched/event':>15}{'indexed us':>12}{'ratio':>8}{'brute us':>11}{'ratio':>8}"
    print(header)
    for row in rows:
        print(
            f"{row['rules']:>7,}{row['matched_per_event']:>15.2f}{row['indexed_us']:>12.2f}{row['indexed_ratio']:>7.2f}x"
            f"{row['brute_force_us']:>11.2f}{row['brute_force_ratio']:>7.2f}x"
        )
    print()
    print("Compile time (ms, median)")
    print(f"{'rules':>7}{'compile':>15}{'cold start: built model':>25}{'YAML: validate + compile':>26}")
    for row in rows:
        print(
            f"{row['rules']:>7,}{row['compile_ms']:>15.1f}{row['built_load_ms']:>25.1f}{row['validate_compile_yaml_ms']:>26.1f}"
        )
    print()
    for label, value, ok in verdicts:
        print(f"target {label}: {value:.2f} -> {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
