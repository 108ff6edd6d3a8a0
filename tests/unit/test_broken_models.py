"""Broken models and the exact messages a marketer gets: file:line:column, rule, what, a hint."""

from __future__ import annotations

import pytest

from leadscore.core.loader import ModelError, load_model, load_text

BROKEN_MODELS = {
    "yaml_syntax_unquoted_colon": (
        "rules:\n  - id: demo\n    description: Asked for a demo: straight to sales\n    when: {event: webinar_attend}\n    points: 5\n",
        [
            "model.yaml:3:34: YAML syntax: mapping values are not allowed in this context (a ': ' inside a value? put the value in quotes)"
        ],
    ),
    "yaml_duplicate_key": (
        "sales_ready_score: 100\nrules:\n  - id: demo\n    when: {event: webinar_attend}\n    points: 5\n    points: 8\n",
        ["model.yaml:6:5: rule demo: duplicate key 'points' (first written at model.yaml:5:5)"],
    ),
    "unknown_top_level_key": (
        "sales_redy_score: 100\n",
        ["model.yaml:1:1: unknown key 'sales_redy_score' (did you mean 'sales_ready_score'?)"],
    ),
    "unknown_rule_key": (
        "rules:\n  - id: wp\n    when: {event: download}\n    redainess: 30%\n",
        ["model.yaml:4:5: rule wp: unknown key 'redainess' (did you mean 'readiness'?)"],
    ),
    "unknown_operator": (
        'rules:\n  - id: wp\n    when: {event: download, asset: {glb: "whitepaper-*"}}\n    points: 30\n',
        ["model.yaml:3:37: rule wp: when.asset: unknown key 'glb' (did you mean 'glob'?)"],
    ),
    "points_not_a_number": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: ten\n",
        ["model.yaml:4:13: rule wp: points: 'ten' is not a number"],
    ),
    "bad_duration": (
        "rules:\n  - id: click\n    when: {event: email_click}\n    points: 3\n    limit: {cooldown: 30 days}\n",
        [
            "model.yaml:5:23: rule click: limit.cooldown: '30 days' is not a duration; write a number and a unit, like 30d, 12h or 2w"
        ],
    ),
    "bad_percentage": (
        "rules:\n  - id: wp\n    when: {event: download}\n    readiness: thirty percent\n",
        ["model.yaml:4:16: rule wp: readiness: 'thirty percent' is not a percentage; write it like 30%"],
    ),
    "percentage_over_100": (
        "rules:\n  - id: wp\n    when: {event: download}\n    readiness: 130%\n",
        ["model.yaml:4:16: rule wp: readiness: readiness 130% is over 100%: nobody is more than fully sales-ready"],
    ),
    "points_and_readiness": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 30\n    readiness: 30%\n",
        ["model.yaml:2:5: rule wp: give either `points` or `readiness`, exactly one of them"],
    ),
    "neither_points_nor_readiness": (
        "rules:\n  - id: wp\n    when: {event: download}\n",
        ["model.yaml:2:5: rule wp: give either `points` or `readiness`, exactly one of them"],
    ),
    "when_without_event": (
        'rules:\n  - id: wp\n    when: {asset: "whitepaper-*"}\n    points: 30\n',
        ["model.yaml:3:11: rule wp: when: `when` needs `event`: the event type(s) this rule scores"],
    ),
    "unknown_event_type": (
        "rules:\n  - id: wp\n    when: {event: dowload}\n    points: 30\n",
        [
            "model.yaml:3:19: rule wp: when.event: unknown event type 'dowload' (did you mean 'download'?); add custom ones under `event_types:`"
        ],
    ),
    "unknown_stage": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 30\n    stage: considration\n",
        ["model.yaml:5:12: rule wp: stage: unknown stage 'considration' (did you mean 'consideration'?)"],
    ),
    "unknown_extra_score": (
        "scores:\n  data_platform: {}\nrules:\n  - id: wp\n    when: {event: download}\n    points: 30\n    scores: [main, data_platfrom]\n",
        [
            "model.yaml:7:20: rule wp: scores[1]: unknown score 'data_platfrom' (did you mean 'data_platform'?); declare it under `scores:`"
        ],
    ),
    "unknown_group": (
        "groups:\n  email: {cap: 20}\nrules:\n  - id: open\n    when: {event: email_open}\n    points: 2\n    group: emails\n",
        ["model.yaml:7:12: rule open: group: unknown group 'emails' (did you mean 'email'?)"],
    ),
    "duplicate_rule_id": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 30\n  - id: wp\n    when: {event: webinar_attend}\n    points: 10\n",
        ["model.yaml:5:9: rule wp: id: duplicate rule id (first at model.yaml:2:9)"],
    ),
    "bad_regex": (
        'rules:\n  - id: docs\n    when: {event: page_view, url: {regex: "/docs/(sso|audit"}}\n    points: 2\n',
        [
            "model.yaml:3:43: rule docs: when.url.regex: bad regular expression '/docs/(sso|audit': missing ), unterminated subpattern at position 6"
        ],
    ),
    "min_above_max": (
        "rules:\n  - id: video\n    when: {event: video_play, percent: {min: 90, max: 50}}\n    points: 5\n",
        ["model.yaml:3:40: rule video: when.percent: min 90 is above max 50: nothing can match"],
    ),
    "overlapping_stages": (
        "stages:\n  - {id: awareness, min: 0, max: 40}\n  - {id: consideration, min: 33, max: 100}\n",
        [
            "model.yaml:3:30: stages[1].min: stage consideration (33-) overlaps stage awareness (0-40)",
            "model.yaml:3:30: stages[1].min: stage consideration starts at 33 and can never be reached: the highest reachable score is 0 (fit at most 0 + engagement at most 0)",
        ],
    ),
    "gap_between_stages": (
        "stages:\n  - {id: awareness, min: 0, max: 30}\n  - {id: consideration, min: 40}\n",
        [
            "model.yaml:3:30: stages[1].min: scores above 30 and below 40 fall in no stage (gap between awareness and consideration)",
            "model.yaml:3:30: stages[1].min: stage consideration starts at 40 and can never be reached: the highest reachable score is 0 (fit at most 0 + engagement at most 0)",
        ],
    ),
    "explicit_share_over_half": (
        "explicit_share_max: 70%\n",
        [
            "model.yaml:1:21: explicit_share_max: 70% is too much: fit data may give at most 50% of the sales-ready score, so a perfect fit that does nothing is never sales-ready"
        ],
    ),
    "per_without_max": (
        "rules:\n  - id: open\n    when: {event: email_open}\n    points: 2\n    limit: {per: day}\n",
        ["model.yaml:5:12: rule open: limit: `max` and `per` go together, like {max: 3, per: day}"],
    ),
    "unknown_period": (
        "rules:\n  - id: open\n    when: {event: email_open}\n    points: 2\n    limit: {max: 1, per: dya}\n",
        ["model.yaml:5:26: rule open: limit.per: 'dya' is not one of: day, week, month (did you mean 'day'?)"],
    ),
    "fit_rule_with_limit": (
        "rules:\n  - id: director\n    fit: {job_title: {contains: director}}\n    readiness: 15%\n    limit: once\n",
        [
            "model.yaml:5:5: rule director: `limit` is for behaviour rules; a fit rule counts once while the profile matches"
        ],
    ),
    "threshold_unreachable": (
        "alerts:\n  lead: {threshold: 150}\nrules:\n  - id: wp\n    when: {event: download}\n    readiness: 30%\n    limit: once\n  - id: director\n    fit: {job_title: {contains: director}}\n    readiness: 20%\n",
        [
            "model.yaml:2:21: alerts.lead.threshold: threshold 150 can never be reached: the highest reachable score is 50 (fit at most 20 + engagement at most 30)"
        ],
    ),
    "rearm_above_threshold": (
        "alerts:\n  lead: {threshold: 100, rearm_below: 120}\n",
        [
            "model.yaml:2:39: alerts.lead.rearm_below: rearm_below 120 is above the threshold 100; the alert would re-arm while still over it",
            "model.yaml:2:21: alerts.lead.threshold: threshold 100 can never be reached: the highest reachable score is 0 (fit at most 0 + engagement at most 0)",
        ],
    ),
    "nps_bands_overlap": (
        "nps:\n  scale: [0, 10]\n  detractors: [0, 6]\n  passives: [6, 8]\n  promoters: [9, 10]\n",
        [
            "model.yaml:4:13: nps.passives: passives start at 6 but the band before ends at 6; bands must cover the scale without overlap"
        ],
    ),
    "mean_of_top_without_top": (
        "accounts:\n  aggregate: mean_of_top\n",
        ["model.yaml:2:3: accounts: aggregate mean_of_top needs `top: N`"],
    ),
    "form_without_email": (
        "forms:\n  survey:\n    fields:\n      nps: {type: integer, min: 0, max: 10}\n",
        ["model.yaml:4:7: forms.survey.fields: a form needs an `email` field of type email: it identifies the lead"],
    ),
    "choice_without_choices": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      budget: {type: choice}\n",
        ["model.yaml:5:15: forms.contact.fields.budget: a choice field needs `choices`"],
    ),
    "form_sets_the_account_key": (
        "forms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      company_id: {type: text}\n",
        [
            "model.yaml:5:19: forms.contact.fields.company_id: 'company_id' is a trusted field (it decides the lead's account or comes from the CRM): anyone can post a public form, so a form cannot set it; remove it from the form (send it with signed tracking or a CRM import instead)"
        ],
    ),
    "form_sets_a_crm_field": (
        "trusted_fields: [owner]\nforms:\n  contact:\n    fields:\n      email: {type: email, required: true}\n      owner: {type: text}\n",
        [
            "model.yaml:6:14: forms.contact.fields.owner: 'owner' is a trusted field (it decides the lead's account or comes from the CRM): anyone can post a public form, so a form cannot set it; remove it from the form (send it with signed tracking or a CRM import instead)"
        ],
    ),
    "decay_every_zero": (
        "decay: {after_inactive: 30d, every: 0d, percent: 10%}\n",
        ["model.yaml:1:37: decay.every: every 0d would decay endlessly; write a period such as 7d"],
    ),
    "bad_schedule": (
        'reports:\n  velocity: {to: [boss@example.com], schedule: "every morning"}\n',
        [
            "model.yaml:2:48: reports.velocity.schedule: 'every morning' is not a schedule; write cron(0 7 * * ? *) or rate(1 day)"
        ],
    ),
    "bad_email_recipient": (
        "alerts:\n  lead: {threshold: 10, notify: [sales-team]}\n",
        ["model.yaml:2:34: alerts.lead.notify[0]: 'sales-team' is not an email address"],
    ),
    "wrong_type_for_rules": (
        "rules:\n  id: wp\n",
        ["model.yaml:2:3: rules: expected a list, got a mapping"],
    ),
    "condition_of_wrong_type": (
        "rules:\n  - id: wp\n    when: {event: download, asset: null}\n    points: 30\n",
        [
            "model.yaml:3:36: rule wp: when.asset: nothing is not a condition: write a value, a list of values, or operators like {glob: ...}"
        ],
    ),
    "extra_score_decays_without_decay": (
        "scores:\n  data_platform: {label: Data platform interest, decay: true}\n",
        [
            "model.yaml:2:57: scores.data_platform.decay: `decay: true` needs a top-level `decay:` (after_inactive, every, percent or points): an extra score decays with the main engagement's decay settings"
        ],
    ),
    "custom_event_shadows_builtin": (
        "event_types: [download, trial_start]\n",
        ["model.yaml:1:15: event_types[0]: 'download' is already a built-in event type"],
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN_MODELS))
def test_broken_model_is_rejected_with_exact_messages(name: str) -> None:
    text, expected = BROKEN_MODELS[name]
    with pytest.raises(ModelError) as error:
        load_text(text)
    assert error.value.problems == expected


