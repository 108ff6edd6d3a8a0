"""Scores a 100-rule model on 100,000 synthetic events and compares with other rule engines.

Prints, in one run on the same events:
- the full engine as the consumer runs it per event (parse the queued JSON, decay catch-up,
  apply_event: matching, limits, caps, groups, extra scores, counters, stage, alerts):
  events/s (median of --repeat runs) and per-event p50/p99 latency of apply_event;
- the pure variant (score_event, which copies the state first), on a sample;
- zen-engine (one decision table per event type, hit policy collect) and rule-engine (one
  compiled rule per scoring rule, grouped by event type): the same event-type index our engine
  has, matching the same 100 rules' conditions on the same events (matching only: they keep no
  state), after checking that they match exactly the rules our engine matches;
- the time to load, validate and compile the shipped model, and the import time a Lambda
  cold start pays.

Usage: python benchmarks/engine_vs_peers.py [--events 100000] [--peer-sample 2000] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))

from leadscore.core.compiler import CompiledModel, compile_model  # noqa: E402
from leadscore.core.engine import apply_decay, apply_event, new_lead, score_event  # noqa: E402
from leadscore.core.events import event_to_json, parse_event  # noqa: E402
from leadscore.core.loader import load_model, load_text  # noqa: E402
from leadscore.core.state import Event  # noqa: E402

DAY = 86400.0
START = 1_788_220_800.0  # 2026-09-01T00:00:00Z
EVENT_TYPES = [
    "page_view",
    "email_open",
    "email_click",
    "download",
    "video_play",
    "webinar_register",
    "webinar_attend",
    "form_submit",
    "trial_start",
    "demo_request",
]
SECTIONS = ["blog", "docs", "pricing", "careers", "product", "customers", "events", "about"]
ASSET_KINDS = ["whitepaper", "ebook", "case-study", "datasheet", "report"]
TOPICS = ["data", "security", "cloud", "ai", "payments", "hr"]
TITLES = ["Head of Data", "VP Engineering", "Student", "Data Analyst", "CTO", "Marketing Intern", "Director of IT"]


# --- the synthetic model -------------------------------------------------------------------


def synthetic_rules(rng: random.Random) -> list[dict[str, Any]]:
    """100 rules: 85 behaviour rules over 10 event types and 15 fit rules, every rule kind used."""
    rules: list[dict[str, Any]] = []
    limits: list[Any] = [
        None,
        "once",
        {"max": 3, "per": "day"},
        {"max": 2, "per": "week"},
        {"max": 4, "per": "month"},
        {"cooldown": "1h"},
    ]
    stages = ["awareness", "consideration", "decision"]
    for index in range(85):
        event = EVENT_TYPES[index % len(EVENT_TYPES)]
        rule: dict[str, Any] = {"id": f"r{index:03d}", "when": {"event": event}}
        kind = index % 7
        if event == "page_view":
            section = SECTIONS[index % len(SECTIONS)]
            if kind in (0, 1, 2):
                rule["when"]["url"] = f"https://example.com/{section}/*"
            else:
                rule["when"]["url"] = {"regex": f"/{section}/({TOPICS[index % 6]}|{TOPICS[(index + 1) % 6]})"}
        elif event in ("email_open", "email_click"):
            rule["when"]["email_kind"] = ["offer", "informative"][index % 2]
            if kind > 3:
                rule["when"]["campaign"] = [f"c{index % 10}", f"c{(index + 3) % 10}"]
        elif event == "download":
            rule["when"]["asset"] = f"{ASSET_KINDS[index % 5]}-{TOPICS[index % 6]}-*"
        elif event == "video_play":
            low = [25, 50, 75, 95][index % 4]
            rule["when"]["percent"] = {"min": low}
        elif event in ("webinar_register", "webinar_attend"):
            rule["when"]["webinar"] = {"contains": TOPICS[index % 6]}
        elif event == "form_submit":
            rule["when"]["form"] = ["contact", "newsletter", "pricing"][index % 3]
        if index % 4 == 0:
            rule["readiness"] = f"{rng.choice([3, 5, 8, 10, 15, 20, 30])}%"
        else:
            rule["points"] = rng.choice([-10, 1, 2, 3, 5, 8, 12])
        limit = limits[index % len(limits)]
        if limit is not None:
            rule["limit"] = limit
        if index % 9 == 0:
            rule["cap"] = 30
        if index % 5 == 1:
            rule["group"] = ["email", "web", "content"][index % 3]
        if index % 3 == 0:
            rule["stage"] = stages[index % 3]
        if index % 6 == 0:
            rule["scores"] = ["main", ["data", "security"][index % 2]]
        rules.append(rule)
    fit = [
        {"job_title": {"contains": ["director", "head of", "vp"]}},
        {"job_title": {"contains": ["student", "intern"]}},
        {"job_title": {"regex": "(?i)\\b(cto|cio)\\b"}},
        {"employees": {"min": 1000}},
        {"employees": {"min": 100, "max": 999}},
        {"country": ["no", "se", "dk", "fi"]},
        {"country": ["us", "ca"]},
        {"email": {"domain": ["rival.example"]}},
        {"email": {"domain": ["gmail.com", "hotmail.com"]}},
        {"budget": ["10k_50k", "over_50k"]},
        {"authority": "decision_maker"},
        {"need": "solution_needed"},
        {"timing": "this_quarter"},
        {"industry": ["finance", "energy"]},
        {"nps": {"min": 9}},
    ]
    for index, condition in enumerate(fit):
        points = [15, -30, 10, 15, 8, 5, 3, -100, -5, 10, 10, 5, 10, 5, 5][index]
        rules.append({"id": f"f{index:02d}", "fit": condition, "points": points})
    return rules


def synthetic_model_yaml(rng: random.Random) -> str:
    model = {
        "name": "benchmark-100",
        "late_events_window": "30d",
        "event_types": ["trial_start", "demo_request"],
        "scores": {"data": {}, "security": {}},
        "groups": {"email": {"cap": 25}, "web": {"cap": 40}, "content": {"cap": 60}},
        "advance_requires_content": True,
        "alerts": {"lead": {"threshold": 100, "rearm_below": 80}},
        "rules": synthetic_rules(rng),
    }
    return json.dumps(model)  # JSON is YAML


# --- the synthetic traffic -----------------------------------------------------------------


def synthetic_events(rng: random.Random, count: int, leads: int = 5000) -> list[Event]:
    emails = [f"lead{n}@company{n % 700}.example" for n in range(leads)]
    events: list[Event] = []
    for index in range(count):
        # a few very active leads, a long tail of occasional ones
        lead = emails[rng.randrange(50) if rng.random() < 0.2 else rng.randrange(leads)]
        kind = rng.choices(EVENT_TYPES, weights=[40, 15, 8, 10, 8, 3, 3, 4, 1, 1])[0]
        ts = START + rng.random() * 60 * DAY
        props: dict[str, Any] = {}
        profile = None
        if kind == "page_view":
            props["url"] = f"https://example.com/{rng.choice(SECTIONS)}/{rng.choice(TOPICS)}/{index % 50}"
        elif kind in ("email_open", "email_click"):
            props["email_kind"] = rng.choice(["offer", "informative"])
            props["campaign"] = f"c{rng.randrange(10)}"
        elif kind == "download":
            props["asset"] = f"{rng.choice(ASSET_KINDS)}-{rng.choice(TOPICS)}-{rng.randrange(5)}"
        elif kind == "video_play":
            props["percent"] = rng.randrange(0, 101)
        elif kind in ("webinar_register", "webinar_attend"):
            props["webinar"] = f"{rng.choice(TOPICS)}-summit"
        elif kind == "form_submit":
            props["form"] = rng.choice(["contact", "newsletter", "pricing"])
            profile = {
                "job_title": rng.choice(TITLES),
                "employees": rng.choice([20, 150, 800, 5000]),
                "country": rng.choice(["no", "se", "us", "de"]),
                "budget": rng.choice(["none", "10k_50k", "over_50k"]),
                "authority": rng.choice(["decision_maker", "user"]),
            }
        events.append(Event(f"ev{index}", kind, lead, ts, props, profile))
    # mostly in time order per lead, with late arrivals and ~1% redelivered duplicates
    events.sort(key=lambda e: e.ts + rng.random() * 3600 * 6)
    for _ in range(count // 100):
        position = rng.randrange(len(events))
        events.insert(min(len(events), position + rng.randrange(1, 500)), events[position])
    return events[:count]


# --- our engine ----------------------------------------------------------------------------


def run_engine(model: CompiledModel, events: list[Event]) -> float:
    """What the consumer runs per event: parse the queued JSON, catch up decay, apply the event."""
    bodies = [json.loads(json.dumps(event_to_json(event))) for event in events]  # as queued
    states: dict[str, Any] = {}
    gc.collect()
    started = time.perf_counter()
    for body in bodies:
        event = parse_event(body)
        state = states.get(event.lead)
        if state is None:
            state = states[event.lead] = new_lead(model, event.lead)
        apply_decay(model, state, event.ts)
        apply_event(model, state, event)
    return time.perf_counter() - started


def engine_latencies(model: CompiledModel, events: list[Event]) -> list[int]:
    """A separate pass from run_engine: timing every call would slow the throughput figure."""
    states: dict[str, Any] = {}
    latencies = []
    clock = time.perf_counter_ns
    gc.collect()
    for event in events:
        state = states.get(event.lead)
        if state is None:
            state = states[event.lead] = new_lead(model, event.lead)
        before = clock()
        apply_event(model, state, event)
        latencies.append(clock() - before)
    return latencies


def run_pure(model: CompiledModel, events: list[Event]) -> float:
    states: dict[str, Any] = {}
    gc.collect()
    started = time.perf_counter()
    for event in events:
        state = states.get(event.lead)
        if state is None:
            state = new_lead(model, event.lead)
        states[event.lead], _ = score_event(model, state, event)
    return time.perf_counter() - started


def our_matches(model: CompiledModel, event: Event) -> set[str]:
    """The rules the engine's generated matcher picks for this event (what apply_event credits)."""
    matcher = model.matchers.get(event.type)
    return {rule.id for rule in matcher(event.properties)} if matcher else set()


