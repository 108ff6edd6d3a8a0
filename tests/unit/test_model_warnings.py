"""Models that load but cannot work as meant: each warning, exact, with its position.

`leadscore validate` prints `loaded.warnings`; `--strict` (the pull request check) fails when
the tuple is not empty, so these lists are the strict-mode verdicts too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.core.loader import load_model, load_text
from leadscore.core.warnings import loose_matches

RULES = Path(__file__).resolve().parents[2] / "rules"

WARNED_MODELS = {
    "fit_field_no_form_declares": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      job_title: {type: text}\n      budget: {type: choice, choices: [none, under_10k, over_50k]}\n      employees: {type: integer, min: 1}\n      newsletter: {type: boolean}\nrules:\n  - id: size\n    fit: {headcount: {min: 500}}\n    points: 5\n",
        [
            "model.yaml:11:11: warning: rule size: fit: no form has a field 'headcount' and `profile_fields:` does not list it, so this condition may never see a value; declare it under `profile_fields:` (like headcount: text) if the CRM or tracking sends it"
        ],
    ),
    "fit_field_without_forms": (
        "rules:\n  - id: director\n    fit: {job_title: {contains_word: director}}\n    points: 5\n",
        [
            "model.yaml:3:11: warning: rule director: fit: no form has a field 'job_title' and `profile_fields:` does not list it, so this condition may never see a value; declare it under `profile_fields:` (like job_title: text) if the CRM or tracking sends it"
        ],
    ),
    "choice_no_form_can_send": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      job_title: {type: text}\n      budget: {type: choice, choices: [none, under_10k, over_50k]}\n      employees: {type: integer, min: 1}\n      newsletter: {type: boolean}\nrules:\n  - id: budget\n    fit: {budget: [over_50k, over_100k]}\n    points: 5\n",
        [
            "model.yaml:11:30: warning: rule budget: fit.budget[1]: 'over_100k' is not one of the choices of budget (none, over_50k, under_10k) (did you mean 'over_50k'?): no form can send it, so this never matches"
        ],
    ),
    "choice_misspelt_in_equals": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      job_title: {type: text}\n      budget: {type: choice, choices: [none, under_10k, over_50k]}\n      employees: {type: integer, min: 1}\n      newsletter: {type: boolean}\nrules:\n  - id: budget\n    fit: {budget: {equals: ovr_50k}}\n    points: 5\n",
        [
            "model.yaml:11:28: warning: rule budget: fit.budget.equals: 'ovr_50k' is not one of the choices of budget (none, over_50k, under_10k) (did you mean 'over_50k'?): no form can send it, so this never matches"
        ],
    ),
    "number_form_field_compared_with_text": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      job_title: {type: text}\n      budget: {type: choice, choices: [none, under_10k, over_50k]}\n      employees: {type: integer, min: 1}\n      newsletter: {type: boolean}\nrules:\n  - id: size\n    fit: {employees: large}\n    points: 5\n",
        [
            "model.yaml:11:22: warning: rule size: fit.employees: 'large' is text but the forms make employees a number: use {min: ..., max: ...}"
        ],
    ),
    "boolean_form_field_compared_with_yes": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      job_title: {type: text}\n      budget: {type: choice, choices: [none, under_10k, over_50k]}\n      employees: {type: integer, min: 1}\n      newsletter: {type: boolean}\nrules:\n  - id: news\n    fit: {newsletter: yes}\n    points: 5\n",
        [
            "model.yaml:11:23: warning: rule news: fit.newsletter: 'yes' is text but the forms make newsletter true or false: write true or false"
        ],
    ),
    "min_on_a_choice_of_text": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      job_title: {type: text}\n      budget: {type: choice, choices: [none, under_10k, over_50k]}\n      employees: {type: integer, min: 1}\n      newsletter: {type: boolean}\nrules:\n  - id: budget\n    fit: {budget: {min: 10000}}\n    points: 5\n",
        [
            "model.yaml:11:19: warning: rule budget: fit.budget: min/max compare numbers, but budget is a choice of text values"
        ],
    ),
    "contains_hr_matches_chrome": (
        "rules:\n  - id: hr\n    when: {event: page_view, title: {contains: hr}}\n    points: 5\n",
        [
            "model.yaml:3:48: warning: rule hr: when.title.contains: 'hr' also matches inside other words, like 'chrome', 'three', 'through'; use contains_word: hr to match it as a whole word"
        ],
    ),
    "contains_intern_matches_international": (
        "profile_fields: {job_title: text}\nrules:\n  - id: intern\n    fit: {job_title: {contains: [student, intern]}}\n    points: -25\n",
        [
            "model.yaml:4:43: warning: rule intern: fit.job_title.contains[1]: 'intern' also matches inside other words, like 'internal', 'international', 'internet'; use contains_word: intern to match it as a whole word"
        ],
    ),
    "contains_cto_matches_director": (
        "profile_fields: {job_title: text}\nrules:\n  - id: cto\n    fit: {job_title: {contains: cto}}\n    points: 10\n",
        [
            "model.yaml:4:33: warning: rule cto: fit.job_title.contains: 'cto' also matches inside other words, like 'contractor', 'director', 'directory'; use contains_word: cto to match it as a whole word"
        ],
    ),
    "empty_list_never_matches": (
        "rules:\n  - id: nothing\n    when: {event: download, asset: []}\n    points: 5\n",
        [
            "model.yaml:3:36: warning: rule nothing: when.asset: an empty list matches nothing, so this rule never fires; list at least one value"
        ],
    ),
    "empty_any_of_never_matches": (
        "rules:\n  - id: nothing\n    when: {event: download, asset: {any_of: []}}\n    points: 5\n",
        [
            "model.yaml:3:36: warning: rule nothing: when.asset: an empty list matches nothing, so this rule never fires; list at least one value"
        ],
    ),
    "profile_field_takes_declared_choices": (
        "profile_fields: {timeline: {choice: [now, quarter, year]}}\nforms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      timeline: {required: true}\nrules:\n  - id: soon\n    fit: {timeline: [now, quarter]}\n    points: 5\n",
        [],
    ),
    "fine_model": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      job_title: {type: text}\n      budget: {type: choice, choices: [none, under_10k, over_50k]}\n      employees: {type: integer, min: 1}\n      newsletter: {type: boolean}\nrules:\n  - id: budget\n    fit: {budget: over_50k, employees: {min: 200}, newsletter: true, job_title: {contains: [director, engineer]}}\n    points: 5\n",
        [],
    ),
}


@pytest.mark.parametrize("name", sorted(WARNED_MODELS))
def test_a_model_that_cannot_work_as_meant_loads_with_exact_warnings(name: str) -> None:
    text, expected = WARNED_MODELS[name]
    assert list(load_text(text).warnings) == expected


def test_a_model_with_only_warnings_loads_and_lists_every_warning_in_line_order() -> None:
    # Given a model whose rules all parse, but two of them cannot work as meant
    text = (
        "rules:\n"
        "  - id: hr-pages\n"
        "    when: {event: page_view, title: {contains: hr}}\n"
        "    points: 5\n"
        "  - id: big\n"
        "    fit: {headcount: {min: 500}}\n"
        "    points: 10\n"
    )
    # When it is loaded
    loaded = load_text(text)
    # Then it is usable, and not silently: each warning is listed, so --strict fails on it
    assert [rule.id for rule in loaded.spec.rules] == ["hr-pages", "big"]
    assert [line.split(": warning: ")[0] for line in loaded.warnings] == ["model.yaml:3:48", "model.yaml:6:11"]


def test_the_shipped_model_has_no_warnings_so_the_strict_pull_request_check_passes() -> None:
    # it had one: `contains: intern` took 25 points from "International Sales Director"
    loaded = load_model(RULES, display_base=RULES.parent)
    assert loaded.warnings == ()


def test_a_loose_contains_needle_is_a_warning_with_its_position() -> None:
    loaded = load_text(
        "profile_fields: {job_title: text}\n"
        "rules:\n  - id: student-title\n    fit: {job_title: {contains: [student, intern]}}\n    points: -25\n"
    )
    assert loaded.warnings == (
        "model.yaml:4:43: warning: rule student-title: fit.job_title.contains[1]: 'intern' also matches "
        "inside other words, like 'internal', 'international', 'internet'; use contains_word: intern to match "
        "it as a whole word",
    )


def test_a_form_field_takes_the_declared_profile_type_unless_it_gives_one() -> None:
    spec = load_text(
        "profile_fields: {budget: number, timeline: {choice: [now, quarter]}}\n"
        "forms:\n"
        "  contact:\n"
        "    fields:\n"
        "      email: {type: email, required: true}\n"
        "      budget: {min: 0}\n"
        "      timeline: {type: text}\n"
    ).spec
    fields = spec.forms["contact"].fields
    assert (fields["budget"].type, fields["budget"].min) == ("number", 0)
    assert (fields["timeline"].type, fields["timeline"].choices) == ("text", None)


@pytest.mark.parametrize(
    ("needle", "words"),
    [("hr", ["chrome", "three", "through"]), ("engineer", []), ("student", []), ("director", []), ("head of", [])],
)
def test_a_needle_is_loose_only_when_common_words_contain_it_as_another_word(needle: str, words: list[str]) -> None:
    assert loose_matches(needle) == words
