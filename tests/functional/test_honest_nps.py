"""NPS answers at the forms door: the model's scale, named in a 422 field error, never stored off it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The README's example, as written there: the nps field takes the model's scale (nps: scale: [0, 10]).
NPS_FORM = """\
  nps-survey:
    description: How likely are you to recommend us? (0-10)
    honeypot: website
    fields:
      email: {type: email, required: true}
      nps: {required: true}
      comment: {type: text, max_length: 2000}
"""


@pytest.fixture
def nps_api(api, tmp_path):
    """The stack with the shipped model, its survey's nps field taking the model's scale."""
    from leadscore.handlers import runtime

    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    text = (folder / "model.yaml").read_text()
    start = text.index("  nps-survey:\n")
    end = text.index("      comment:", start)
    end = text.index("\n", end) + 1
    (folder / "model.yaml").write_text(text[:start] + NPS_FORM + text[end:])
    os.environ["MODEL_PATH"] = str(folder)
    runtime.reset()
    yield api
    runtime.reset()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("11", "11 is outside the NPS scale 0 to 10"),
        ("-1", "-1 is outside the NPS scale 0 to 10"),
        ("8.5", "expected a whole number"),
    ],
)
def test_an_answer_off_the_scale_gets_a_422_naming_the_field_and_the_scale(nps_api, answer, problem):
    status, body = nps_api.post_form("nps-survey", f"email=ann%40acme.example&nps={answer}")
    assert status == 422, body
    assert body["code"] == "invalid_fields"
    assert body["fields"] == {"nps": problem}
    assert nps_api.queued() == 0


def test_an_answer_on_the_scale_is_stored_with_its_category(nps_api):
    assert nps_api.post_form("nps-survey", "email=ann%40acme.example&nps=10")[0] == 202
    assert nps_api.drain() == {"delivered": 1, "failed": 0}
    _, ann = nps_api.get_lead("ann@acme.example")
    assert (ann["nps"], ann["nps_category"]) == (10, "promoter")


def test_a_tracked_nps_answer_off_the_scale_is_422_naming_the_field(api):
    import time

    event = {
        "id": "n1",
        "type": "identify",
        "email": "ann@acme.example",
        "timestamp": int(time.time()),
        "profile": {"nps": 11},
    }
    status, body = api.post_events(event)
    assert status == 422  # like every event the tracking route cannot score
    assert "profile.nps: 11 is outside the NPS scale 0 to 10" in str(body)
    assert api.queued() == 0
