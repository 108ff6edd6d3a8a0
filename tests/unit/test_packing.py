"""What the tables store compressed (lead state, waiting history and log, history and event-log
bodies): zlib with a fixed preset dictionary, readable forever, and older plain streams still read."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from leadscore.adapters.packing import PRESET, pack, unpack
from leadscore.core.compiler import compile_model
from leadscore.core.events import parse_event
from leadscore.core.loader import load_model
from leadscore.core.simulation import simulate

ROOT = Path(__file__).resolve().parents[2]
PRESET_ID = 0x0F8A8E44  # zlib names a stream's dictionary by its Adler-32: stored items depend on it


def test_the_preset_dictionary_never_changes():
    # items written with it must stay readable: add a second dictionary beside it, never edit it
    assert zlib.adler32(PRESET) == PRESET_ID


def test_a_packed_stream_names_the_dictionary_and_reads_back():
    data = json.dumps({"lead": "ann@acme.example", "engagement": 12.5, "stage": "awareness"}).encode()
    blob = pack(data)
    assert blob[1] & 0x20 and int.from_bytes(blob[2:6], "big") == PRESET_ID  # FDICT, then the dictionary's id
    assert unpack(blob) == data


@pytest.mark.parametrize("level", [1, 6, 9])
def test_streams_written_before_the_dictionary_still_read(level):
    data = json.dumps({"history": [{"sk": "2026-01-01T00:00:00Z#0000000001", "entries": []}]}).encode()
    assert unpack(zlib.compress(data, level)) == data


def test_a_lived_in_leads_state_packs_a_quarter_smaller_than_plain_zlib():
    model = compile_model(load_model(ROOT / "rules"))
    raws = [json.loads(line) for line in (ROOT / "events" / "sample-traffic.jsonl").read_text().splitlines() if line]
    run = simulate(model, [parse_event(raw) for raw in raws], max(parse_event(raw).ts for raw in raws))
    states = [json.dumps(state.to_dict(), separators=(",", ":")).encode() for state in run.leads.values()]
    assert len(states) >= 5
    plain = sum(len(zlib.compress(state, 6)) for state in states)
    packed = sum(len(pack(state)) for state in states)
    assert packed <= 0.75 * plain, (packed, plain)
    assert all(unpack(pack(state)) == state for state in states)


def test_a_release_that_older_code_must_read_writes_plain_zlib():
    """`StoredJsonDictionary: none`: what code from before the dictionary reads (zlib.decompress)."""
    from leadscore.adapters import packing

    data = json.dumps({"lead": "ann@acme.example", "stage": "awareness"}).encode()
    try:
        packing.write_with("none")
        blob = pack(data)
        assert not blob[1] & 0x20 and zlib.decompress(blob) == data  # no dictionary named
        assert unpack(blob) == data
    finally:
        packing.write_with("v1")
    assert pack(data)[1] & 0x20
    with pytest.raises(ValueError, match="unknown stored JSON dictionary 'v2'"):
        packing.write_with("v2")


def test_a_truncated_or_padded_stream_is_an_error_as_with_plain_zlib():
    blob = pack(b'{"lead":"ann@acme.example"}' * 20)
    with pytest.raises(zlib.error):
        unpack(blob[:-6])
    with pytest.raises(zlib.error):
        unpack(blob + b"tail")
    with pytest.raises(zlib.error):
        unpack(zlib.compress(b"{}")[:-2])
