"""Broken models and the exact messages a marketer gets: file:line:column, rule, what, a hint."""

from __future__ import annotations

import pytest

from leadscore.core.loader import ModelError, load_model, load_text

BROKEN_MODELS = {
    "yaml_syntax_unquoted_colon": (
        "rules:\n  - id: demo\n    description: Asked for a demo: straight to sales\n    when: {event: webinar_attend}\n    points: 5\n",
        [
            "model.yaml:3:34: YAML syntax: a ': ' inside a value; put the whole value in quotes, like "
            'description: "Asked for a demo: straight to sales"\n'
            "  3 |     description: Asked for a demo: straight to sales\n"
            "    |                                  ^"
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
        ["model.yaml:2:3: rules: expected a list, got a mapping: start each item with '- '"],
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
    # ---- YAML syntax in plain words, type hints, numbers that are not finite (issue 9) ----
    "yaml_tab_indentation": (
        "rules:\n\t- id: wp\n",
        [
            "model.yaml:2:1: YAML syntax: a tab is used for indentation; YAML indents with spaces only: replace the tab with spaces\n  2 | →- id: wp\n    | ^"
        ],
    ),
    "yaml_tab_inside_item": (
        "rules:\n  - id: wp\n\twhen: {event: download}\n",
        [
            "model.yaml:3:1: YAML syntax: a tab is used for indentation; YAML indents with spaces only: replace the tab with spaces\n  3 | →when: {event: download}\n    | ^"
        ],
    ),
    "yaml_key_indented_too_far": (
        "rules:\n  - id: wp\n     when: {event: download}\n    points: 5\n",
        [
            "model.yaml:3:6: YAML syntax: this key is indented more than the keys above it; line it up with them (or, if it is part of the text above, put that text in quotes)\n  3 |      when: {event: download}\n    |      ^"
        ],
    ),
    "yaml_key_indented_too_little": (
        "rules:\n  - id: wp\n   when: {event: download}\n",
        [
            "model.yaml:3:4: YAML syntax: a key where a list item ('- ') is expected: indent it to column 5 to belong to the item above, or start a new item with '- '\n  3 |    when: {event: download}\n    |    ^"
        ],
    ),
    "yaml_key_where_list_item_goes": (
        "rules:\n  - id: wp\n  points: 5\n",
        [
            "model.yaml:3:3: YAML syntax: a key where a list item ('- ') is expected: indent it to column 5 to belong to the item above, or start a new item with '- '\n  3 |   points: 5\n    |   ^"
        ],
    ),
    "yaml_list_item_where_key_goes": (
        "name: demo\n- id: wp\n",
        [
            "model.yaml:2:1: YAML syntax: a list item ('- ') where a key (name: value) is expected; a list goes under a key, indented below it (like `rules:` and then `  - id: ...`)\n  2 | - id: wp\n    | ^"
        ],
    ),
    "yaml_unclosed_double_quote": (
        'rules:\n  - id: wp\n    description: "Asked for a demo\n    when: {event: download}\n    points: 5\n',
        [
            'model.yaml:3:18: YAML syntax: this " is never closed; end the text with " on the same line\n  3 |     description: "Asked for a demo\n    |                  ^'
        ],
    ),
    "yaml_unclosed_single_quote": (
        "rules:\n  - id: wp\n    description: 'Asked for a demo\n    when: {event: download}\n    points: 5\n",
        [
            "model.yaml:3:18: YAML syntax: this ' is never closed; end the text with ' on the same line\n  3 |     description: 'Asked for a demo\n    |                  ^"
        ],
    ),
    "yaml_unclosed_bracket": (
        "event_types: [trial_start, demo_request\nfloor: 0\n",
        [
            "model.yaml:1:14: YAML syntax: this [ is never closed; add ] at the end of the list\n  1 | event_types: [trial_start, demo_request\n    |              ^"
        ],
    ),
    "yaml_unclosed_brace": (
        "rules:\n  - id: wp\n    when: {event: download\n    points: 5\n",
        [
            "model.yaml:3:11: YAML syntax: this { is never closed; add } at the end of the mapping\n  3 |     when: {event: download\n    |           ^"
        ],
    ),
    "yaml_comment_inside_braces": (
        "rules:\n  - id: wp\n    when: {event: download  # the e-book}\n    points: 5\n",
        [
            "model.yaml:3:11: YAML syntax: a comment inside {...}: '#' starts a comment up to the end of the line, so the closing } was read as part of it; put the comment after the }\n  3 |     when: {event: download  # the e-book}\n    |           ^"
        ],
    ),
    "yaml_unquoted_star": (
        "rules:\n  - id: pricing\n    when: {event: page_view, url: */pricing}\n    points: 5\n",
        [
            'model.yaml:3:36: YAML syntax: a value that starts with * or & must be in quotes, like "*/pricing"\n  3 |     when: {event: page_view, url: */pricing}\n    |                                    ^'
        ],
    ),
    "yaml_two_documents": (
        "floor: 0\n---\nfloor: 1\n",
        [
            "model.yaml:2:1: YAML syntax: one document per file: remove the '---' line, or split the file in two\n  2 | ---\n    | ^"
        ],
    ),
    "yaml_stray_closing_bracket": (
        "event_types: [trial_start]]\n",
        [
            "model.yaml:1:27: YAML syntax: this line does not fit the lines above: check its indentation and brackets\n  1 | event_types: [trial_start]]\n    |                           ^"
        ],
    ),
    "readiness_without_percent": (
        "rules:\n  - id: wp\n    when: {event: download}\n    readiness: 30\n",
        ["model.yaml:4:16: rule wp: readiness: 30 has no unit: write 30% (a share of sales_ready_score) or points: 30"],
    ),
    "readiness_as_a_fraction": (
        "rules:\n  - id: wp\n    when: {event: download}\n    readiness: 0.3\n",
        [
            "model.yaml:4:16: rule wp: readiness: 0.3 has no unit: write 30% (a share of sales_ready_score) or points: 0.3"
        ],
    ),
    "points_with_percent": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 30%\n",
        [
            "model.yaml:4:13: rule wp: points: '30%' is not a number of points: write points: 30, or readiness: 30% for a share of sales_ready_score"
        ],
    ),
    "after_inactive_without_unit": (
        "decay: {after_inactive: 30, every: 7d, percent: 10%}\n",
        [
            "model.yaml:1:25: decay.after_inactive: 30 has no unit: write 30d (or another unit: 30h, 30w, 30m for minutes)"
        ],
    ),
    "cooldown_without_unit": (
        "rules:\n  - id: click\n    when: {event: email_click}\n    points: 3\n    limit: {cooldown: 12}\n",
        [
            "model.yaml:5:23: rule click: limit.cooldown: 12 has no unit: write 12d (or another unit: 12h, 12w, 12m for minutes)"
        ],
    ),
    "explicit_share_without_percent": (
        "explicit_share_max: 40\n",
        ["model.yaml:1:21: explicit_share_max: 40 has no unit: write 40%"],
    ),
    "decay_percent_without_percent": (
        "decay: {after_inactive: 30d, every: 7d, percent: 10}\n",
        ["model.yaml:1:50: decay.percent: 10 has no unit: write 10%"],
    ),
    "points_infinite": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: .inf\n",
        [
            "model.yaml:4:13: rule wp: points: .inf is not a finite number: a score cannot be infinite or not-a-number; write a number like 100"
        ],
    ),
    "points_not_a_number_nan": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: .nan\n",
        [
            "model.yaml:4:13: rule wp: points: .nan is not a finite number: a score cannot be infinite or not-a-number; write a number like 100"
        ],
    ),
    "points_inf_as_text": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: inf\n",
        ["model.yaml:4:13: rule wp: points: 'inf' is not a finite number: write a number like 100"],
    ),
    "min_infinite": (
        "rules:\n  - id: big\n    fit: {employees: {min: -.inf}}\n    points: 5\n",
        [
            "model.yaml:3:28: rule big: fit.employees.min: -.inf is not a finite number: a score cannot be infinite or not-a-number; write a number like 100"
        ],
    ),
    "huge_integer": (
        "sales_ready_score: 9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999\n",
        [
            "model.yaml:1:20: sales_ready_score: 99999999999999999999... is too large a number: a model's numbers must be finite"
        ],
    ),
    "number_overflowing_float": (
        "floor: 1e999\n",
        [
            "model.yaml:1:8: floor: 1e999 is not a finite number: a score cannot be infinite or not-a-number; write a number like 100"
        ],
    ),
    "sexagesimal_is_text": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 1:30\n",
        ["model.yaml:4:13: rule wp: points: '1:30' is not a number"],
    ),
    "date_is_text": (
        "sales_ready_score: 2026-01-05\n",
        ["model.yaml:1:20: sales_ready_score: '2026-01-05' is not a number"],
    ),
    "yes_is_not_a_boolean": (
        "advance_requires_content: yes\n",
        ["model.yaml:1:27: advance_requires_content: 'yes' is not true or false: write true or false"],
    ),
    "custom_yaml_tag": (
        "floor: !!binary aGVsbG8=\n",
        ["model.yaml:1:8: floor: the YAML tag 'tag:yaml.org,2002:binary' is not used in models; remove it"],
    ),
    "when_as_a_list": (
        "rules:\n  - id: wp\n    when:\n      - event: download\n    points: 5\n",
        [
            "model.yaml:4:7: rule wp: when: expected a mapping of keys (name: value), got a list: remove the '- ' in front of its keys"
        ],
    ),
    "declared_number_compared_with_text": (
        "profile_fields: {employees: number}\nrules:\n  - id: big\n    fit: {employees: large}\n    points: 5\n",
        [
            "model.yaml:4:22: rule big: fit.employees: 'large' is text but `profile_fields:` declares employees a number: use {min: ..., max: ...}"
        ],
    ),
    "declared_choice_outside_choices": (
        "profile_fields: {timeline: {choice: [now, quarter, year]}}\nrules:\n  - id: soon\n    fit: {timeline: quartr}\n    points: 5\n",
        [
            "model.yaml:4:21: rule soon: fit.timeline: 'quartr' is not one of the choices of timeline (now, quarter, year) (did you mean 'quarter'?): `profile_fields:` allows only these, so this never matches"
        ],
    ),
    "declared_boolean_compared_with_yes": (
        "profile_fields: {opted_in: boolean}\nrules:\n  - id: opt\n    fit: {opted_in: yes}\n    points: 5\n",
        [
            "model.yaml:4:21: rule opt: fit.opted_in: 'yes' is text but `profile_fields:` declares opted_in true or false: write true or false"
        ],
    ),
    "unknown_profile_type": (
        "profile_fields: {budget: numbr}\n",
        [
            "model.yaml:1:26: profile_fields.budget: 'numbr' is not one of: text, number, integer, boolean, email (did you mean 'number'?)"
        ],
    ),
    "profile_choice_misspelt": (
        "profile_fields: {timeline: {choices: [now]}}\n",
        [
            "model.yaml:1:28: profile_fields.timeline: missing required key 'choice'",
            "model.yaml:1:29: profile_fields.timeline: unknown key 'choices' (did you mean 'choice'?)",
        ],
    ),
    "empty_file": (
        "",
        ["model.yaml:1:1: the file is empty (or only comments); a model needs at least `rules:`"],
    ),
    "comments_only_file": (
        "# nothing yet\n",
        ["model.yaml:1:1: the file is empty (or only comments); a model needs at least `rules:`"],
    ),
    "once_per_with_a_period": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 5\n    limit: {once_per: asset, max: 2, per: day}\n",
        [
            "model.yaml:5:12: rule wp: limit: once_per cannot be combined with max or per: write limit: "
            "{once_per: asset} alone, and use `cap` to bound the points in total"
        ],
    ),
    "once_per_event": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 5\n    limit: {once_per: event}\n",
        [
            "model.yaml:5:23: rule wp: limit.once_per: once_per: event names the event type; "
            "for once per lead write `limit: once`"
        ],
    ),
    "once_per_misspelt": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 5\n    limit: {onceper: asset}\n",
        ["model.yaml:5:13: rule wp: limit: unknown key 'onceper' (did you mean 'once_per'?)"],
    ),
    "once_per_on_a_fit_rule": (
        "rules:\n  - id: big\n    fit: {employees: {min: 500}}\n    points: 5\n    limit: {once_per: asset}\n",
        ["model.yaml:5:5: rule big: `limit` is for behaviour rules; a fit rule counts once while the profile matches"],
    ),
    "form_nps_field_off_the_scale": (
        "forms:\n  survey:\n    fields:\n      email: {type: email, required: true}\n"
        "      nps: {type: integer, min: 0, max: 100}\n",
        [
            "model.yaml:5:12: forms.survey.fields.nps: this NPS field accepts answers off the model's NPS scale "
            "0 to 10 (nps.scale); they would have no category: leave out min and max to take the scale, or keep "
            "them inside it"
        ],
    ),
    "points_beyond_a_billion": (
        "rules:\n  - id: wp\n    when: {event: download}\n    points: 1e12\n",
        [
            "model.yaml:4:13: rule wp: points: 1000000000000 is more than 1000000000 (one billion), "
            "the most a rule, cap or score may give"
        ],
    ),
    "form_thank_you_javascript": (
        "forms:\n  contact:\n    thank_you: 'javascript:alert(1)'\n    fields:\n      email: {type: email, required: true}\n",
        [
            "model.yaml:3:16: forms.contact.thank_you: 'javascript:alert(1)': javascript: addresses are refused; only https URLs or paths starting with / (a browser would run or open it)"
        ],
    ),
    "form_thank_you_plain_http": (
        "forms:\n  contact:\n    thank_you: http://www.fjordline.example/thanks\n    fields:\n      email: {type: email, required: true}\n",
        [
            "model.yaml:3:16: forms.contact.thank_you: 'http://www.fjordline.example/thanks' is not https; visitors would be sent to an unencrypted page: write https://"
        ],
    ),
    "form_thank_you_protocol_relative": (
        "forms:\n  contact:\n    thank_you: //evil.example/thanks\n    fields:\n      email: {type: email, required: true}\n",
        [
            "model.yaml:3:16: forms.contact.thank_you: '//evil.example/thanks' starts with // so browsers read it as another site; write https://evil.example/thanks or a path with one /"
        ],
    ),
    "form_thank_you_bare_word": (
        "forms:\n  contact:\n    thank_you: thanks\n    fields:\n      email: {type: email, required: true}\n",
        [
            "model.yaml:3:16: forms.contact.thank_you: 'thanks' is neither an https URL nor a path; write https://www.example.com/thanks or /thanks"
        ],
    ),
    "form_error_url_with_credentials": (
        "forms:\n  contact:\n    error_url: https://user:pw@www.fjordline.example/error\n    fields:\n      email: {type: email, required: true}\n",
        [
            "model.yaml:3:16: forms.contact.error_url: 'https://user:pw@www.fjordline.example/error' has a user name or password before the site name (the part before @); leave it out"
        ],
    ),
    "form_capture_misspelt_group": (
        "forms:\n  contact:\n    capture: [utm, clickids]\n    fields:\n      email: {type: email, required: true}\n",
        [
            "model.yaml:3:20: forms.contact.capture[1]: 'clickids' is not one of: utm, click_ids, page, submit (did you mean 'click_ids'?)"
        ],
    ),
    "form_extra_fields_unknown_word": (
        "forms:\n  contact:\n    extra_fields: drop\n    fields:\n      email: {type: email, required: true}\n",
        ["model.yaml:3:19: forms.contact.extra_fields: 'drop' is not one of: refuse, ignore"],
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
        "model.yaml:1:1: this file is a list, but a model file is a mapping of keys (sales_ready_score:, rules:, ...); "
        "if these are rules, put `rules:` on the line above and indent them under it"
    ]