# --- peers: the same conditions in their languages ---------------------------------------


# The same condition in each peer's expression language: one template per operator.
DIALECTS = {
    "zen": {
        "any": " or ",
        "prefix": "$ != null and startsWith($, {text})",
        "equals": "$ == {text}",
        "regex": "$ != null and matches($, {search})",
        "contains": "$ != null and contains($, {text})",
        "min": "$ != null and $ >= {number}",
        "max": "$ != null and $ <= {number}",
    },
    "rule-engine": {
        "any": " or ",
        "prefix": "{name} != null and {name} =~ {prefix_regex}",
        "equals": "{name} == {text}",
        "regex": "{name} != null and {name} =~~ {regex}",
        "contains": "{name} != null and {text} in {name}",
        "min": "{name} != null and {name} >= {number}",
        "max": "{name} != null and {name} <= {number}",
    },
}


def translate(dialect: str, name: str, condition: Any) -> str:
    """One of our conditions on field `name` as an expression of a peer's language."""
    templates = DIALECTS[dialect]

    def render(operator: str, value: Any) -> str:
        return templates[operator].format(
            name=name,
            text=json.dumps(value),
            number=value,
            search=json.dumps(f".*{value}.*"),
            regex=json.dumps(value),
            prefix_regex=json.dumps(re.escape(str(value)) + ".*"),
        )

    if isinstance(condition, list):  # zen takes a bare test; only alternatives get parentheses
        alternatives = templates["any"].join(f"({translate(dialect, name, item)})" for item in condition)
        return alternatives if dialect == "zen" else f"({alternatives})"
    if isinstance(condition, str):
        return render("prefix", condition[:-1]) if condition.endswith("*") else render("equals", condition)
    return " and ".join(render(operator, value) for operator, value in condition.items())