def test_every_problem_is_reported_in_line_order_not_just_the_first() -> None:
    # Given a model with a structural mistake in one rule and semantic mistakes in others
    text = (
        "rules:\n"
        "  - id: a\n"
        "    when: {event: dowload}\n"
        "    points: 1\n"
        "  - id: b\n"
        "    when: {event: download}\n"
        "    points: ten\n"
        "  - id: c\n"
        "    when: {event: download}\n"
        "    readiness: 150%\n"
    )
    # When it is loaded
    with pytest.raises(ModelError) as error:
        load_text(text)
    # Then all three are listed, top to bottom
    assert [line.split(": rule ")[0] for line in error.value.problems] == [
        "model.yaml:3:19",
        "model.yaml:7:13",
        "model.yaml:10:16",
    ]


def test_problems_name_the_file_they_are_in_after_merging_a_folder(tmp_path) -> None:
    (tmp_path / "a-settings.yaml").write_text("sales_ready_score: 100\nstages:\n  - {id: awareness, min: 0}\n")
    (tmp_path / "b-rules.yaml").write_text(
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 30\n    stage: awarness\n"
    )
    (tmp_path / "c-more.yaml").write_text(
        "sales_ready_score: 50\nrules:\n  - id: wp\n    when: {event: webinar_attend}\n    points: 5\n"
    )
    with pytest.raises(ModelError) as error:
        load_model(tmp_path, display_base=tmp_path)
    assert error.value.problems == [
        "b-rules.yaml:5:12: rule wp: stage: unknown stage 'awarness' (did you mean 'awareness'?)",
        "c-more.yaml:1:1: 'sales_ready_score' is set in two files (also at a-settings.yaml:1:1)",
        "c-more.yaml:3:9: rule wp: id: duplicate rule id (first at b-rules.yaml:2:9)",
    ]


def test_a_missing_model_path_is_named(tmp_path) -> None:
    with pytest.raises(ModelError) as error:
        load_model(tmp_path / "nope")
    assert error.value.problems == [f"{tmp_path / 'nope'}: no such file or folder"]


def test_a_folder_without_yaml_is_named(tmp_path) -> None:
    with pytest.raises(ModelError) as error:
        load_model(tmp_path)
    assert error.value.problems == [f"{tmp_path}: no .yaml files in this folder"]


def test_a_model_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(ModelError) as error:
        load_text("- just\n- a list\n")
    assert error.value.problems == [
        "model.yaml:1:1: a model file must be a mapping of keys (sales_ready_score:, rules:, ...)"
    ]
