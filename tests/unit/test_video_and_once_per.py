"""Video scored by the share watched (percent from seconds) and `limit: {once_per: asset}`."""

from __future__ import annotations

import pytest
from conftest import T0, Lead, event, model

from leadscore.core.events import parse_event, video_percent
from leadscore.core.loader import ModelError, load_text
from leadscore.core.state import MAX_ONCE_VALUES, LeadState

# The README's examples, as written there.
VIDEO_RULE = """\
rules:
  - id: video-three-quarters
    when: {event: video_play, percent: {min: 75}}
    points: 10
"""

ONCE_PER_RULE = """\
rules:
  - id: each-white-paper
    when: {event: download, asset: "whitepaper-*"}
    points: 30
    limit: {once_per: asset}
"""


def video_event(number: int, **properties) -> dict:
    return {
        "id": f"v{number}",
        "type": "video_play",
        "email": "ann@acme.com",
        "timestamp": T0 + number,
        "properties": properties,
    }


@pytest.mark.parametrize(
    ("properties", "percent"),
    [
        ({"position": 90, "duration": 120}, 75.0),  # our names
        ({"position": 90, "total_length": 120}, 75.0),  # Segment's Video Spec
        ({"position": 1, "duration": 3}, 33.3),  # one decimal
        ({"position": 500, "duration": 120}, 100.0),  # past the end: bounded
        ({"position": -5, "duration": 120}, 0.0),
        ({"position": 90, "duration": 120, "percent": 10}, 10),  # the sender's own figure wins
    ],
)
def test_percent_is_derived_from_seconds(properties, percent) -> None:
    assert parse_event(video_event(1, **properties)).properties["percent"] == percent


@pytest.mark.parametrize(
    "properties",
    [
        {"position": 30, "duration": 0},
        {"position": 30},
        {"position": 30, "duration": -10},
        {"position": "30", "duration": 60},
        {"position": True, "duration": 60},
    ],
)
def test_no_duration_gives_no_percent_and_no_error(properties) -> None:
    assert "percent" not in parse_event(video_event(1, **properties)).properties


def test_percent_is_only_derived_for_video_events() -> None:
    data = {**video_event(1, position=9, duration=10), "type": "page_view"}
    assert "percent" not in parse_event(data).properties


def test_a_video_rule_scores_the_share_watched_not_the_seconds() -> None:
    # Given a rule for three quarters of a video
    compiled = model(VIDEO_RULE)
    ann = Lead(compiled)
    # When one minute of a ten-minute video, then 90 s of a two-minute one are watched
    short = ann.feed(parse_event(video_event(1, position=60, duration=600)))
    most = ann.feed(parse_event(video_event(2, position=90, duration=120)))
    # Then only the second scores
    assert (short.score_after, most.score_after) == (0, 10)


def test_video_percent_never_divides_by_zero_or_overflows() -> None:
    assert video_percent(2**63, 1e-300) == 100.0
    assert video_percent(10, 0) is None
    assert video_percent(float("nan"), 10) is None


def test_once_per_asset_scores_each_asset_once() -> None:
    # Given a rule that scores each white paper once
    ann = Lead(model(ONCE_PER_RULE))
    # When two white papers are downloaded, one of them twice (in other letter case)
    ann.feed(
        event("download", asset="whitepaper-data-1"),
        event("download", asset="whitepaper-security"),
        event("download", asset="WhitePaper-Data-1"),
    )
    # Then each scored once, and the repeat says why it gave nothing
    assert [c.delta for c in ann.changes if c.dimension == "engagement"] == [30, 30]
    assert [s.reason for s in ann.outcomes[-1].skipped] == ["limit: once per asset, already given for this asset"]


def test_once_per_remembers_values_across_a_store_and_reload() -> None:
    compiled = model(ONCE_PER_RULE)
    ann = Lead(compiled)
    ann.feed(event("download", asset="whitepaper-a"))
    ann.state = LeadState.from_dict(ann.state.to_dict())
    assert ann.feed(event("download", asset="whitepaper-a")).changes == []
    assert ann.feed(event("download", asset="whitepaper-b")).changes[0].delta == 30


def test_once_per_stops_at_its_maximum_and_never_scores_a_value_twice() -> None:
    # Given a lead that downloaded MAX_ONCE_VALUES different white papers
    compiled = model(ONCE_PER_RULE.replace("points: 30", "points: 1"))
    ann = Lead(compiled)
    ann.feed(*(event("download", asset=f"whitepaper-{n}") for n in range(MAX_ONCE_VALUES)))
    assert ann.state.engagement == MAX_ONCE_VALUES
    # When one more, new, white paper and an old one arrive
    new = ann.feed(event("download", asset="whitepaper-new"))
    old = ann.feed(event("download", asset="whitepaper-0"))
    # Then neither scores, and the state stays bounded
    assert new.changes == [] and old.changes == []
    assert new.skipped[0].reason == "limit: once per asset, 100 different values already given (the most kept)"
    assert len(ann.state.once_values["each-white-paper"]) == MAX_ONCE_VALUES
    assert len(ann.state.to_dict()["once_values"]["each-white-paper"]) <= 1100  # base64 of 8-byte digests


def test_once_per_without_the_property_gives_nothing() -> None:
    ann = Lead(model(ONCE_PER_RULE.replace('asset: "whitepaper-*"', "kind: paper")))
    outcome = ann.feed(event("download", kind="paper"))
    assert outcome.changes == []
    assert outcome.skipped[0].reason == "limit: once per asset, but the event has no asset"


def test_once_per_respects_the_rule_cap() -> None:
    ann = Lead(model(ONCE_PER_RULE + "    cap: 60\n"))
    ann.feed(*(event("download", asset=f"whitepaper-{n}") for n in range(4)))
    assert ann.state.engagement == 60


def test_once_per_is_checked_with_plain_words() -> None:
    with pytest.raises(ModelError) as error:
        load_text(ONCE_PER_RULE.replace("{once_per: asset}", "{once_per: asset, cooldown: 1d}"))
    assert error.value.problems == [
        "model.yaml:5:12: rule each-white-paper: limit: once_per cannot be combined with cooldown: "
        "write limit: {once_per: asset} alone, and use `cap` to bound the points in total"
    ]


def test_the_view_is_unchanged_by_once_per_state() -> None:
    ann = Lead(model(ONCE_PER_RULE))
    ann.feed(event("download", asset="whitepaper-a"))
    assert ann.state.clone().once_values == ann.state.once_values
    assert ann.state.clone().once_values is not ann.state.once_values
