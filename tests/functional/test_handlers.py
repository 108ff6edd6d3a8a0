"""Each handler through its real Lambda entry point, with the sample events in events/."""

from __future__ import annotations

import json

from conftest import resigned, sample

from leadscore.local.stack import LambdaContext


def test_form_sample_is_accepted_queued_and_scored_into_the_lead(api):
    # Given the contact-sales form as a browser posts it (urlencoded, base64 by API Gateway)
    status, body = api.call(api.forms, sample("api-form-contact-sales.json"))
    # Then it is accepted without revealing anything about scores
    assert (status, body) == (202, {"status": "accepted"})
    assert api.queued() == 1
    # When the consumer scores the queue
    assert api.drain() == {"delivered": 1, "failed": 0}
    # Then the lead has its BANT answers and profile as fit points, and the form's points
    status, lead = api.get_lead("ingrid.solberg@nordkraft.no")
    assert status == 200
    assert lead["fit"] == 70 and lead["fit_counted"] == 50  # the explicit share cap (country NO: Norway, +5)
    assert lead["breakdown"]["contact-sales-form"] == 25
    assert lead["account"] == "nordkraft.no"
    assert lead["recent_changes"][0]["event_type"] == "form_submit"
    assert lead["recent_changes"][0]["model_version"] == lead["model_version"]


def test_json_form_stores_the_nps_answer(api):
    status, _ = api.call(api.forms, sample("api-form-nps-survey.json"))
    assert status == 202
    api.drain()
    _, lead = api.get_lead("jan.devries@polderbank.nl")
    assert (lead["nps"], lead["nps_category"]) == (10, "promoter")
    assert lead["breakdown"]["promoter"] == 5


def test_signed_tracking_batch_is_queued_per_event_and_scored(api):
    status, body = api.call(api.tracking, resigned(sample("api-events-batch.json"), api.stack.secret))
    assert (status, body) == (202, {"status": "accepted", "accepted": 3})
    api.drain()
    _, lead = api.get_lead("ingrid.solberg@nordkraft.no")
    assert lead["breakdown"] == {"whitepaper-download": 30, "data-platform-whitepaper": 20, "product-video-half": 5}
    assert lead["extras"]["data_platform"] == 20
    assert lead["counters"] == {"consideration": 2}


def test_segment_calls_are_understood_and_link_the_anonymous_visit(api):
    status, body = api.call(api.tracking, resigned(sample("api-events-segment.json"), api.stack.secret))
    assert (status, body["accepted"]) == (202, 3)
    api.drain()
    _, lead = api.get_lead("sofie.jensen@havnelogistik.dk")
    # the anonymous pricing visit before the identify call counts for the lead
    assert lead["breakdown"]["pricing-page"] == 10
    assert lead["breakdown"]["webinar-registered"] == 8
    assert lead["breakdown"]["senior-title"] == 15  # traits became the profile


def test_anonymous_events_after_identification_go_to_the_lead(api):
    api.post_events(
        {
            "id": "a1",
            "type": "page_view",
            "anonymous_id": "v-1",
            "timestamp": "2026-11-20T10:00:00Z",
            "properties": {"url": "https://x/blog/a"},
        }
    )
    api.drain()
    api.post_events(
        {
            "id": "i1",
            "type": "identify",
            "email": "new@lead.example",
            "timestamp": "2026-11-20T10:01:00Z",
            "properties": {"anonymous_id": "v-1"},
        }
    )
    api.drain()
    api.post_events(
        {
            "id": "a2",
            "type": "page_view",
            "anonymous_id": "v-1",
            "timestamp": "2026-11-20T10:02:00Z",
            "properties": {"url": "https://x/pricing"},
        }
    )
    api.drain()
    _, lead = api.get_lead("new@lead.example")
    assert lead["breakdown"] == {"blog-article": 3, "pricing-page": 10}


def test_consumer_reports_poison_messages_and_scores_the_rest(api):
    event = sample("sqs-scoring-batch.json")
    result = api.consumer.handler(event, LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-poison"}]}
    _, lead = api.get_lead("lars.berg@nordkraft.no")
    assert lead["breakdown"] == {"webinar-attended": 10, "pricing-page": 10}


def test_lead_read_needs_a_known_lead(api):
    status, body = api.call(api.leads, sample("api-lead-get.json"))
    assert (status, body) == (404, {"error": "no such lead", "code": "lead_not_found"})


def test_lead_read_returns_stage_history_and_recent_changes(api):
    api.call(api.tracking, resigned(sample("api-events-batch.json"), api.stack.secret))
    api.drain()
    status, lead = api.call(api.leads, sample("api-lead-get.json"))
    assert status == 200
    assert [entry["stage"] for entry in lead["stage_history"]] == ["awareness", "consideration"]
    assert [change["event_id"] for change in lead["recent_changes"]] == ["evt-9003", "evt-9002"]
    assert json.dumps(lead)  # plain JSON all the way down


def test_the_lead_command_prints_the_stored_breakdown(api, capsys):
    from leadscore.cli.main import main

    api.call(api.tracking, resigned(sample("api-events-batch.json"), api.stack.secret))
    api.drain()
    assert main(["lead", "Ingrid.Solberg@nordkraft.no", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["breakdown"]["whitepaper-download"] == 30
    assert main(["lead", "nobody@nowhere.example"]) == 1
    assert "no lead nobody@nowhere.example" in capsys.readouterr().err
