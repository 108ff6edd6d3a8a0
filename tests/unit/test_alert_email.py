"""The sales alert email: a subject per kind, everything untrusted escaped, safe headers, MIME, the sample.

Pure: no network, no AWS. Profile values come from public forms, so most tests feed hostile input
and check it comes out as text (HTML-escaped, one line in headers), never as markup or a header.
"""

from __future__ import annotations

import dataclasses
import email
import html
import importlib.util
import re
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from leadscore.render.alert_email import (
    Activity,
    AlertContext,
    Buyer,
    RenderedEmail,
    RuleLine,
    mime_message,
    render,
)

ROOT = Path(__file__).resolve().parents[2]
CROSSED = 1_796_306_700.0  # 3 Dec 2026 14:05 UTC
HOUR = 3600.0
SENDER = "Fjordline leadscore <alerts@fjordline.example>"
TO = ["sales@fjordline.example"]

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
ALLOWED_TAGS = {"html", "head", "meta", "title", "body", "div", "table", "tr", "td", "th", "span", "a", "b", "br"}
ALLOWED_ATTRS = {
    "lang", "charset", "name", "content", "style", "role", "width", "cellpadding", "cellspacing", "border",
    "bgcolor", "align", "valign", "href", "target", "rel",
}  # fmt: skip


def ingrid_profile(**changes: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "name": "Ingrid Solberg",
        "company": "Nordkraft",
        "job_title": "Head of Data Platforms",
        "country": "NO",
        "employees": 3200,
        "budget": "10k_to_50k",
        "authority": "decision_maker",
        "need": "solution_needed",
        "timing": "this_quarter",
        "nps": 9,
        "comment": "Great pilot.",
    }
    profile.update(changes)
    return {key: value for key, value in profile.items() if value is not None}


def lead_context(**changes: Any) -> AlertContext:
    """Ingrid Solberg crossing the lead alert of the shipped model; `changes` replace fields."""
    context = AlertContext(
        alert_id="alrt-1",
        alert_name="lead",
        kind="lead_score",
        subject="ingrid.solberg@nordkraft.no",
        score=105,
        threshold=100,
        occurred_at=CROSSED,
        event_id="evt-0413",
        stage="sales_ready",
        grade="A",
        temperature="hot",
        profile=ingrid_profile(),
        fit=75,
        fit_cap=50,
        engagement=55,
        nps=9,
        nps_category="promoter",
        top_rules=[
            RuleLine("contact-sales-form", "Submitted the contact-sales form", 25),
            RuleLine("senior-title", "Decision-level job title", 15),
            RuleLine("careers-page", "Looked at job openings", -10),
        ],
        activities=[
            Activity(CROSSED, "form_submit", "contact-sales", 25),
            Activity(CROSSED - HOUR, "page_view", "https://fjordline.example/pricing", 10),
            Activity(CROSSED - 30 * HOUR, "video_play", "lakehouse-demo 80%", 5),
        ],
        account="nordkraft.no",
        account_score=92,
        buyers=[
            Buyer("lars.berg@nordkraft.no", "Lars Berg", "IT Security Architect", 96, "decision"),
            Buyer("emma.dahl@nordkraft.no", None, "Data Engineer", 75, "decision"),
        ],
        engaged_buyers=None,
        crm_url="https://crm.fjordline.example/leads/00Q7Q00000NkRf2",
        model_version="fjordline-b2b@3f9c2e1",
    )
    return dataclasses.replace(context, **changes)


def account_context(kind: str = "account_score", **changes: Any) -> AlertContext:
    """The account nordkraft.no crossing, after an event of Ingrid's."""
    fields: dict[str, Any] = {
        "kind": kind,
        "alert_name": "account" if kind == "account_score" else "buying_group",
        "subject": "nordkraft.no",
        "score": 92,
        "threshold": 90 if kind == "account_score" else 3,
        "stage": None,
        "profile": ingrid_profile(email="ingrid.solberg@nordkraft.no"),
        "engaged_buyers": 3 if kind == "engaged_buyers" else None,
        "account_score": 92,
    }
    fields.update(changes)
    return lead_context(**fields)


