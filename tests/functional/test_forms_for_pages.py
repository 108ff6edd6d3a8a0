"""Forms on real pages, through the forms handler as API Gateway calls it: a browser's plain HTML
post is redirected to the thank-you page (or shown a readable page), the usual hidden fields
(utm_*, click ids, page, referrer, the submit button) become event properties, and the signed
visitor id posted as a hidden field links the earlier browsing."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
from conftest import clear_of_window_edges

from leadscore.core.spec import FormSpec
from leadscore.handlers.forms import prefers_html
from leadscore.ingest.forms import FormError, parse_multipart, validate_submission
from leadscore.local.stack import LambdaContext, http_event

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what Firefox and Chrome send
URLENCODED = "application/x-www-form-urlencoded"
PAGE = "https://www.fjordline.example/contact"
ATTRIBUTION = {
    "utm_source": "linkedin",
    "utm_medium": "paid",
    "utm_campaign": "q4-data-platform",
    "utm_term": "lead scoring",
    "utm_content": "banner-b",
    "gclid": "EAIaIQobChMI",
    "fbclid": "IwAR3x",
    "msclkid": "a1b2c3",
    "page_url": PAGE + "?utm_source=linkedin",
    "referrer": "https://www.linkedin.com/",
    "submit": "Send",
}


def post(
    api,
    form_id: str,
    fields: dict | str | bytes,
    *,
    kind: str = URLENCODED,
    accept: str | None = BROWSER,
    headers: dict | None = None,
    source_ip: str = "198.51.100.20",
) -> dict:
    """The Lambda proxy result for one form post (status, headers, body as sent on)."""
    body = urlencode(fields, doseq=True) if isinstance(fields, dict) else fields
    sent = {"content-type": kind, **({"accept": accept} if accept else {}), **(headers or {})}
    event = http_event("POST", f"/forms/{form_id}", body, sent, {"formId": form_id})
    event["requestContext"]["http"]["sourceIp"] = source_ip
    return api.forms.handler(event, LambdaContext())


def header(response: dict, name: str) -> str | None:
    return {key.lower(): value for key, value in (response.get("headers") or {}).items()}.get(name.lower())


def queued_events(api) -> list[dict]:
    """Every message on the scoring queue (read without deleting: they stay for the consumer)."""
    sqs = boto3.client("sqs")
    found = sqs.receive_message(QueueUrl=api.stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(message["Body"]) for message in found.get("Messages", [])]


# A browser's plain HTML post


def test_a_browser_post_is_sent_to_the_thank_you_page(api):
    # Given the contact-sales form (thank_you in the model) posted by a browser
    response = post(api, "contact-sales", {"email": "ingrid@nordkraft.no", "budget": "over_50k"})
    # Then the visitor is sent on with 303 See Other, and the form is queued
    assert response["statusCode"] == 303
    assert header(response, "Location") == "https://www.fjordline.example/thanks"
    assert 'href="https://www.fjordline.example/thanks"' in response["body"]
    assert api.queued() == 1


def test_a_json_post_keeps_its_202(api):
    body = json.dumps({"email": "ingrid@nordkraft.no"})
    response = post(api, "contact-sales", body, kind="application/json", accept=BROWSER)
    assert (response["statusCode"], json.loads(response["body"])) == (202, {"status": "accepted"})


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, text/html;q=0.5"])
def test_a_form_body_from_a_script_keeps_the_json_answer(api, accept):
    response = post(api, "contact-sales", {"email": "ingrid@nordkraft.no"}, accept=accept)
    assert (response["statusCode"], json.loads(response["body"])) == (202, {"status": "accepted"})


def test_a_multipart_post_is_read_like_a_urlencoded_one(api):
    boundary = "----formdata-7d1"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\nsofie@havnelogistik.dk\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="utm_source"\r\n\r\nnewsletter\r\n'
        f"--{boundary}--\r\n"
    )
    response = post(api, "contact-sales", body, kind=f"multipart/form-data; boundary={boundary}")
    assert response["statusCode"] == 303
    (message,) = queued_events(api)
    assert message["event"]["properties"]["utm_source"] == "newsletter"


def test_a_multipart_file_upload_is_refused():
    body = b'--b\r\nContent-Disposition: form-data; name="cv"; filename="cv.pdf"\r\n\r\n%PDF\r\n--b--\r\n'
    with pytest.raises(ValueError, match="is a file"):
        parse_multipart(body, "multipart/form-data; boundary=b")


def test_a_bot_caught_by_the_honeypot_is_sent_to_the_thank_you_page_too(api):
    response = post(api, "contact-sales", {"email": "bot@spam.example", "website": "http://spam.example"})
    assert response["statusCode"] == 303 and api.queued() == 0  # it learns nothing, nothing is queued


def test_a_form_without_thank_you_answers_a_small_page_not_raw_json(api):
    response = post(api, "nps-survey", {"email": "jan@polderbank.nl", "nps": "9"})
    assert response["statusCode"] == 202
    assert header(response, "Content-Type").startswith("text/html")
    assert "<h1>Thank you</h1>" in response["body"]


def test_a_path_thank_you_is_on_the_site_that_posted_the_form(api, monkeypatch):
    from leadscore.handlers import runtime

    form = runtime.model().spec.forms["contact-sales"]
    monkeypatch.setitem(runtime.model().spec.forms, "contact-sales", form.model_copy(update={"thank_you": "/thanks"}))
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://www.fjordline.example")
    runtime.settings.cache_clear()
    allowed = post(
        api, "contact-sales", {"email": "a@acme.example"}, headers={"origin": "https://www.fjordline.example"}
    )
    other = post(api, "contact-sales", {"email": "b@acme.example"}, headers={"origin": "https://evil.example"})
    runtime.settings.cache_clear()
    assert header(allowed, "Location") == "https://www.fjordline.example/thanks"
    assert header(other, "Location") == "/thanks"  # an origin not allowed is never where we send people


# Errors for a person


def test_a_refused_html_post_is_sent_to_the_error_page_naming_the_code_and_fields(api):
    response = post(api, "contact-sales", {"email": "not-an-address", "budget": "millions"})
    assert response["statusCode"] == 303
    location = urlsplit(header(response, "Location"))
    assert f"{location.scheme}://{location.netloc}{location.path}" == PAGE
    assert parse_qs(location.query) == {"error": ["invalid_fields"], "field": ["email", "budget"]}
    assert api.queued() == 0


def test_without_an_error_url_a_refused_post_gets_a_readable_page_naming_the_field(api):
    referer = "https://www.fjordline.example/nps?x=1"
    response = post(api, "nps-survey", {"email": "jan@polderbank.nl", "nps": "11"}, headers={"referer": referer})
    assert response["statusCode"] == 422
    assert header(response, "Content-Type").startswith("text/html")
    page = response["body"]
    assert "nps: must be at most 10" in page
    assert 'href="https://www.fjordline.example/nps?x=1"' in page  # back to the form
    assert header(response, "Content-Security-Policy").startswith("default-src 'none'")


def test_the_error_page_escapes_what_the_visitor_sent(api):
    # Given a field value and an unknown field name carrying markup
    attack = {"email": "<script>alert(1)</script>@x", "<img src=x onerror=alert(1)>": "1", "nps": "9"}
    response = post(api, "nps-survey", attack, headers={"referer": 'javascript:alert("x")'})
    page = response["body"]
    # Then nothing of it is markup on the page, and a script address is never a link
    assert response["statusCode"] == 422
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "javascript:" not in page


def test_a_throttled_html_post_gets_a_page_with_retry_after(api):
    clear_of_window_edges(3600, 600)
    answers = [post(api, "nps-survey", {"email": "same@acme.example", "nps": "5"}) for _ in range(6)]
    assert [answer["statusCode"] for answer in answers] == [202] * 5 + [429]
    assert int(header(answers[-1], "Retry-After")) > 0
    assert "Too many submissions" in answers[-1]["body"]


def test_an_unreadable_html_post_is_a_page_too(api):
    response = post(api, "nps-survey", "email=a@b.example", kind="text/plain")
    assert response["statusCode"] == 415 and header(response, "Content-Type").startswith("text/html")


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        (BROWSER, True),
        ("text/html", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("text/html;q=0.4, application/json", False),
        ("text/html, application/json;q=0.9", True),
        ("text/html;q=0", False),
        ("text/html;q=abc", False),
    ],
)
def test_a_page_is_answered_only_when_the_client_prefers_html(accept, page):
    assert prefers_html(accept) is page


# Hidden fields of real pages


def test_utm_click_ids_page_referrer_and_submit_are_event_properties_never_profile(api):
    response = post(api, "contact-sales", {"email": "ingrid@nordkraft.no", "job_title": "CTO", **ATTRIBUTION})
    assert response["statusCode"] == 303
    (message,) = queued_events(api)
    properties, profile = message["event"]["properties"], message["event"]["profile"]
    assert properties == {**ATTRIBUTION, "form": "contact-sales"}
    assert profile == {"job_title": "CTO"}
    # and the lead is scored as before: the captured fields change no points
    api.drain()
    status, lead = api.get_lead("ingrid@nordkraft.no")
    assert status == 200 and lead["breakdown"]["contact-sales-form"] == 25


def test_captured_values_are_bounded_and_cleaned():
    form = FormSpec(fields={"email": {"type": "email", "required": True}})
    sent = {
        "email": "a@acme.example",
        "utm_campaign": "x" * 5000,
        "page": "https://a.example/p\u200b\x00",
        "referrer": ["", "https://b.example/"],
        "gclid": {"nested": "object"},
        "utm_source": "   ",
    }
    captured = validate_submission("c", form, sent).captured
    assert captured == {"utm_campaign": "x" * 200, "page_url": "https://a.example/p", "referrer": "https://b.example/"}


def test_page_url_wins_over_page_and_a_declared_field_is_never_captured():
    form = FormSpec(fields={"email": {"type": "email", "required": True}, "submit": {"type": "text"}})
    sent = {"email": "a@acme.example", "page": "https://a.example/old", "page_url": "https://a.example/new"}
    submission = validate_submission("c", form, {**sent, "submit": "Go"})
    assert submission.captured == {"page_url": "https://a.example/new"}
    assert submission.fields == {"submit": "Go"}


def test_capture_none_refuses_the_hidden_fields_as_unknown():
    form = FormSpec(capture="none", fields={"email": {"type": "email", "required": True}})
    with pytest.raises(FormError) as refused:
        validate_submission("c", form, {"email": "a@acme.example", "utm_source": "x", "submit": "Send"})
    assert refused.value.problems == {
        "utm_source": "unknown field for this form",
        "submit": "unknown field for this form",
    }


def test_capture_takes_only_the_groups_listed():
    form = FormSpec(capture=["utm"], fields={"email": {"type": "email", "required": True}})
    with pytest.raises(FormError) as refused:
        validate_submission("c", form, {"email": "a@acme.example", "utm_source": "x", "gclid": "y"})
    assert refused.value.problems == {"gclid": "unknown field for this form"}


def test_extra_fields_ignore_drops_unknown_fields_and_never_stores_them(api, monkeypatch):
    from leadscore.handlers import runtime

    form = runtime.model().spec.forms["nps-survey"]
    monkeypatch.setitem(runtime.model().spec.forms, "nps-survey", form.model_copy(update={"extra_fields": "ignore"}))
    response = post(api, "nps-survey", {"email": "a@acme.example", "nps": "8", "colour": "red"}, accept="*/*")
    assert response["statusCode"] == 202
    (message,) = queued_events(api)
    assert "colour" not in json.dumps(message)


def test_other_undeclared_fields_are_still_refused_by_default(api):
    response = post(api, "nps-survey", {"email": "a@acme.example", "nps": "8", "colour": "red"}, accept="*/*")
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["fields"] == {"colour": "unknown field for this form"}


# The signed visitor id links earlier browsing, from a plain HTML post too


def _browse(api, visitor: str, pages: int) -> None:
    now = int(time.time()) - 600
    events = [
        {
            "id": f"{visitor[-6:]}-{i}",
            "type": "page_view",
            "anonymous_id": visitor,
            "timestamp": now + i,
            "properties": {"url": "https://fjordline.example/pricing"},
        }
        for i in range(pages)
    ]
    assert api.post_events(events)[0] == 202


@pytest.mark.parametrize("field", ["anonymous_id", "visitor_id"])
def test_the_signed_visitor_id_in_an_html_post_links_the_earlier_browsing(api, field):
    # Given a visitor the tracking snippet identified, browsing anonymously, scored
    status, issued = api.call(api.forms, http_event("POST", "/visitors"))
    visitor = issued["visitor_id"]
    _browse(api, visitor, 3)
    api.drain()
    # When the visitor sends the contact form from the browser, the id in a hidden field
    response = post(api, "contact-sales", {"email": "bob@acme.example", field: visitor, **ATTRIBUTION})
    assert response["statusCode"] == 303
    # Then, once the queue drains, the lead has the earlier visits credited
    api.drain()
    status, lead = api.get_lead("bob@acme.example")
    assert status == 200
    assert lead["breakdown"]["pricing-page"] == 10 and lead["breakdown"]["contact-sales-form"] == 25


def test_two_different_visitor_ids_in_one_post_are_refused():
    form = FormSpec(fields={"email": {"type": "email", "required": True}})
    with pytest.raises(FormError) as refused:
        validate_submission("c", form, {"email": "a@acme.example", "anonymous_id": "v1.a.b", "visitor_id": "v1.c.d"})
    assert "differ" in refused.value.problems["anonymous_id"]
