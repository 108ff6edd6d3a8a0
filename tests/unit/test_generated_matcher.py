"""The generated per-event-type matcher picks exactly the rules the plain condition loop picks."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.core.compiler import compile_model, matches
from leadscore.core.loader import load_model, load_text

ROOT = Path(__file__).resolve().parents[2]

MODEL = compile_model(
    load_text(
        """
rules:
  - {id: eq, when: {event: page_view, kind: offer}, points: 1}
  - {id: many, when: {event: page_view, kind: [offer, Info, 10]}, points: 1}
  - {id: glob, when: {event: page_view, url: "*/blog/*"}, points: 1}
  - {id: mixed, when: {event: page_view, url: ["*/docs/*", exact]}, points: 1}
  - {id: regex, when: {event: page_view, url: {regex: "/(sso|audit)"}}, points: 1}
  - {id: range, when: {event: page_view, percent: {min: 50, max: 90}}, points: 1}
  - {id: absent, when: {event: page_view, kind: {exists: false}}, points: 1}
  - {id: present, when: {event: page_view, url: {exists: true}}, points: 1}
  - {id: not, when: {event: page_view, kind: {not: [offer]}}, points: 1}
  - {id: two, when: {event: page_view, kind: offer, url: {contains: pricing}}, points: 1}
  - {id: any, when: {event: page_view}, points: 1}
  - {id: f1, fit: {job_title: {contains: [director, vp]}}, points: 1}
  - {id: f2, fit: {employees: {min: 100}, country: [no, se]}, points: 1}
"""
    )
)

values = st.one_of(
    st.none(),
    st.sampled_from(["offer", "OFFER", "info", "10", "exact", "https://a/blog/x", "https://a/docs/sso", "pricing"]),
    st.integers(min_value=0, max_value=100),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
)
properties = st.dictionaries(st.sampled_from(["kind", "url", "percent", "job_title", "employees", "country"]), values)


def plain(rules, props):
    return [rule.id for rule in rules if matches(rule.conditions, props)]


@settings(max_examples=400, deadline=None)
@given(props=properties)
def test_generated_matchers_agree_with_the_condition_loop(props):
    props = {k: v for k, v in props.items() if v is not None}
    generated = [rule.id for rule in MODEL.matchers["page_view"](props)]
    assert generated == plain(MODEL.by_event["page_view"], props)
    assert [rule.id for rule in MODEL.fit_matcher(props)] == plain(MODEL.fit_rules, props)


def test_generated_matchers_agree_on_the_shipped_model_and_sample_traffic():
    import json

    shipped = compile_model(load_model(ROOT / "rules"))
    for line in (ROOT / "events" / "sample-traffic.jsonl").read_text().splitlines():
        data = json.loads(line)
        matcher = shipped.matchers.get(data["type"])
        if matcher is None:
            continue
        props = data.get("properties", {})
        assert [r.id for r in matcher(props)] == plain(shipped.by_event[data["type"]], props)