def _zen_string(text: str) -> str:
    return json.dumps(text)


def zen_decision(rules: list[dict[str, Any]]) -> Any:
    import zen

    fields = sorted({name for rule in rules if "when" in rule for name in rule["when"] if name != "event"})
    inputs = [{"id": "type", "name": "type", "field": "type"}] + [{"id": f, "name": f, "field": f} for f in fields]
    rows = []
    for rule in rules:
        if "when" not in rule:
            continue
        row = {"_id": rule["id"], "type": f"$ == {_zen_string(rule['when']['event'])}", "out": _zen_string(rule["id"])}
        for name in fields:
            row[name] = translate("zen", "$", rule["when"][name]) if name in rule["when"] else ""
        rows.append(row)
    content = {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "request", "position": {"x": 0, "y": 0}},
            {
                "id": "table",
                "type": "decisionTableNode",
                "name": "rules",
                "position": {"x": 0, "y": 0},
                "content": {
                    "hitPolicy": "collect",
                    "inputs": inputs,
                    "outputs": [{"id": "out", "name": "rule", "field": "rule"}],
                    "rules": rows,
                },
            },
            {"id": "out", "type": "outputNode", "name": "response", "position": {"x": 0, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "table", "type": "edge"},
            {"id": "e2", "sourceId": "table", "targetId": "out", "type": "edge"},
        ],
    }
    return zen.ZenEngine().create_decision(json.dumps(content))