def test_a_note_in_the_model_folder_is_skipped_with_a_warning(tmp_path) -> None:
    (tmp_path / "model.yaml").write_text("rules:\n  - id: wp\n    when: {event: download}\n    points: 5\n")
    (tmp_path / "README.md").write_text("# Our scoring model\n")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\xff")
    (tmp_path / "leadscore.schema.json").write_text('{"title": "leadscore scoring model"}')
    loaded = load_model(tmp_path, display_base=tmp_path)
    assert loaded.sources == ("model.yaml",)
    assert loaded.warnings == (
        ".DS_Store:1:1: warning: not a model file (only .yaml and .yml files are read); skipped",
        "README.md:1:1: warning: not a model file (only .yaml and .yml files are read); skipped",
    )


def test_a_model_file_with_another_extension_must_be_renamed(tmp_path) -> None:
    (tmp_path / "model.yaml").write_text("name: demo\n")
    (tmp_path / "scoring.yml.bak").write_text("rules:\n  - id: wp\n    when: {event: download}\n    points: 5\n")
    with pytest.raises(ModelError) as error:
        load_model(tmp_path, display_base=tmp_path)
    assert error.value.problems == [
        "scoring.yml.bak:1:1: this looks like part of the model (it has `rules:`) but only .yaml and .yml "
        "files are read; rename it to scoring.yaml to use it, or move it out of the model folder"
    ]


