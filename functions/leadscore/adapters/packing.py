"""How lead state, waiting history and history and event-log bodies are compressed: zlib with a
preset dictionary of the JSON this project writes (its keys, event types and phrases).

A lead item is billed by the kilobyte on every save, twice inside a transaction, and most of
what it holds is a few hundred bytes of JSON: too little for zlib to learn its own repetitions.
Starting from a dictionary of what such JSON looks like makes a lead's state about 30% smaller
than plain zlib does, so a lived-in lead's item stays under 1 KB (one write unit) more often.

The dictionary holds nothing of a deployment's model (no rule or score ids, no URLs; of stage
names only the common "awareness"), so it fits every model. It must never change: zlib names the dictionary a
stream needs by its Adler-32 checksum, and items written with it must stay readable. Streams
written without it (before it existed) read as before: `unpack` sets the dictionary only when
a stream asks for one. A second dictionary would be added beside this one, chosen by that
checksum, never swapped in its place.

Code from before the dictionary cannot read what is written with it. So the format new streams
are written in is a setting (`Settings.stored_json_dictionary`, the template's
`StoredJsonDictionary`): "none" writes plain zlib, for the first deploy of an upgrade that may
be rolled back, or before rolling back to such code; "v1" (the default) the dictionary.
"""

from __future__ import annotations

import zlib

LEVEL = 6

PRESET = (
    # event types, properties and phrases any model's history and log repeat
    b'email_open","email_click","email_unsubscribe","form_submit","identify","demo_request",'
    b'"webinar_register","webinar_attend","video_play","download","page_view","nps","bant",'
    b'"utm_source":"","utm_medium":"","utm_campaign":"","referrer":"","title":"","asset":"",'
    b'"webinar":"","video":"","percent":,"email_kind":"newsletter","campaign":"","form":"",'
    b'"budget":"","authority":"","need":"","timeline":"","score":,"comment":"",'
    b'"why":"inactive since last activity: 1 decay step(s) of  per ","why":"cold lead: no score '
    b'increase for  (since )","why":" points (rule cap )"," (group  cap )","why":"score  after no rule",'
    b'"rule":"stage","dimension":"stage","rule":"decay","rule":"cold","dimension":"engagement","delta":-'
    # a lead's state (core.state.LeadState.to_dict), its keys in the order written
    b'{"lead":"","profile":{"email":"","first_name":"","last_name":"","job_title":"Head of ",'
    b'"company":"","company_id":"","country":"","employees":,"industry":"","seniority":""},'
    b'"fit_rules":{},"engagement":0.0,"extras":{},"counters":{},"rule_points":{},"rule_fires":{},'
    b'"group_points":{},"buckets":{},"fire_times":{},"once_values":{},"seen":"","seen_floor":0.0,'
    b'"gains":{},"stage":"","stage_history":[["awareness",1.0,"first seen"]],"newest_ts":1.0,'
    b'"pruned_day":,"last_activity":1.0,"last_increase":1.0,"decay_steps":0,"cold_since":null,'
    b'"disarmed":[],"account":""}'
    # an event-log record waiting in the lead item, and its entries
    b'"log":[{"sk":"2026-01-01T00:00:00Z#0000000001","received_at":1.0,"entries":[{"id":"",'
    b'"type":"page_view","at":"2026-01-01T00:00:00Z","payload":{"id":"","type":"page_view",'
    b'"email":"","anonymous_id":"","timestamp":"2026-01-01T00:00:00Z","properties":{"url":"https://'
    b'www.","path":"/"}},"event":{"id":"","type":"page_view","timestamp":"2026-01-01T00:00:00Z",'
    b'"email":"","properties":{"url":"https://www."}}}]}]'
    # a history record waiting in the lead item, and its entries
    b'{"history":[{"sk":"2026-01-01T00:00:00Z#0000000001","version":1,"model_version":"",'
    b'"recorded_at":1.0,"entries":[{"event_id":"","event_type":"page_view","at":"2026-01-01T00:00:00Z",'
    b'"score_before":0.0,"score_after":0.0,"stage_before":"awareness","stage_after":"awareness",'
    b'"changes":[{"event_id":"","rule":"","dimension":"main","delta":10.0,"before":0.0,"after":10.0,'
    b'"why":": 10 points"}],"alerts":[]}]}],'
)


DICTIONARIES = {"v1": PRESET, "none": None}  # what new streams may be written with
_writing: bytes | None = PRESET


def write_with(name: str) -> None:
    """Write new streams with this dictionary ("v1"), or as plain zlib ("none"); reading takes either."""
    global _writing
    if name not in DICTIONARIES:
        raise ValueError(f"unknown stored JSON dictionary {name!r}: use one of {', '.join(DICTIONARIES)}")
    _writing = DICTIONARIES[name]


def pack(data: bytes) -> bytes:
    if _writing is None:
        return zlib.compress(data, LEVEL)
    compressor = zlib.compressobj(LEVEL, zdict=_writing)
    return compressor.compress(data) + compressor.flush()


def unpack(blob: bytes) -> bytes:
    """Either kind of stream: with the preset dictionary, or plain zlib (written before it). A
    truncated stream, or bytes after its end, is an error, as `zlib.decompress` makes it."""
    inflater = zlib.decompressobj(zdict=PRESET)
    data = inflater.decompress(blob) + inflater.flush()
    if not inflater.eof or inflater.unused_data:
        raise zlib.error("incomplete or truncated stream" if not inflater.eof else "bytes after the stream's end")
    return data
