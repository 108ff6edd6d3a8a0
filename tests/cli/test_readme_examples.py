"""The README's rules-language and command-line examples, run as written: each block marked
`<!-- tested: NAME -->` is taken from the README itself, so the documentation cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leadscore.cli.main import main
from leadscore.core.compiler import compile_model
from leadscore.core.loader import ModelError, load_text
from leadscore.core.simulation import simulate
from leadscore.core.state import Event

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def example(name: str) -> str:
    found = re.search(rf"<!-- tested: {re.escape(name)} -->\n```[a-z]*\n(.*?)\n```", README, re.S)
    assert found, f"README has no example marked {name}"
    return found.group(1)


def fit_score(model_text: str, profile: dict) -> float:
    model = compile_model(load_text(model_text))
    event = Event("e1", "identify", "ann@acme.example", 1_790_000_000.0, {}, profile)
    return simulate(model, [event]).report()["leads"][0]["fit"]


def test_contains_word_matches_whole_words_only():
    text = example("contains-word")
    assert fit_score(text, {"job_title": "Intern, Data team"}) == -25
    assert fit_score(text, {"job_title": "International Sales Director"}) == 0
    assert load_text(text).warnings == ()


def test_no_is_norway():
    text = example("yaml-1.2")
    assert load_text(text).spec.rules[0].fit == {"country": ["NO", "SE", "DK", "FI"]}
    assert fit_score(text, {"country": "no"}) == 5  # text ignores case


def test_profile_fields_type_forms_and_fit_rules_once():
    text = example("profile-fields")
    loaded = load_text(text)
    assert loaded.warnings == ()
    assert fit_score(text, {"timeline": "now", "budget": 80000}) == 25
    with pytest.raises(ModelError) as error:
        load_text(text.replace("fit: {timeline: now}", "fit: {timeline: quartr}"))
    quoted = re.search(r"With `fit: \{timeline: quartr\}` instead, `validate` answers\n`(.*?)`\.\n", README, re.S)
    assert quoted
    said = quoted.group(1).replace("`` `profile_fields:` ``", "`profile_fields:`")
    assert error.value.problems == [f"model.yaml:12:21: {said}"]


def test_the_shipped_model_passes_the_strict_check(capsys):
    command = example("strict").removeprefix("$ leadscore ").split()
    assert command == ["validate", "--strict", "rules/"]
    assert main([command[0], command[1], str(ROOT / "rules")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_timeline_example_is_what_simulate_prints(capsys):
    shown = example("timeline").splitlines()
    command = shown[0].removeprefix("$ leadscore ").split()
    arguments = [str(ROOT / part) if part in ("rules", "events/sample-traffic.jsonl") else part for part in command]
    assert main(arguments) == 0
    printed = capsys.readouterr().out.splitlines()
    for line in shown[1:]:
        if line != "...":
            assert line in printed, line


def scores(model_text: str, events: list[dict]) -> dict[str, dict]:
    from leadscore.core.events import parse_event

    report = simulate(compile_model(load_text(model_text)), [parse_event(event) for event in events]).report()
    return {lead["lead"]: lead for lead in report["leads"]}


def test_video_share_watched_from_seconds():
    def watched(n: int, position: float, duration: float) -> dict:
        properties = {"video": "demo", "position": position, "duration": duration}
        return {
            "id": f"v{n}",
            "type": "video_play",
            "email": "ann@acme.example",
            "timestamp": 1_790_000_000 + n,
            "properties": properties,
        }

    text = example("video")
    assert scores(text, [watched(1, 60, 600)])["ann@acme.example"]["score"] == 0  # 10%
    assert scores(text, [watched(1, 60, 600), watched(2, 90, 120)])["ann@acme.example"]["score"] == 10  # 75%
    assert scores(text, [watched(1, 90, 0)])["ann@acme.example"]["score"] == 0  # no duration: no percent


def test_once_per_asset_scores_each_white_paper_once_up_to_the_cap():
    def download(n: int, asset: str) -> dict:
        return {
            "id": f"d{n}",
            "type": "download",
            "email": "ann@acme.example",
            "timestamp": 1_790_000_000 + n,
            "properties": {"asset": asset},
        }

    text = example("once-per")
    assets = ["whitepaper-a", "Whitepaper-A", "whitepaper-b"]
    assert scores(text, [download(n, asset) for n, asset in enumerate(assets)])["ann@acme.example"]["score"] == 60
    assets += ["whitepaper-c"]  # a third paper: the cap of 60 holds
    assert scores(text, [download(n, asset) for n, asset in enumerate(assets)])["ann@acme.example"]["score"] == 60


def test_the_asset_spreadsheet_imports_and_round_trips(capsys, tmp_path):
    import shutil

    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    sheet = tmp_path / "assets.csv"
    sheet.write_text(example("assets-csv") + "\n")
    assert main(["import-assets", str(sheet), "--output", str(folder / "assets.yaml"), "--model", str(folder)]) == 0
    written = (folder / "assets.yaml").read_text()
    capsys.readouterr()
    assert main(["explain", str(folder / "assets.yaml"), "--format", "csv"]) == 0
    (tmp_path / "again.csv").write_text(capsys.readouterr().out)
    (folder / "assets.yaml").unlink()
    assert (
        main(
            [
                "import-assets",
                str(tmp_path / "again.csv"),
                "--output",
                str(folder / "assets.yaml"),
                "--model",
                str(folder),
            ]
        )
        == 0
    )
    assert (folder / "assets.yaml").read_text() == written


def test_an_nps_answer_off_the_scale_is_refused_at_the_form():
    from leadscore.ingest.forms import FormError, validate_submission

    text = example("nps")
    form = load_text(text).spec.forms["nps-survey"]
    assert validate_submission("nps-survey", form, {"email": "ann@acme.example", "nps": "9"}).fields == {"nps": 9}
    with pytest.raises(FormError) as refused:
        validate_submission("nps-survey", form, {"email": "ann@acme.example", "nps": "11"})
    assert refused.value.problems == {"nps": "11 is outside the NPS scale 0 to 10"}
