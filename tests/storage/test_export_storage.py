"""Export on both engines: events scored through the service, exported from the event log and
simulated, give the stored scores; pseudonymised, the same scores under the new names."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from leadscore.cli.export import Progress, Pseudonymiser, export_events, model_domains, read_log, write_lines
from leadscore.cli.simulate import read_events
from leadscore.core.engine import apply_decay, main_score
from leadscore.core.events import parse_event, parse_timestamp
from leadscore.core.simulation import simulate
from leadscore.service.scoring import AcceptedEvent

ROOT = Path(__file__).resolve().parents[2]


def traffic() -> list[dict]:
    lines = (ROOT / "events" / "sample-traffic.jsonl").read_text().splitlines()
    # every lead, sofie.jensen's identify too: it replays three days of browsing that move stages
    # and fire two alerts, which follow the save: its transaction is within DynamoDB Local's 10 items
    return [json.loads(line) for line in lines if line]


def scored(engine) -> list[dict]:
    service = engine.service()
    events = sorted(traffic(), key=lambda raw: (raw["timestamp"], raw["id"]))
    for raw in events:
        raw = {"properties": {}, **raw}
        result = service.score([AcceptedEvent(parse_event(raw), raw, f"m-{raw['id']}")])
        assert result.failed_message_ids == [], result.failures
    return events


def exported(engine, tmp_path, **options) -> Path:
    entries = read_log(engine.repository.scan_event_log, 0.0, None, Progress(io.StringIO()), segments=4)
    path = tmp_path / "events.jsonl"
    with path.open("w") as handle:
        write_lines(export_events(entries, **options), handle)
    return path


def stored_scores(engine, model, at: float) -> dict[str, float]:
    scores = {}
    for item in engine.repository.leads():
        state = engine.repository.load(item.lead).state
        if not item.lead.startswith("anon:"):
            apply_decay(model, state, at)  # what the daily schedule would have applied by `at`, as simulate does
            scores[item.lead] = round(main_score(model, state), 2)
    return scores


def simulated(model, path: Path, at: float) -> dict[str, float]:
    report = simulate(model, read_events(path), at).report()
    return {lead["lead"]: round(lead["score"], 2) for lead in report["leads"] if not lead["lead"].startswith("anon:")}


def test_simulating_the_export_gives_the_stored_scores(engine, tmp_path):
    events = scored(engine)
    model = engine.service().model
    at = parse_timestamp(events[-1]["timestamp"])
    path = exported(engine, tmp_path)
    assert 0 < sum(1 for _ in path.open()) <= len(events)  # duplicates in the traffic are logged once
    stored = stored_scores(engine, model, at)
    assert len(stored) > 5
    assert simulated(model, path, at) == stored


def test_the_pseudonymised_export_scores_the_same_under_new_names(engine, tmp_path):
    events = scored(engine)
    model = engine.service().model
    at = parse_timestamp(events[-1]["timestamp"])
    kept, field = model_domains(ROOT / "rules")
    pseudonymiser = Pseudonymiser(b"k", kept, field)
    path = exported(engine, tmp_path, pseudonymiser=pseudonymiser)
    text = path.read_text()
    stored = stored_scores(engine, model, at)
    for lead in stored:
        assert lead not in text and lead.split("@")[0] not in text
    renamed = {pseudonymiser.email(lead): score for lead, score in stored.items()}
    assert simulated(model, path, at) == renamed


def test_a_sample_keeps_whole_leads_chosen_by_hash(engine, tmp_path):
    events = scored(engine)
    model = engine.service().model
    at = parse_timestamp(events[-1]["timestamp"])
    first = exported(engine, tmp_path, sample=3).read_text()
    again = exported(engine, tmp_path, sample=3).read_text()
    assert first == again
    path = tmp_path / "sample.jsonl"
    path.write_text(first)
    sampled = simulated(model, path, at)
    assert len(sampled) == 3
    stored = stored_scores(engine, model, at)
    assert sampled == {lead: stored[lead] for lead in sampled}


@pytest.mark.parametrize("value", ["30d", "12h", "2026-11-20T00:00:00Z"])
def test_since_takes_durations_and_times(value):
    from leadscore.cli.export import parse_since

    assert parse_since(value, 2_000_000_000.0) < 2_000_000_000.0