def test_yml_files_are_read_like_yaml_files(tmp_path) -> None:
    (tmp_path / "model.yaml").write_text("name: demo\n")
    (tmp_path / "fit.yml").write_text("rules:\n  - id: big\n    fit: {employees: {min: 500}}\n    points: 5\n")
    loaded = load_model(tmp_path, display_base=tmp_path)
    assert loaded.sources == ("fit.yml", "model.yaml")
    assert [rule.id for rule in loaded.spec.rules] == ["big"]


def test_an_empty_file_beside_others_is_a_warning_and_alone_an_error(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("# to do\n")
    (tmp_path / "b.yaml").write_text("rules:\n  - id: wp\n    when: {event: download}\n    points: 5\n")
    loaded = load_model(tmp_path, display_base=tmp_path)
    assert loaded.warnings == ("a.yaml:1:1: warning: the file is empty (or only comments); nothing in it is read",)
    with pytest.raises(ModelError) as error:
        load_model(tmp_path / "a.yaml", display_base=tmp_path)
    assert error.value.problems == ["a.yaml:1:1: the file is empty (or only comments); a model needs at least `rules:`"]


def test_a_mistake_in_the_second_file_points_at_the_second_file(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text("rules:\n  - id: a\n    when: {event: download}\n    points: 5\n")
    (tmp_path / "b.yaml").write_text("rules:\n  - id: b\n    when: {event: download}\n    points: 5\n    points: 6\n")
    with pytest.raises(ModelError) as error:
        load_model(tmp_path, display_base=tmp_path)
    assert error.value.problems == ["b.yaml:5:5: rule b: duplicate key 'points' (first written at b.yaml:4:5)"]