def zen_matches(decisions: dict[str, Any], event: Event) -> set[str]:
    """One decision table per event type: the same index our engine uses."""
    decision = decisions.get(event.type)
    if decision is None:
        return set()
    result = decision.evaluate({"type": event.type, **event.properties})["result"]
    return {item["rule"] for item in result}


def zen_decisions(rules: list[dict[str, Any]]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        if "when" in rule:
            by_type.setdefault(rule["when"]["event"], []).append(rule)
    return {event_type: zen_decision(group) for event_type, group in by_type.items()}


def rule_engine_rules(rules: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    import rule_engine

    context = rule_engine.Context(default_value=None)
    compiled = []
    for rule in rules:
        if "when" not in rule:
            continue
        parts = [f"type == {json.dumps(rule['when']['event'])}"]
        parts += [translate("rule-engine", name, c) for name, c in rule["when"].items() if name != "event"]
        compiled.append((rule["id"], rule_engine.Rule(" and ".join(parts), context=context)))
    return compiled


def rule_engine_matches(compiled: dict[str, list[tuple[str, Any]]], event: Event) -> set[str]:
    """Only the rules of the event's type: the same index our engine uses."""
    thing = {"type": event.type, **event.properties}
    return {rule_id for rule_id, rule in compiled.get(event.type, ()) if rule.matches(thing)}


def rule_engine_index(rules: list[dict[str, Any]]) -> dict[str, list[tuple[str, Any]]]:
    by_type: dict[str, list[tuple[str, Any]]] = {}
    written = {rule["id"]: rule for rule in rules}
    for rule_id, compiled in rule_engine_rules(rules):
        by_type.setdefault(written[rule_id]["when"]["event"], []).append((rule_id, compiled))
    return by_type


def time_peer(function: Any, handle: Any, events: list[Event]) -> float:
    gc.collect()
    started = time.perf_counter()
    for event in events:
        function(handle, event)
    return time.perf_counter() - started


# --- cold start ----------------------------------------------------------------------------


def model_load_times(runs: int = 20) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        compile_model(load_model(ROOT / "rules"))
        times.append(time.perf_counter() - started)
    return times


def import_time() -> float:
    code = (
        "import time; t=time.perf_counter(); "
        "import leadscore.core.compiler, leadscore.core.engine; "
        "print(time.perf_counter()-t)"
    )
    samples = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(ROOT / "functions")},
        )
        samples.append(float(out.stdout))
    return statistics.median(samples)


# --- report --------------------------------------------------------------------------------