def luc_context(**changes: Any) -> AlertContext:
    """A detractor: Luc Peeters answered 3 to the NPS survey."""
    fields: dict[str, Any] = {
        "kind": "nps_detractor",
        "alert_name": "unhappy_customer",
        "subject": "luc.peeters@brusselsteel.be",
        "score": 42,
        "threshold": None,
        "stage": "consideration",
        "profile": {"first_name": "Luc", "last_name": "Peeters", "company": "Brussel Steel", "nps": 3},
        "nps": 3,
        "nps_category": "detractor",
        "account": "brusselsteel.be",
        "buyers": [],
    }
    fields.update(changes)
    return lead_context(**fields)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def subject_of(message: email.message.EmailMessage) -> str:
    """The Subject as a mail client shows it: a long one is folded, and Python keeps the fold's space."""
    return str(message["Subject"]).strip()


class Markup(HTMLParser):
    """Every tag, attribute and text node of a document, as a browser's tokenizer sees them."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def hrefs(self) -> list[str]:
        return [value or "" for name, value in self.attrs if name == "href"]


def assert_safe_markup(document: str) -> Markup:
    """Only our own tags and attributes: nothing that came from input became markup."""
    markup = Markup(document)
    assert set(markup.tags) <= ALLOWED_TAGS, set(markup.tags) - ALLOWED_TAGS
    names = {name for name, _ in markup.attrs}
    assert names <= ALLOWED_ATTRS, names - ALLOWED_ATTRS
    assert not [name for name in names if name.startswith("on")]
    assert all(href.startswith(("mailto:", "https://", "http://")) for href in markup.hrefs()), markup.hrefs()
    lowered = document.lower()
    for forbidden in ("<script", "<style", "<img", "<iframe", "<link", "<object", "<svg", "<form"):
        assert forbidden not in lowered, forbidden
    for name, value in markup.attrs:  # no external images, fonts or script in our own attributes
        for forbidden in ("url(", "@import", "expression(", "javascript:", "src"):
            assert forbidden not in (value or "").lower() or name == "href", (name, value)
    return markup


# --- subjects ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "subject"),
    [
        (lead_context(), "Lead ready for sales: Ingrid Solberg (Nordkraft) - score 105, sales_ready"),
        (
            lead_context(kind="lead_qualified", alert_name="sales_ready"),
            "Lead qualified: Ingrid Solberg (Nordkraft) - score 105, sales_ready, grade A",
        ),
        (account_context(), "Account ready: nordkraft.no - score 92, 3 buyers"),
        (account_context("engaged_buyers"), "Buying group engaged: nordkraft.no - 3 engaged buyers, score 92"),
        (luc_context(), "NPS detractor: Luc Peeters (Brussel Steel) answered 3"),
    ],
    ids=["lead_score", "lead_qualified", "account_score", "engaged_buyers", "nps_detractor"],
)
def test_each_kind_has_its_subject(context: AlertContext, subject: str) -> None:
    rendered = render(context)
    assert rendered.subject == subject
    assert_safe_markup(rendered.html)
    assert rendered.text.splitlines()[0] == subject.split(":")[0].upper()


def test_subject_name_falls_back_to_first_and_last_name_then_the_email() -> None:
    split = lead_context(profile=ingrid_profile(name=None, first_name="Ingrid", last_name="Solberg"))
    assert render(split).subject.startswith("Lead ready for sales: Ingrid Solberg (Nordkraft)")
    anonymous = lead_context(profile={})
    assert render(anonymous).subject == (
        "Lead ready for sales: ingrid.solberg@nordkraft.no (nordkraft.no) - score 105, sales_ready"
    )  # no company in the profile: the account names it


@pytest.mark.parametrize(("score", "shown"), [(104.96, "105"), (87.46, "87.5"), (87.0, "87"), (99.94, "99.9")])
def test_scores_are_formatted_like_the_rest_of_the_project(score: float, shown: str) -> None:
    rendered = render(lead_context(score=score))
    assert f"- score {shown}, sales_ready" in rendered.subject
    assert f"{shown} (threshold 100)" in rendered.text


def test_subject_is_one_short_line_even_for_hostile_names() -> None:
    profile = ingrid_profile(name="Ingrid\r\nBcc: evil@attacker.example\x00\x1b[31m" + "x" * 1000)
    subject = render(lead_context(profile=profile)).subject
    assert len(subject) <= 200
    assert not re.search(r"[\x00-\x1f\x7f]", subject)
    assert subject.startswith("Lead ready for sales: Ingrid Bcc: evil@attacker.example [31mxxx")


# --- escaping ------------------------------------------------------------------------------------


def hostile(field: str) -> str:
    """A payload that names its field, so each shown field is checked on its own."""
    return f"<script>alert('{field}')</script>" if len(field) % 2 else f'{field}"><img src=x onerror=alert(1)>'


PROFILE_FIELDS = ["name", "company", "job_title", "country", "employees", "phone"]
BANT_FIELDS = ["budget", "authority", "need", "timing", "comment"]


def poisoned_lead() -> AlertContext:
    profile = {field: hostile(field) for field in [*PROFILE_FIELDS, *BANT_FIELDS, "nps"]}
    return lead_context(
        alert_id=hostile("alert_id"),
        alert_name=hostile("alert_name"),
        subject=hostile("lead") + "@x.example",
        event_id=hostile("event_id"),
        stage=hostile("stage"),
        grade=hostile("grade"),
        temperature=hostile("temperature"),
        profile=profile,
        nps=None,
        nps_category=hostile("category"),
        top_rules=[RuleLine(hostile("rule"), hostile("description"), 10)],
        activities=[Activity(CROSSED, hostile("event_type"), hostile("detail"), 5)],
        account=hostile("account"),
        buyers=[Buyer(hostile("buyer_lead"), hostile("buyer_name"), hostile("buyer_title"), 50, hostile("bstage"))],
        model_version=hostile("model_version"),
        crm_url='https://crm.example/lead?q="><script>alert(1)</script>',
    )


def poisoned_account() -> AlertContext:
    profile = {field: hostile(field) for field in PROFILE_FIELDS}
    profile["email"] = hostile("profile_email") + "@x.example"
    return account_context(subject=hostile("account_key"), account=hostile("account_key"), profile=profile)


# one-word fields are cut short (a grade letter at 5 characters, a temperature or category at 20)
SHORT_FIELDS = {"lead_score": {"grade": 5, "temperature": 20, "nps": 20, "category": 20}}
SHOWN_IN_LEAD = [
    *PROFILE_FIELDS,
    *BANT_FIELDS,
    "alert_id",
    "alert_name",
    "lead",
    "event_id",
    "stage",
    "rule",
    "description",
    "event_type",
    "detail",
    "account",
    "buyer_lead",
    "buyer_name",
    "buyer_title",
    "bstage",
    "model_version",
]


@pytest.mark.parametrize(
    ("context", "fields"),
    [(poisoned_lead(), SHOWN_IN_LEAD), (poisoned_account(), [*PROFILE_FIELDS, "profile_email", "account_key"])],
    ids=["lead", "account"],
)
def test_every_shown_field_is_escaped_text_never_markup(context: AlertContext, fields: list[str]) -> None:
    rendered = render(context)
    markup = assert_safe_markup(rendered.html)
    text = "".join(markup.text)
    for field in fields:
        payload = hostile(field)
        assert payload in text, f"{field} is not shown as text"
        assert payload not in rendered.html, f"{field} reached the HTML unescaped"
        assert html.escape(payload, quote=True) in rendered.html, f"{field} is not escaped"
        assert payload in rendered.text, f"{field} is missing from the text part"
    for field, limit in SHORT_FIELDS.get(context.kind, {}).items():  # cut short, and still escaped text
        cut = hostile(field)[: limit - 1].rstrip() + "\u2026"
        assert cut in text and html.escape(cut, quote=True) in rendered.html, field


def test_nps_from_the_profile_and_its_category_are_escaped() -> None:
    context = lead_context(nps=None, profile=ingrid_profile(nps=SCRIPT), nps_category=BREAKOUT)
    rendered = render(context)
    assert_safe_markup(rendered.html)
    assert "&lt;script&gt;alert(1)&lt;/s\u2026" in rendered.html  # an NPS answer is a number: cut at 20
    assert "&quot;&gt;&lt;img src=x onerro\u2026" in rendered.html


def test_attribute_values_are_escaped_and_mailto_cannot_add_recipients() -> None:
    rendered = render(poisoned_lead())
    markup = Markup(rendered.html)
    assert 'https://crm.example/lead?q="><script>alert(1)</script>' in markup.hrefs()  # one attribute, as given
    hostile_lead = render(lead_context(subject="ingrid@nordkraft.no?bcc=evil.example&body=x"))
    mailtos = [href for href in Markup(hostile_lead.html).hrefs() if href.startswith("mailto:")]
    assert mailtos == ["mailto:ingrid@nordkraft.no%3Fbcc%3Devil.example%26body%3Dx"]
    two_at = render(lead_context(subject="ingrid@nordkraft.no?bcc=evil@attacker.example"))
    assert [href for href in Markup(two_at.html).hrefs() if href.startswith("mailto:")] == []  # shown as text
    assert "ingrid@nordkraft.no?bcc=evil@attacker.example" in two_at.html


def test_long_values_are_truncated_with_an_ellipsis() -> None:
    rendered = render(lead_context(profile=ingrid_profile(job_title="Head of " + "data " * 400)))
    shown = next(line for line in rendered.text.splitlines() if "Head of data" in line)
    assert "\u2026" in rendered.html
    title = re.search(r"Head of [a-z ]+\u2026", rendered.html)
    assert title is not None and len(title.group(0)) <= 300
    assert len(shown) < 100


def test_control_and_bidi_characters_are_removed_everywhere() -> None:
    profile = ingrid_profile(company="Nord\x1b[2Jkraft\u202e", job_title="Head\x00 of\x07 Data")
    rendered = render(lead_context(profile=profile))
    for part in (rendered.subject, rendered.text, rendered.html):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", part)
    assert "Nord [2Jkraft" in rendered.text


# --- HTML for email clients ---------------------------------------------------------------------


def test_html_is_email_client_safe() -> None:
    document = render(lead_context()).html
    assert_safe_markup(document)
    assert 'width="600"' in document and "max-width:600px" in document
    assert "<table" in document and 'role="presentation"' in document
    assert "<style" not in document and "class=" not in document  # inline styles only
    assert "Alert alrt-1 (lead, lead_score)" in document and "Model fjordline-b2b@3f9c2e1" in document


def test_html_says_what_sales_needs_in_order() -> None:
    document = render(lead_context()).html
    order = [
        "Ingrid Solberg",
        "Head of Data Platforms",
        'href="mailto:ingrid.solberg@nordkraft.no"',
        "Norway (NO)",
        "3,200",
        "Why now",
        "threshold 100",
        "form_submit: contact-sales (+25)",
        "3 Dec 2026 14:05 UTC",
        "10k to 50k",
        "Decision maker",
        "Solution needed",
        "This quarter",
        "9 (promoter)",
        "Great pilot.",
        "Submitted the contact-sales form",
        "Fit was capped at 50",
        "Engagement 55",
        "Last activities",
        "3 Dec 2026 13:05 UTC",
        "https://fjordline.example/pricing",
        "Account score",
        "Lars Berg",
        "emma.dahl@nordkraft.no",
        "Open the lead in the CRM",
        "alrt-1",
    ]
    position = document.find(">Who<")
    for needle in order:  # each one after the one before
        found = document.find(needle, position)
        assert found != -1, f"{needle!r} missing or out of order"
        position = found
    assert "ingrid.solberg@nordkraft.no" not in document.split("Other buyers")[1]  # the lead is not its own buyer
    assert ">-10<" in document and ">+15<" in document


def test_the_event_that_crossed_is_marked() -> None:
    rendered = render(lead_context())
    assert rendered.html.count("crossed the line") == 1
    assert "contact-sales  <- crossed the line" in rendered.text


@pytest.mark.parametrize(
    "url",
    ["https://crm.fjordline.example/leads/00Q7Q", "http://crm.internal.example/lead/42", "HTTPS://CRM.EXAMPLE/x"],
)
def test_crm_link_for_http_urls(url: str) -> None:
    rendered = render(lead_context(crm_url=url))
    assert url in Markup(rendered.html).hrefs()
    assert "Open the lead in the CRM" in rendered.html
    assert url in rendered.text


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "//evil.example/lead",
        "/leads/42",
        "ftp://crm.example/lead",
        "https://crm.example/a b",
        "https://crm.example/\r\nx",
        "https://",
    ],
)
def test_crm_link_left_out_for_anything_else(url: str | None) -> None:
    rendered = render(lead_context(crm_url=url))
    assert_safe_markup(rendered.html)
    assert "CRM" not in rendered.html and "CRM" not in rendered.text
    assert [href for href in Markup(rendered.html).hrefs() if not href.startswith("mailto:")] == []


@pytest.mark.parametrize(
    ("fit", "cap", "capped"), [(75, 50, True), (50.5, 50, True), (50, 50, False), (40, 50, False), (None, 50, False)]
)
def test_fit_capped_line_only_when_fit_is_over_the_cap(fit: float | None, cap: float, capped: bool) -> None:
    rendered = render(lead_context(fit=fit, fit_cap=cap))
    assert ("Fit was capped at 50" in rendered.html) is capped
    assert ("Fit was capped at 50" in rendered.text) is capped
    assert "capped" not in rendered.html if not capped else True
    if fit is not None:
        shown = min(fit, cap)
        assert f"Fit {shown:g} + engagement 55 = {shown + 55:g}" in rendered.text


def test_fit_capped_line_is_absent_without_a_cap() -> None:
    rendered = render(lead_context(fit=75, fit_cap=None))
    assert "capped" not in rendered.html and "capped" not in rendered.text


def test_times_are_utc_and_readable() -> None:
    rendered = render(lead_context(activities=[Activity(CROSSED, "form_submit", "contact-sales", 25)]))
    assert "3 Dec 2026 14:05 UTC" in rendered.html and "3 Dec 2026 14:05 UTC" in rendered.text
    broken = render(lead_context(occurred_at=float("nan"), activities=[Activity(1e20, "page_view", "x", 1)]))
    assert "unknown time" in broken.text


def test_account_and_nps_kinds_show_their_own_facts() -> None:
    account = render(account_context())
    assert "Latest buyer" in account.html and "Account score" in account.html
    assert "Ingrid Solberg" in account.html and "Lars Berg" in account.html
    assert "Open the account in the CRM" in account.html
    engaged = render(account_context("engaged_buyers"))
    assert "Engaged buyers" in engaged.html and "needed 3" in engaged.html
    detractor = render(luc_context())
    assert "NPS answer" in detractor.html and "detractor" in detractor.html
    assert "Call them before the relationship is lost." in detractor.text


# --- plain text ----------------------------------------------------------------------------------


def test_text_part_lines_are_under_100_characters() -> None:
    long_url = "https://fjordline.example/" + "a" * 500
    context = lead_context(
        profile=ingrid_profile(job_title="Chief " * 200, company="Nordkraft " * 50, comment="why " * 500),
        top_rules=[RuleLine("r" * 200, "Downloaded " * 60, 30)],
        activities=[Activity(CROSSED, "page_view", long_url, 10)],
        buyers=[Buyer("b" * 200 + "@x.example", "Name " * 80, "Title " * 80, 10, "decision")],
        crm_url="https://crm.example/" + "c" * 300,
    )
    for rendered in (render(context), render(lead_context()), render(account_context()), render(luc_context())):
        lines = rendered.text.splitlines()
        assert max(len(line) for line in lines) < 100
        assert "WHY NOW" in lines and "LAST ACTIVITIES" in lines
    text = render(lead_context()).text
    for needle in ("Ingrid Solberg", "Decision maker", "+25", "Lars Berg", "Fit was capped at 50", "alrt-1"):
        assert needle in text


# --- MIME ----------------------------------------------------------------------------------------


def test_mime_message_is_multipart_alternative_text_then_html() -> None:
    rendered = render(lead_context())
    raw = mime_message(rendered, SENDER, [*TO, "key-accounts@fjordline.example"], alert_id="alrt-1")
    assert isinstance(raw, bytes)
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    plain, html_part = list(message.iter_parts())
    assert (plain.get_content_type(), html_part.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html_part.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n") == rendered.text  # CRLF on the wire
    assert html_part.get_content().replace("\r\n", "\n") == rendered.html
    assert message["From"] == SENDER
    assert message["To"] == "sales@fjordline.example, key-accounts@fjordline.example"
    assert subject_of(message) == rendered.subject
    assert message["Date"] is not None
    assert re.fullmatch(r"<[^<>@\s]+@fjordline\.example>", message["Message-ID"])
    assert message["X-Leadscore-Alert"] == "alrt-1"
    assert message["X-SES-CONFIGURATION-SET"] is None
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_configuration_set_header_when_given() -> None:
    raw = mime_message(render(lead_context()), SENDER, TO, alert_id="a", configuration_set="leadscore-alerts")
    assert parse(raw)["X-SES-CONFIGURATION-SET"] == "leadscore-alerts"
    with pytest.raises(ValueError):
        mime_message(render(lead_context()), SENDER, TO, alert_id="a", configuration_set="x\r\nBcc: evil@x.example")


def test_header_injection_through_name_company_and_alert_id_adds_no_header() -> None:
    profile = ingrid_profile(name="Ingrid\r\nBcc: evil@attacker.example", company="Nordkraft\nX-Injected: yes")
    rendered = render(lead_context(profile=profile))
    raw = mime_message(rendered, SENDER, TO, alert_id="alrt-1\r\nBcc: evil@attacker.example\r\n\r\nbody")
    message = parse(raw)
    assert len(message.get_all("To")) == 1
    assert message.get_all("Bcc") is None and message.get_all("X-Injected") is None
    assert message["To"] == "sales@fjordline.example"
    assert "\n" not in subject_of(message) and "\r" not in subject_of(message)
    assert subject_of(message).startswith("Lead ready for sales: Ingrid Bcc: evil@attacker.example (Nordkraft X-")
    assert message["X-Leadscore-Alert"] == "alrt-1 Bcc: evil@attacker.example body"
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^(bcc|x-injected):", headers)


def test_a_hand_built_subject_is_sanitised_too() -> None:
    raw = mime_message(RenderedEmail("Hi\r\nBcc: evil@x.example", "t", "<p>h</p>"), SENDER, TO, alert_id="a")
    message = parse(raw)
    assert message.get_all("Bcc") is None and subject_of(message) == "Hi Bcc: evil@x.example"


@pytest.mark.parametrize(
    "recipients",
    [
        ["sales@fjordline.example\r\nBcc: evil@attacker.example"],
        ["sales@fjordline.example\nevil@attacker.example"],
        ["sales@fjordline.example, evil@attacker.example"],
        ["Sales, Team <sales@fjordline.example>"],
        ["sales@fjordline.example; evil@attacker.example"],
        ["not an address"],
        [""],
        [],
    ],
)
def test_bad_recipients_are_refused(recipients: list[str]) -> None:
    with pytest.raises(ValueError):
        mime_message(render(lead_context()), SENDER, recipients, alert_id="a")


def test_a_string_instead_of_a_list_and_a_bad_sender_are_refused() -> None:
    rendered = render(lead_context())
    with pytest.raises(ValueError):
        mime_message(rendered, SENDER, "sales@fjordline.example", alert_id="a")  # type: ignore[arg-type]
    for sender in ("alerts@fjordline.example\r\nBcc: evil@x.example", "a@x.example, b@y.example", "nobody"):
        with pytest.raises(ValueError):
            mime_message(rendered, sender, TO, alert_id="a")


def test_non_ascii_names_survive_the_round_trip() -> None:
    profile = ingrid_profile(name="Ærlig Øster", company="Ünal Bygg AS", comment="Très bien, takk!")
    rendered = render(lead_context(profile=profile))
    assert rendered.subject == "Lead ready for sales: Ærlig Øster (Ünal Bygg AS) - score 105, sales_ready"
    raw = mime_message(rendered, "Varsler fra Ødegård <alerts@fjordline.example>", TO, alert_id="ålert-1")
    raw.decode("ascii")  # 7-bit clean on the wire: encoded words and quoted-printable
    message = parse(raw)
    assert subject_of(message) == rendered.subject
    assert message["From"] == "Varsler fra Ødegård <alerts@fjordline.example>"
    assert message["X-Leadscore-Alert"] == "ålert-1"
    plain, html_part = list(message.iter_parts())
    assert "Ærlig Øster" in plain.get_content() and "Ünal Bygg AS" in plain.get_content()
    assert "Ærlig Øster" in html_part.get_content() and "Très bien, takk!" in html_part.get_content()


# --- the committed sample -----------------------------------------------------------------------


def sample_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_alert_email_sample", ROOT / "scripts/render_alert_email_sample.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_sample_matches_the_renderer() -> None:
    script = sample_script()
    rendered = script.sample_email()
    committed_html = (ROOT / "docs/alert-email-sample.html").read_bytes().decode("utf-8")
    assert committed_html == rendered.html, "run scripts/render_alert_email_sample.py --screenshot"
    committed_eml = (ROOT / "docs/alert-email-sample.eml").read_bytes()
    assert committed_eml == script.sample_eml(rendered), "run scripts/render_alert_email_sample.py --screenshot"
    assert list(parse(committed_eml).iter_parts())[1].get_content().replace("\r\n", "\n") == committed_html
    assert rendered.subject == "Lead ready for sales: Ingrid Solberg (Nordkraft) - score 105, sales_ready"
    assert_safe_markup(committed_html)
    assert (ROOT / "docs/alert-email-sample.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
