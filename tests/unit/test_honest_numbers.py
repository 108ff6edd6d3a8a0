"""Numbers kept honest: nothing non-finite reaches a score, NPS answers stay on the model's scale."""

from __future__ import annotations

import math

import pytest
from conftest import T0, Lead, event, model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.core.engine import apply_event, new_lead, view
from leadscore.core.events import EventError, parse_event
from leadscore.core.loader import ModelError, load_text
from leadscore.core.state import Event

# The README's example, as written there.
NPS_MODEL = """\
nps:
  field: nps
  scale: [0, 10]
  detractors: [0, 6]
  passives: [7, 8]
  promoters: [9, 10]
forms:
  nps-survey:
    fields:
      email: {type: email, required: true}
      nps: {required: true}
rules:
  - id: promoter
    fit: {nps: {min: 9}}
    points: 5
"""

MODEL = model(
    NPS_MODEL
    + """\
  - id: big
    fit: {employees: {min: 500}}
    points: 10
  - id: video
    when: {event: video_play, percent: {min: 50}}
    points: 3
  - id: anything
    when: {event: download, size: {max: 1000}}
    points: 1
"""
)

numbers = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e400", "9", "11", "8.5", "n/a"]),
)
values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
keys = st.sampled_from(["nps", "employees", "percent", "size", "position", "duration", "asset", "x"])


def _finite_state(state) -> bool:
    floats = [state.engagement, *state.extras.values(), *state.fit_rules.values(), *state.rule_points.values()]
    floats += [*state.group_points.values(), *state.gains.values()]
    return all(math.isfinite(value) for value in floats)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(properties=st.dictionaries(keys, values, max_size=4), profile=st.dictionaries(keys, values, max_size=4))
def test_whatever_the_door_accepts_scores_without_error_and_stays_finite(properties, profile) -> None:
    kind = "video_play" if "position" in properties else "download"
    data = {"id": "e1", "type": kind, "email": "ann@acme.com", "timestamp": T0, "properties": properties}
    data["profile"] = profile
    try:
        parsed = parse_event(data, nps=MODEL.spec.nps)
    except EventError:
        return  # refused at the door, with a message: nothing reaches the engine
    state = new_lead(MODEL, "ann@acme.com")
    apply_event(MODEL, state, parsed)
    facts = view(MODEL, state, T0)
    assert _finite_state(state)
    assert math.isfinite(facts["score"])
    assert facts["nps"] is None or facts["nps_category"] is not None or not _is_number(facts["nps"])


def _is_number(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


@settings(max_examples=300, deadline=None)
@given(properties=st.dictionaries(keys, values, max_size=4), profile=st.dictionaries(keys, values, max_size=4))
def test_a_caller_bypassing_the_door_cannot_store_a_non_finite_score(properties, profile) -> None:
    state = new_lead(MODEL, "ann@acme.com")
    for kind in ("video_play", "download", "form_submit"):
        apply_event(MODEL, state, Event(f"e-{kind}", kind, "ann@acme.com", T0, properties, profile))
    assert _finite_state(state)
    assert all(not isinstance(v, float) or math.isfinite(v) for v in state.profile.values())
    assert math.isfinite(view(MODEL, state, T0)["score"])


@pytest.mark.parametrize("text", ["inf", "Infinity", "nan", "1e400", float("inf"), float("nan"), 10**400])
def test_min_never_matches_an_infinite_or_unknown_number(text) -> None:
    ann = Lead(model("rules:\n  - id: big\n    when: {event: download, size: {min: 9}}\n    points: 5\n"))
    assert ann.feed(event("download", size=text)).changes == []


def test_a_non_finite_time_from_a_caller_is_refused() -> None:
    ann = Lead(MODEL)
    with pytest.raises(EventError, match="timestamp: nan is out of range"):
        ann.feed(Event("e1", "download", "ann@acme.com", float("nan"), {}, None))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (11, "profile.nps: 11 is outside the NPS scale 0 to 10"),
        ("11", "profile.nps: '11' is outside the NPS scale 0 to 10"),
        (-1, "profile.nps: -1 is outside the NPS scale 0 to 10"),
        (8.5, "profile.nps: 8.5 is not a whole number; expected a whole number on the NPS scale 0 to 10"),
    ],
)
def test_an_nps_answer_off_the_scale_is_refused_at_the_event_door(answer, message) -> None:
    data = {"id": "e1", "type": "form_submit", "email": "ann@acme.com", "timestamp": T0, "profile": {"nps": answer}}
    with pytest.raises(EventError) as error:
        parse_event(data, nps=MODEL.spec.nps)
    assert str(error.value) == message


def test_an_nps_answer_off_the_scale_is_not_stored_by_the_engine() -> None:
    # Given an answer of 11 handed straight to the engine (no door)
    ann = Lead(MODEL)
    outcome = ann.feed(event("form_submit", profile={"nps": 11}))
    # Then it is not stored, does not match {min: 9}, and the skip says why
    assert "nps" not in ann.state.profile and ann.state.fit_rules == {}
    assert outcome.skipped[0].reason == "profile field 'nps' not stored: 11 is outside the NPS scale 0 to 10"


def test_a_non_finite_profile_value_is_not_stored() -> None:
    ann = Lead(MODEL)
    outcome = ann.feed(event("identify", profile={"employees": float("inf")}))
    assert "employees" not in ann.state.profile
    assert outcome.skipped[0].reason.startswith("profile field 'employees' not stored: inf is not a finite number")


def test_the_nps_field_of_a_form_takes_the_model_scale() -> None:
    field = load_text(NPS_MODEL).spec.forms["nps-survey"].fields["nps"]
    assert (field.type, field.min, field.max, field.nps_scale) == ("integer", 0, 10, (0, 10))


def test_a_form_nps_field_wider_than_the_scale_is_refused() -> None:
    text = NPS_MODEL.replace("nps: {required: true}", "nps: {type: integer, min: 0, max: 100}")
    with pytest.raises(ModelError) as error:
        load_text(text)
    assert error.value.problems == [
        "model.yaml:11:12: forms.nps-survey.fields.nps: this NPS field accepts answers off the model's NPS scale "
        "0 to 10 (nps.scale); they would have no category: leave out min and max to take the scale, or keep them "
        "inside it"
    ]


def test_points_beyond_a_billion_are_refused_so_sums_stay_finite() -> None:
    with pytest.raises(ModelError) as error:
        load_text("rules:\n  - id: huge\n    when: {event: download}\n    points: 1e308\n")
    assert error.value.problems == [
        "model.yaml:4:13: rule huge: points: 1e+308 is more than 1000000000 (one billion), "
        "the most a rule, cap or score may give"
    ]