def percentile(sorted_values: list[int], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))] / 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--peer-sample", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rng = random.Random(20261123)
    rules = synthetic_rules(random.Random(7))
    model = compile_model(load_text(synthetic_model_yaml(random.Random(7)), "benchmark.yaml"))
    events = synthetic_events(rng, args.events)
    sample = events[: args.peer_sample]

    runs = [run_engine(model, events) for _ in range(args.repeat)]
    latencies = sorted(engine_latencies(model, events))
    pure_sample = events[: min(len(events), 20_000)]
    pure_seconds = statistics.median(run_pure(model, pure_sample) for _ in range(args.repeat))
    full_rate = len(events) / statistics.median(runs)

    peers: dict[str, dict[str, float]] = {}
    agreement: dict[str, float] = {}
    try:
        decision = zen_decisions(rules)
        agreement["zen-engine"] = sum(zen_matches(decision, e) == our_matches(model, e) for e in sample) / len(sample)
        seconds = statistics.median(time_peer(zen_matches, decision, sample) for _ in range(args.repeat))
        peers["zen-engine"] = {"events_per_second": len(sample) / seconds, "us_per_event": seconds / len(sample) * 1e6}
    except ImportError:
        pass
    try:
        compiled_rules = rule_engine_index(rules)
        agreement["rule-engine"] = sum(
            rule_engine_matches(compiled_rules, e) == our_matches(model, e) for e in sample
        ) / len(sample)
        small = sample[: max(200, len(sample) // 4)]
        seconds = statistics.median(time_peer(rule_engine_matches, compiled_rules, small) for _ in range(args.repeat))
        peers["rule-engine"] = {"events_per_second": len(small) / seconds, "us_per_event": seconds / len(small) * 1e6}
    except ImportError:
        pass

    load_times = model_load_times()
    fastest_peer = max((p["events_per_second"] for p in peers.values()), default=None)
    figures = {
        "python": sys.version.split()[0],
        "rules": len(rules),
        "events": len(events),
        "leads": len({e.lead for e in events}),
        "engine_events_per_second": full_rate,
        "engine_events_per_second_best": len(events) / min(runs),
        "engine_p50_us": percentile(latencies, 0.50),
        "engine_p99_us": percentile(latencies, 0.99),
        "pure_score_event_events_per_second": len(pure_sample) / pure_seconds,
        "peers": peers,
        "peer_agreement": agreement,
        "ratio_to_fastest_peer": full_rate / fastest_peer if fastest_peer else None,
        "shipped_model_load_ms_best": min(load_times) * 1000,
        "shipped_model_load_ms_median": statistics.median(load_times) * 1000,
        "core_import_ms": import_time() * 1000,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"Python {figures['python']}; {figures['rules']}-rule model; {figures['events']:,} events over {figures['leads']:,} leads"
        )
        print()
        print(f"{'engine':<40}{'events/s':>14}{'us/event':>12}")
        print(f"{'leadscore full engine (parse+decay+apply)':<40}{full_rate:>14,.0f}{1e6 / full_rate:>12.2f}")
        pure_rate = figures["pure_score_event_events_per_second"]
        print(f"{'leadscore score_event (copy + apply)':<40}{pure_rate:>14,.0f}{1e6 / pure_rate:>12.2f}")
        for name, peer in peers.items():
            label = f"{name} (matching only, by type)"
            print(f"{label:<40}{peer['events_per_second']:>14,.0f}{peer['us_per_event']:>12.2f}")
        print()
        print(
            f"full engine latency per event: p50 {figures['engine_p50_us']:.2f} us, p99 {figures['engine_p99_us']:.2f} us"
        )
        for name, share in agreement.items():
            print(f"{name} agrees with leadscore on matched rules for {share:.1%} of {len(sample):,} sampled events")
        for name, peer in peers.items():
            print(f"leadscore full engine / {name}: {full_rate / peer['events_per_second']:,.0f}x")
        print()
        print(
            f"shipped model load + validate + compile: best {figures['shipped_model_load_ms_best']:.1f} ms, median {figures['shipped_model_load_ms_median']:.1f} ms"
        )
        print(f"core import in a fresh interpreter: {figures['core_import_ms']:.0f} ms")
        print()
        verdicts = [
            ("full engine >= 100,000 events/s", full_rate >= 100_000),
            (
                "full engine >= 20x the fastest peer",
                figures["ratio_to_fastest_peer"] is not None and figures["ratio_to_fastest_peer"] >= 20,
            ),
            ("shipped model loads in < 50 ms", figures["shipped_model_load_ms_median"] < 50),
        ]
        for label, ok in verdicts:
            print(f"target {label}: {'met' if ok else 'NOT met'}")
    if any(share < 1.0 for share in agreement.values()):
        print(
            "peers disagree with leadscore on which rules match: the comparison is not like for like", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
