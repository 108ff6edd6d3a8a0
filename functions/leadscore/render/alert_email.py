"""The email that tells sales a lead (or an account) is ready: a context in, subject + text + HTML out.

Pure: no AWS and no I/O. The notifier builds an `AlertContext` from the stored scores, calls
`render`, and hands `mime_message(...)` to SES `SendRawEmail`.

Profile values, names, rule descriptions, activity details, lead emails and account keys come
from public forms and tracking, so they are untrusted: each one is cleaned of control and bidi
characters and truncated when it is read, and HTML-escaped at the one place it is written out.
The HTML is built for email clients (table layout, inline styles, no scripts, no images, no web
fonts, 600px wide) so it reads the same in Outlook, Gmail and Apple Mail.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import quote, urlsplit

from leadscore.core.alerts import ACCOUNT_KINDS
from leadscore.core.units import format_number

from .page import FONT, INK, email_page, wrap_text

_MAX_VALUE = 300  # a profile value longer than this is cut with an ellipsis
_MAX_COMMENT = 1000  # the NPS comment is the one free text sales should read whole
_MAX_SUBJECT = 200
_MAX_RULES = 8
_MAX_ACTIVITIES = 8
_MAX_BUYERS = 10
_ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class Activity:
    at: float  # epoch seconds (UTC)
    event_type: str  # page_view, download, video_play, email_click, form_submit, webinar_attend...
    detail: str  # e.g. "whitepaper-data-governance", "https://x/pricing", "lakehouse-demo 80%"
    points: float  # points this event moved the main score (may be 0 or negative)


@dataclass(frozen=True)
class Buyer:
    lead: str  # email
    name: str | None
    job_title: str | None
    score: float
    stage: str


@dataclass(frozen=True)
class RuleLine:
    rule: str  # rule id
    description: str  # what it is, e.g. "Downloaded a white paper"
    points: float


@dataclass(frozen=True)
class AlertContext:
    alert_id: str
    alert_name: str  # the model's name for the alert, e.g. "lead", "sales_ready", "unhappy_customer"
    kind: str  # "lead_score" | "lead_qualified" | "account_score" | "engaged_buyers" | "nps_detractor"
    subject: str  # the lead's email, or the account key (e.g. "nordkraft.no", "id:acme-42")
    score: float  # lead score (lead kinds, nps) or account score (account kinds)
    threshold: float | None
    occurred_at: float  # event time that crossed it (epoch seconds UTC)
    event_id: str
    stage: str | None
    grade: str | None  # fit grade letter
    temperature: str | None
    profile: dict[str, Any]  # the lead's profile: untrusted text from public forms
    fit: float | None  # fit points before the cap
    fit_cap: float | None  # the explicit cap; when fit > fit_cap the email says fit was clipped
    engagement: float | None
    nps: float | None
    nps_category: str | None  # promoter | passive | detractor
    top_rules: list[RuleLine]  # largest contributions first
    activities: list[Activity]  # newest first
    account: str | None
    account_score: float | None
    buyers: list[Buyer]  # the account's buyers (other leads), highest score first
    engaged_buyers: int | None  # for engaged_buyers alerts: how many buyers are above the bar
    crm_url: str | None  # a link to open the lead/account in the CRM (already built)
    model_version: str


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


# --- cleaning untrusted values -----------------------------------------------------------------

# C0/C1 controls (CR, LF, ESC...), Unicode line/paragraph separators and bidi overrides: none of
# them belongs in a header, a terminal or a table cell, and bidi overrides can disguise text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + _ELLIPSIS


def _clean(value: object, limit: int = _MAX_VALUE) -> str:
    """One line of plain text: unsafe characters become spaces, runs of whitespace one space."""
    return _truncate(" ".join(_UNSAFE.sub(" ", str(value)).split()), limit)


def _clean_lines(value: object, limit: int) -> list[str]:
    """Free text that may keep its line breaks (the NPS comment), cleaned line by line."""
    text = _truncate(str(value).replace("\r\n", "\n").replace("\r", "\n"), limit)
    lines = [_clean(line, limit) for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _number(value: float | int | None) -> str:
    """Scores as the rest of the project prints them: whole without '.0', else one decimal."""
    if value is None or isinstance(value, bool):
        return "n/a"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _clean(value, 40)
    if math.isnan(number):
        return "n/a"
    return format_number(number if math.isinf(number) else round(number, 1))


def _signed(value: float) -> str:
    text = _number(value)
    return "+" + text if text not in ("0", "n/a") and not text.startswith("-") else text


def _display(value: object) -> str | None:
    """A profile value as text, or None when there is nothing to show."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, list | tuple):
        parts = [part for part in (_display(item) for item in value) if part]
        return _clean(", ".join(parts)) or None
    return _clean(value) or None


def _count(value: object) -> str | None:
    """Employee counts read better with thousands separators (3,200)."""
    try:
        number = float(str(value).strip())
    except ValueError:
        return _display(value)
    if math.isfinite(number) and number == int(number) and abs(number) < 1e15:
        return f"{int(number):,}"
    return _display(value)


def _choice(value: object) -> str | None:
    """A form choice id (`decision_maker`) as words (`Decision maker`); anything else as given."""
    text = _display(value)
    if text and re.fullmatch(r"[a-z0-9_]+", text):
        words = text.replace("_", " ")
        return words[0].upper() + words[1:]
    return text


_COUNTRIES = {
    "NO": "Norway", "SE": "Sweden", "DK": "Denmark", "FI": "Finland", "IS": "Iceland", "NL": "Netherlands",
    "BE": "Belgium", "LU": "Luxembourg", "DE": "Germany", "FR": "France", "GB": "United Kingdom",
    "UK": "United Kingdom", "IE": "Ireland", "ES": "Spain", "IT": "Italy", "PL": "Poland", "UA": "Ukraine",
    "US": "United States", "CA": "Canada",
}  # fmt: skip


def _country(value: object) -> str | None:
    text = _display(value)
    if text and text.upper() in _COUNTRIES:
        return f"{_COUNTRIES[text.upper()]} ({text.upper()})"
    return text


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _format_time(at: float) -> str:
    """'3 Dec 2026 14:05 UTC': unambiguous for every reader, whatever the locale."""
    try:
        moment = datetime.fromtimestamp(float(at), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "unknown time"
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M} UTC"


def _safe_url(url: str | None) -> str | None:
    """Only an absolute http(s) URL becomes a link: never javascript:, data: or a relative path."""
    if not isinstance(url, str) or not url or len(url) > 2048 or _UNSAFE.search(url):
        return None
    if any(char.isspace() for char in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


_EMAIL = re.compile(r"[^\s@<>()\[\]\\,;:\"]+@[^\s@<>()\[\]\\,;:\"]+")


def _mailto(email: str) -> str | None:
    """A mailto: target that cannot smuggle ?cc= or &body= into the salesperson's reply."""
    if not _EMAIL.fullmatch(email):
        return None
    return "mailto:" + quote(email, safe="@.+-_")


# --- what the email says, cleaned once -----------------------------------------------------------

_LABELS = {
    "lead_score": "Lead ready for sales",
    "lead_qualified": "Lead qualified",
    "account_score": "Account ready",
    "engaged_buyers": "Buying group engaged",
    "nps_detractor": "NPS detractor",
}
_ACCENTS = {  # the header's kicker colour: green = go, blue = account, red = at risk
    "lead_score": "#4ade80",
    "lead_qualified": "#4ade80",
    "account_score": "#7cc4ff",
    "engaged_buyers": "#7cc4ff",
    "nps_detractor": "#fca5a5",
}
_ADVICE = {
    "lead_score": "The score just crossed the alert threshold. Reach out while the interest is fresh.",
    "lead_qualified": "This lead now meets the qualification criteria. Reach out while the interest is fresh.",
    "account_score": "Several people at this account are engaging. Plan an approach to the buying group.",
    "engaged_buyers": "A buying group is forming at this account. Plan an approach to the whole account.",
    "nps_detractor": "An unhappy customer. Call them before the relationship is lost.",
}


@dataclass(frozen=True)
class _Facts:
    """Every untrusted string of the context, cleaned and truncated (not yet escaped)."""

    is_account: bool
    label: str
    email: str | None
    name: str | None
    job_title: str | None
    company: str | None  # the profile's company, else the account
    profile_company: str | None
    account: str | None
    people: list[tuple[str, str]]  # (label, value) for the "who" table, the email among them
    bant: list[tuple[str, str]]
    nps_answer: str | None
    nps: str | None  # the answer and its category
    comment: list[str]
    crm_url: str | None


def _person_name(profile: Mapping[str, Any]) -> str | None:
    name = _display(profile.get("name"))
    if name:
        return name
    parts = [_display(profile.get(key)) for key in ("first_name", "last_name")]
    return _clean(" ".join(part for part in parts if part)) or None


def _facts(context: AlertContext) -> _Facts:
    profile: Mapping[str, Any] = context.profile if isinstance(context.profile, Mapping) else {}
    is_account = context.kind in ACCOUNT_KINDS
    email = _display(profile.get("email")) if is_account else _clean(context.subject)
    account = _clean(context.subject) if is_account else (_clean(context.account) if context.account else None)
    name = _person_name(profile) or email
    profile_company = _display(profile.get("company"))
    company = profile_company or account
    nps_value = context.nps if context.nps is not None else profile.get("nps")
    nps_answer = _clean(nps_value, 20) if isinstance(nps_value, str) else _display(nps_value)
    nps = nps_answer
    if nps and context.nps_category:
        nps = f"{nps} ({_clean(context.nps_category, 20)})"
    employees = profile.get("employees")
    people = [
        (label, value)
        for label, value in (
            ("Name", name if name != email else None),
            ("Job title", _display(profile.get("job_title"))),
            ("Company", company),
            ("Email", email),
            ("Phone", _display(profile.get("phone"))),
            ("Country", _country(profile.get("country"))),
            ("Employees", _count(employees) if employees not in (None, "") else None),
        )
        if value
    ]
    bant = [
        (label, value)
        for label, key in (("Budget", "budget"), ("Authority", "authority"), ("Need", "need"), ("Timing", "timing"))
        if (value := _choice(profile.get(key)))
    ]
    comment = profile.get("comment")
    return _Facts(
        is_account=is_account,
        label=_LABELS.get(context.kind) or _clean(f"Alert {context.alert_name}", 60),
        email=email,
        name=name,
        job_title=_display(profile.get("job_title")),
        company=company,
        profile_company=profile_company,
        account=account,
        people=people,
        bant=bant,
        nps_answer=nps_answer,
        nps=nps,
        comment=_clean_lines(comment, _MAX_COMMENT)[:20] if isinstance(comment, str) and comment.strip() else [],
        crm_url=_safe_url(context.crm_url),
    )


def _buyer_count(context: AlertContext, facts: _Facts) -> int:
    """Distinct people at the account: its listed buyers and the lead whose event crossed the line."""
    leads = {str(buyer.lead).casefold() for buyer in context.buyers}
    if facts.email:
        leads.add(facts.email.casefold())
    return len(leads)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _subject(context: AlertContext, facts: _Facts) -> str:
    """One header-safe line: who, which company, the score and the stage (or what crossed)."""
    name = _truncate(facts.name or "unknown lead", 80)
    who = f"{name} ({_truncate(facts.company, 60)})" if facts.company else name
    account = _truncate(facts.account or _clean(context.subject), 100)
    score = _number(context.score)
    stage = f", {_clean(context.stage, 40)}" if context.stage else ""
    kind = context.kind
    if kind == "lead_score":
        line = f"Lead ready for sales: {who} - score {score}{stage}"
    elif kind == "lead_qualified":
        grade = f", grade {_clean(context.grade, 5)}" if context.grade else ""
        line = f"Lead qualified: {who} - score {score}{stage}{grade}"
    elif kind == "account_score":
        line = f"Account ready: {account} - score {score}, {_plural(_buyer_count(context, facts), 'buyer')}"
    elif kind == "engaged_buyers":
        engaged = context.engaged_buyers if context.engaged_buyers is not None else _buyer_count(context, facts)
        line = f"Buying group engaged: {account} - {_plural(engaged, 'engaged buyer')}, score {score}"
    elif kind == "nps_detractor":
        answered = f" answered {facts.nps_answer}" if facts.nps_answer else ""
        line = f"NPS detractor: {who}{answered}"
    else:
        line = f"{facts.label}: {who} - score {score}{stage}"
    return _clean(line, _MAX_SUBJECT)


# --- the facts as rows, shared by the HTML and the text part -----------------------------------


def _crossing(context: AlertContext) -> Activity | None:
    """The activity that crossed the line: the one at the alert's event time, if it is listed."""
    for activity in context.activities:
        try:
            if abs(float(activity.at) - float(context.occurred_at)) < 1e-6:
                return activity
        except (TypeError, ValueError):
            continue
    return None


def _activity_text(activity: Activity) -> str:
    event_type = _clean(activity.event_type, 60)
    detail = _clean(activity.detail)
    return f"{event_type}: {detail}" if detail else event_type


def _tiles(context: AlertContext, facts: _Facts) -> list[tuple[str, str, str | None]]:
    """Where things stand, as (label, value, note): the number that crossed first, then stage, grade, heat."""
    threshold = f"threshold {_number(context.threshold)}" if context.threshold is not None else None
    tiles: list[tuple[str, str | None, str | None]]
    if context.kind == "engaged_buyers":
        engaged = _number(context.engaged_buyers if context.engaged_buyers is not None else context.score)
        needed = f"needed {_number(context.threshold)}" if context.threshold is not None else None
        tiles = [("Engaged buyers", engaged, needed), ("Account score", _number(context.score), None)]
    elif facts.is_account:
        tiles = [
            ("Account score", _number(context.score), threshold),
            ("Buyers", str(_buyer_count(context, facts)), None),
        ]
    elif context.kind == "nps_detractor":
        category = _clean(context.nps_category, 20) if context.nps_category else None
        tiles = [("NPS answer", facts.nps_answer or "n/a", category), ("Lead score", _number(context.score), None)]
    else:
        tiles = [("Score", _number(context.score), threshold)]
    tiles += [
        ("Stage", _clean(context.stage, 60) if context.stage and not facts.is_account else None, None),
        ("Fit grade", _clean(context.grade, 5) if context.grade and not facts.is_account else None, None),
        (
            "Temperature",
            _clean(context.temperature, 20) if context.temperature and not facts.is_account else None,
            None,
        ),
    ]
    return [(label, value, note) for label, value, note in tiles if value]


def _crossed(context: AlertContext, facts: _Facts) -> tuple[str, str]:
    """(label, what happened): the event that crossed the line, as the activity list names it."""
    crossing = _crossing(context)
    event = _activity_text(crossing) + f" ({_signed(crossing.points)})" if crossing else None
    by = f" by {facts.name}" if facts.is_account and facts.name else ""
    label = "Answered" if context.kind == "nps_detractor" else "Crossed by"
    return label, f"{event or 'event ' + _clean(context.event_id, 80)}{by}"


def _why_rows(context: AlertContext, facts: _Facts) -> list[tuple[str, str]]:
    """Why this email now: the number that crossed, where the lead stands, and the event."""
    rows = [(label, value + (f" ({note})" if note else "")) for label, value, note in _tiles(context, facts)]
    return [*rows, _crossed(context, facts), ("When", _format_time(context.occurred_at))]


def _fit_capped(context: AlertContext) -> bool:
    try:
        return context.fit is not None and context.fit_cap is not None and float(context.fit) > float(context.fit_cap)
    except (TypeError, ValueError):
        return False


def _fit_split(context: AlertContext) -> tuple[float, float] | None:
    """(fit that counts, engagement), when both are known: the score is min(fit, cap) + engagement."""
    if context.fit is None or context.engagement is None:
        return None
    try:
        fit = float(context.fit)
        engagement = float(context.engagement)
        if _fit_capped(context):
            fit = float(context.fit_cap)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(fit) and math.isfinite(engagement)):
        return None
    return fit, engagement


def _capped_line(context: AlertContext) -> str | None:
    if not _fit_capped(context):
        return None
    return (
        f"Fit was capped at {_number(context.fit_cap)}: the profile matched {_number(context.fit)} fit points, "
        f"only {_number(context.fit_cap)} count."
    )


def _buyer_rows(context: AlertContext, facts: _Facts) -> list[Buyer]:
    if facts.is_account or not facts.email:
        return list(context.buyers)
    return [buyer for buyer in context.buyers if str(buyer.lead).casefold() != facts.email.casefold()]


def _buyer_label(buyer: Buyer) -> tuple[str, str | None]:
    """(name or email, email when a name is shown)."""
    email = _clean(buyer.lead, 200)
    name = _display(buyer.name)
    return (name, email) if name else (email, None)


def _headline(context: AlertContext, facts: _Facts) -> tuple[str, str | None]:
    """The header's big line and the line under it."""
    if facts.is_account:
        company = facts.profile_company
        return facts.account or "account", company if company and company != facts.account else None
    parts = [part for part in (facts.job_title, facts.company) if part]
    sub = " at ".join(parts) if len(parts) == 2 else (parts[0] if parts else None)
    return facts.name or "unknown lead", sub


def _badge(context: AlertContext, facts: _Facts) -> tuple[str, str]:
    """(the big number, what it is) for the header."""
    if context.kind == "engaged_buyers":
        value = context.engaged_buyers if context.engaged_buyers is not None else context.score
        return _number(value), "engaged buyers"
    if context.kind == "nps_detractor":
        return facts.nps_answer or "n/a", "NPS answer"
    caption = "account score" if facts.is_account else "score"
    if context.threshold is not None:
        caption += f" \u00b7 threshold {_number(context.threshold)}"
    return _number(context.score), caption


def _chips(context: AlertContext, facts: _Facts) -> list[str]:
    chips = []
    if context.stage and not facts.is_account:
        chips.append(f"Stage {_clean(context.stage, 40)}")
    if context.grade and not facts.is_account:
        chips.append(f"Grade {_clean(context.grade, 5)}")
    if context.temperature and not facts.is_account:
        chips.append(_clean(context.temperature, 20).capitalize())
    if facts.nps and context.kind != "nps_detractor":
        chips.append(f"NPS {facts.nps}")
    if facts.account and not facts.is_account and context.account_score is not None:
        chips.append(f"Account {_number(context.account_score)}")
    return chips


def _footer(context: AlertContext) -> list[str]:
    """What support needs to find this alert: its id, the event and the model version."""
    return [
        f"Alert {_clean(context.alert_id, 120)} ({_clean(context.alert_name, 60)}, {_clean(context.kind, 30)})",
        f"Event {_clean(context.event_id, 80)}",
        f"Model {_clean(context.model_version, 80)}",
    ]


# --- HTML ----------------------------------------------------------------------------------------

_FONT = FONT
_INK = INK
_MUTED = "#66768a"
_LINE = "#e7ebf0"
_NAVY = "#10243d"
_BUTTON = "#1d5bd6"
_TEMPERATURE_COLOURS = {"hot": "#c2410c", "warm": "#b45309", "cold": "#2563eb"}


def _h(text: object) -> str:
    """The only way untrusted text reaches the HTML: escaped, quotes included (safe in attributes)."""
    return html.escape(str(text), quote=True)


def _section(title: str, body_html: str) -> str:
    return (
        '<tr><td style="padding:26px 32px 0 32px;">'
        f'<div style="font-size:12px;line-height:16px;font-weight:bold;letter-spacing:1px;color:{_MUTED};'
        f'text-transform:uppercase;padding-bottom:8px;border-bottom:2px solid {_NAVY};">{_h(title)}</div>'
        f"{body_html}</td></tr>"
    )


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    """Label/value rows; values are markup the caller already escaped."""
    cells = "".join(
        "<tr>"
        f'<td width="130" valign="top" style="width:130px;padding:7px 12px 7px 0;border-bottom:1px solid {_LINE};'
        f'font-size:13px;line-height:20px;color:{_MUTED};">{_h(label)}</td>'
        f'<td valign="top" style="padding:7px 0;border-bottom:1px solid {_LINE};font-size:14px;line-height:20px;'
        f'color:{_INK};">{value_html}</td>'
        "</tr>"
        for label, value_html in rows
    )
    return f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">{cells}</table>'


def _grid(headers: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], shaded: int | None = None) -> str:
    """A small data table: headers are (title, align); cells are markup the caller already escaped."""
    head = "".join(
        f'<th align="{align}" style="padding:10px 8px 6px 8px;font-size:11px;line-height:14px;font-weight:bold;'
        f'letter-spacing:0.5px;text-transform:uppercase;color:{_MUTED};border-bottom:1px solid {_LINE};">'
        f"{_h(title)}</th>"
        for title, align in headers
    )
    body = []
    for index, row in enumerate(rows):
        background = ' bgcolor="#fff8e1" style="background-color:#fff8e1;"' if index == shaded else ""
        cells = "".join(
            f'<td align="{align}" valign="top" style="padding:8px 8px;border-bottom:1px solid {_LINE};'
            f'font-size:14px;line-height:20px;color:{_INK};">{cell}</td>'
            for cell, (_, align) in zip(row, headers, strict=True)
        )
        body.append(f"<tr{background}>{cells}</tr>")
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        f"<tr>{head}</tr>{''.join(body)}</table>"
    )


def _small(text: str) -> str:
    return f'<div style="font-size:12px;line-height:17px;color:{_MUTED};">{_h(text)}</div>'


def _points_html(points: float) -> str:
    colour = "#b42318" if _signed(points).startswith("-") else "#15803d"
    return f'<span style="font-weight:bold;color:{colour};white-space:nowrap;">{_h(_signed(points))}</span>'


def _header_html(context: AlertContext, facts: _Facts) -> str:
    title, sub = _headline(context, facts)
    big, caption = _badge(context, facts)
    accent = _ACCENTS.get(context.kind, "#e2e8f0")
    sub_html = (
        f'<div style="font-size:15px;line-height:21px;color:#c9d6e6;padding-top:4px;">{_h(sub)}</div>' if sub else ""
    )
    return (
        f'<tr><td bgcolor="{_NAVY}" style="background-color:{_NAVY};padding:28px 32px 26px 32px;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>'
        '<td valign="middle" style="padding-right:16px;">'
        f'<div style="font-size:12px;line-height:16px;font-weight:bold;letter-spacing:1.5px;text-transform:uppercase;'
        f'color:{accent};">{_h(facts.label)}</div>'
        f'<div style="font-size:26px;line-height:32px;font-weight:bold;color:#ffffff;padding-top:8px;">'
        f"{_h(_truncate(title, 120))}</div>{sub_html}</td>"
        '<td width="130" align="center" valign="middle" style="width:130px;">'
        '<table role="presentation" width="130" cellpadding="0" cellspacing="0" border="0"><tr>'
        f'<td align="center" bgcolor="#1b3a5e" style="background-color:#1b3a5e;border-radius:10px;'
        f'padding:12px 6px 10px 6px;border:1px solid {accent};">'
        f'<div style="font-size:38px;line-height:42px;font-weight:bold;color:#ffffff;">{_h(big)}</div>'
        f'<div style="font-size:11px;line-height:15px;color:#c9d6e6;padding-top:2px;">{_h(caption)}</div>'
        "</td></tr></table></td></tr></table></td></tr>"
    )


def _advice_html(context: AlertContext, facts: _Facts) -> str:
    """What to do, right under the header, with a quick link to the CRM for those who act at once."""
    link = (
        f'<td align="right" valign="middle" style="padding-left:12px;white-space:nowrap;">'
        f'<a href="{_h(facts.crm_url)}" target="_blank" rel="noopener" style="font-size:14px;line-height:20px;'
        f'font-weight:bold;color:{_BUTTON};text-decoration:none;">Open in CRM &rarr;</a></td>'
        if facts.crm_url
        else ""
    )
    return (
        f'<tr><td bgcolor="#f4f7fb" style="background-color:#f4f7fb;padding:14px 32px;'
        f'border-bottom:1px solid {_LINE};">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>'
        f'<td valign="middle" style="font-size:15px;line-height:22px;color:{_INK};">'
        f"{_h(_ADVICE.get(context.kind, ''))}</td>{link}</tr></table></td></tr>"
    )


def _who_html(facts: _Facts) -> str:
    rows = []
    for label, value in facts.people:
        target = _mailto(value) if label == "Email" else None
        if target:
            link = f'<a href="{_h(target)}" style="color:{_BUTTON};text-decoration:underline;">{_h(value)}</a>'
            rows.append((label, link))
        else:
            rows.append((label, _h(value)))
    if not rows:
        return ""
    return _section("Latest buyer" if facts.is_account else "Who", _kv_table(rows))


def _why_html(context: AlertContext, facts: _Facts) -> str:
    """Tiles for the numbers (one row, every client lays it out), then the event and its time."""
    tiles = _tiles(context, facts)
    width = (100 - 2 * (len(tiles) - 1)) // len(tiles)  # 2% gutters between tiles
    cells = []
    for index, (label, value, note) in enumerate(tiles):
        if index:
            cells.append('<td width="2%" style="width:2%;font-size:1px;line-height:1px;">&nbsp;</td>')
        note_html = (
            f'<div style="font-size:12px;line-height:16px;color:{_MUTED};padding-top:2px;">{_h(note)}</div>'
            if note
            else ""
        )
        colour = _TEMPERATURE_COLOURS.get(value.casefold(), _INK) if label == "Temperature" else _INK
        cells.append(
            f'<td width="{width}%" valign="top" bgcolor="#f4f7fb" style="width:{width}%;background-color:#f4f7fb;'
            'border-radius:6px;padding:10px 12px;">'
            f'<div style="font-size:11px;line-height:14px;letter-spacing:0.5px;text-transform:uppercase;'
            f'color:{_MUTED};">{_h(label)}</div>'
            f'<div style="font-size:20px;line-height:26px;font-weight:bold;color:{colour};padding-top:4px;'
            f'overflow-wrap:break-word;">{_h(value)}</div>{note_html}</td>'
        )
    label, crossed = _crossed(context, facts)
    event = (
        f'<div style="font-size:14px;line-height:21px;color:{_INK};padding-top:12px;">'
        f'<span style="color:{_MUTED};">{_h(label)}</span> <b>{_h(crossed)}</b> '
        f'<span style="color:{_MUTED};">on</span> {_h(_format_time(context.occurred_at))}</div>'
    )
    grid = (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="margin-top:12px;">'
        f"<tr>{''.join(cells)}</tr></table>"
    )
    return _section("Why now", grid + event)


def _answers_title(facts: _Facts) -> str:
    return "BANT and NPS" if facts.bant and (facts.nps or facts.comment) else ("BANT" if facts.bant else "NPS")


def _answers_html(facts: _Facts) -> str:
    rows = [(label, _h(value)) for label, value in facts.bant]
    if facts.nps:
        rows.append(("NPS", _h(facts.nps)))
    if facts.comment:
        quoted = "<br>".join(_h(line) for line in facts.comment)
        rows.append(("Comment", f'<span style="font-style:italic;">\u201c{quoted}\u201d</span>'))
    if not rows:
        return ""
    title = _answers_title(facts)
    return _section(title, _kv_table(rows))


def _split_bar_html(fit: float, engagement: float) -> str:
    """Fit vs engagement as one bar: table cells with widths, which every client draws."""
    total = fit + engagement
    if fit < 0 or engagement < 0 or total <= 0:
        return ""
    fit_pct = round(100 * fit / total)
    cells = []
    for width, colour in ((fit_pct, "#6d5dd3"), (100 - fit_pct, "#16a36a")):
        if width > 0:
            cells.append(
                f'<td width="{width}%" bgcolor="{colour}" style="width:{width}%;background-color:{colour};'
                'height:10px;font-size:1px;line-height:1px;">&nbsp;</td>'
            )
    legend = (
        f'<span style="color:#6d5dd3;font-weight:bold;">\u25a0 Fit {_h(_number(fit))}</span> &nbsp;+&nbsp; '
        f'<span style="color:#16a36a;font-weight:bold;">\u25a0 Engagement {_h(_number(engagement))}</span>'
        f" &nbsp;=&nbsp; <b>score {_h(_number(total))}</b>"
    )
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'style="margin-top:14px;"><tr>{"".join(cells)}</tr></table>'
        f'<div style="font-size:13px;line-height:20px;color:{_INK};padding-top:6px;">{legend}</div>'
    )


def _breakdown_title(facts: _Facts) -> str:
    """On an account alert the breakdown is the lead's whose event crossed, so it says whose."""
    return f"Score breakdown of {_truncate(facts.name, 60)}" if facts.is_account and facts.name else "Score breakdown"


def _breakdown_html(context: AlertContext, facts: _Facts) -> str:
    rules = context.top_rules[:_MAX_RULES]
    split = _fit_split(context)
    capped = _capped_line(context)
    if not rules and split is None and capped is None:
        return ""
    body = ""
    if rules:
        rows = []
        for rule in rules:
            rule_id, description = _clean(rule.rule, 80), _clean(rule.description)
            muted = f'<span style="font-size:12px;color:{_MUTED};white-space:nowrap;">&nbsp; {_h(rule_id)}</span>'
            label = f"{_h(description)}{muted}" if description else _h(rule_id)
            rows.append([label, _points_html(rule.points)])
        body += _grid([("Rule", "left"), ("Points", "right")], rows)
    if capped:
        body += (
            '<div style="margin-top:12px;padding:8px 12px;background-color:#f3f0ff;border-left:3px solid #6d5dd3;'
            f'font-size:13px;line-height:19px;color:{_INK};">{_h(capped)}</div>'
        )
    if split is not None:
        body += _split_bar_html(*split)
    return _section(_breakdown_title(facts), body)


def _activities_html(context: AlertContext) -> str:
    activities = context.activities[:_MAX_ACTIVITIES]
    if not activities:
        return ""
    crossing = _crossing(context)
    shaded = next((index for index, activity in enumerate(activities) if activity is crossing), None)
    rows = []
    for activity in activities:
        what = f"<b>{_h(_clean(activity.event_type, 60))}</b>"
        detail = _clean(activity.detail)
        if detail:
            what += (
                f'<div style="font-size:13px;line-height:18px;color:{_MUTED};word-break:break-all;">{_h(detail)}</div>'
            )
        if activity is crossing:
            what += (
                '<div style="font-size:12px;line-height:17px;color:#a15c00;font-weight:bold;">crossed the line</div>'
            )
        when = f'<span style="white-space:nowrap;font-size:13px;">{_h(_format_time(activity.at))}</span>'
        rows.append([when, what, _points_html(activity.points)])
    table = _grid([("When", "left"), ("Activity", "left"), ("Points", "right")], rows, shaded)
    return _section("Last activities", table)


def _account_html(context: AlertContext, facts: _Facts) -> str:
    buyers = _buyer_rows(context, facts)
    if not facts.account and not buyers:
        return ""
    rows: list[tuple[str, str]] = []
    if facts.account:
        rows.append(("Account", _h(facts.account)))
    score = context.score if facts.is_account else context.account_score
    if score is not None:
        rows.append(("Account score", _h(_number(score))))
    body = _kv_table(rows) if rows else ""
    if buyers:
        grid_rows = []
        for buyer in buyers[:_MAX_BUYERS]:
            name, email = _buyer_label(buyer)
            who = _h(name) + (_small(email) if email else "")
            title = _h(_display(buyer.job_title) or "")
            grid_rows.append([who, title, f"<b>{_h(_number(buyer.score))}</b>", _h(_clean(buyer.stage, 40))])
        body += f'<div style="padding-top:14px;font-size:14px;line-height:20px;color:{_INK};font-weight:bold;">'
        body += f"{'Buyers' if facts.is_account else 'Other buyers'}</div>"
        body += _grid([("Buyer", "left"), ("Job title", "left"), ("Score", "right"), ("Stage", "left")], grid_rows)
        if len(buyers) > _MAX_BUYERS:
            body += _small(f"and {len(buyers) - _MAX_BUYERS} more")
    return _section("Account", body)


def _button_html(facts: _Facts) -> str:
    if not facts.crm_url:
        return ""
    label = "Open the account in the CRM" if facts.is_account else "Open the lead in the CRM"
    return (
        '<tr><td align="center" style="padding:30px 32px 4px 32px;">'
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr>'
        f'<td align="center" bgcolor="{_BUTTON}" style="background-color:{_BUTTON};border-radius:6px;">'
        f'<a href="{_h(facts.crm_url)}" target="_blank" rel="noopener" style="display:inline-block;'
        f"padding:13px 28px;font-family:{_FONT};font-size:16px;line-height:20px;font-weight:bold;color:#ffffff;"
        f'text-decoration:none;border-radius:6px;">{_h(label)} &rarr;</a>'
        "</td></tr></table></td></tr>"
    )


def _html(context: AlertContext, facts: _Facts, subject: str) -> str:
    preheader = " \u00b7 ".join(
        value
        for label, value in _why_rows(context, facts)
        if label in ("Score", "Account score", "Stage", "NPS answer")
    )
    sections = "".join(
        (
            _header_html(context, facts),
            _advice_html(context, facts),
            _who_html(facts),
            _why_html(context, facts),
            _answers_html(facts),
            _breakdown_html(context, facts),
            _activities_html(context),
            _account_html(context, facts),
            _button_html(facts),
        )
    )
    footer_ids = " &middot; ".join(f'<span style="white-space:nowrap;">{_h(part)}</span>' for part in _footer(context))
    footer = (
        f'<tr><td style="padding:30px 32px 26px 32px;">'
        f'<div style="border-top:1px solid {_LINE};padding-top:14px;font-size:12px;line-height:18px;color:{_MUTED};">'
        f"Sent by leadscore because this {'account' if facts.is_account else 'lead'} crossed an alert threshold. "
        f"Times are UTC.<br>{footer_ids}</div></td></tr>"
    )
    return email_page(subject, preheader, f"{sections}\n{footer}")


# --- plain text ----------------------------------------------------------------------------------


def _text_table(rows: Sequence[tuple[str, str]]) -> list[str]:
    return [f"  {label:<16}{value}" for label, value in rows]


def _wrap(lines: Sequence[str]) -> str:
    return wrap_text(lines)


def _text(context: AlertContext, facts: _Facts) -> str:
    title, sub = _headline(context, facts)
    why = _why_rows(context, facts)
    summary = [f"{why[0][0]} {why[0][1]}", *_chips(context, facts)]
    lines = [facts.label.upper(), title + (f" - {sub}" if sub else ""), " | ".join(summary)]
    lines += ["", _ADVICE.get(context.kind, "")]
    if facts.people:
        lines += ["", "LATEST BUYER" if facts.is_account else "WHO", *_text_table(facts.people)]
    lines += ["", "WHY NOW", *_text_table(why)]

    answers = list(facts.bant) + ([("NPS", facts.nps)] if facts.nps else [])
    if answers or facts.comment:
        lines += ["", _answers_title(facts).upper(), *_text_table(answers)]
        lines += [f"  {'Comment' if index == 0 else '':<16}{line}" for index, line in enumerate(facts.comment)]

    split = _fit_split(context)
    capped = _capped_line(context)
    if context.top_rules or split or capped:
        lines += ["", _breakdown_title(facts).upper()]
        for rule in context.top_rules[:_MAX_RULES]:
            rule_id, description = _clean(rule.rule, 80), _clean(rule.description)
            lines.append(f"  {_signed(rule.points):>6}  " + (f"{description} ({rule_id})" if description else rule_id))
        if capped:
            lines.append(f"  {capped}")
        if split:
            fit, engagement = split
            lines.append(f"  Fit {_number(fit)} + engagement {_number(engagement)} = {_number(fit + engagement)}")

    if context.activities:
        crossing = _crossing(context)
        lines += ["", "LAST ACTIVITIES"]
        for activity in context.activities[:_MAX_ACTIVITIES]:
            mark = "  <- crossed the line" if activity is crossing else ""
            when = _format_time(activity.at)
            lines.append(f"  {when:<22}{_signed(activity.points):>6}  {_activity_text(activity)}{mark}")

    buyers = _buyer_rows(context, facts)
    if facts.account or buyers:
        score = context.score if facts.is_account else context.account_score
        heading = "ACCOUNT" + (f" {facts.account}" if facts.account else "")
        lines += ["", heading + (f" - account score {_number(score)}" if score is not None else "")]
        for buyer in buyers[:_MAX_BUYERS]:
            name, email = _buyer_label(buyer)
            who = f"{name} <{email}>" if email else name
            title = _display(buyer.job_title)
            lines.append(
                f"  {_number(buyer.score):>6}  {who}"
                + (f", {title}" if title else "")
                + f" ({_clean(buyer.stage, 40)})"
            )
        if len(buyers) > _MAX_BUYERS:
            lines.append(f"  and {len(buyers) - _MAX_BUYERS} more")

    if facts.crm_url:
        lines += ["", "Open in the CRM:", facts.crm_url]
    lines += ["", "-- ", "Sent by leadscore. Times are UTC.", *_footer(context)]
    return _wrap(lines)


def render(context: AlertContext) -> RenderedEmail:
    """The alert email for one crossing: the same facts as a subject, a plain-text part and HTML."""
    facts = _facts(context)
    subject = _subject(context, facts)
    return RenderedEmail(subject=subject, text=_text(context, facts), html=_html(context, facts, subject))


# --- MIME ----------------------------------------------------------------------------------------

_ADDRESS = re.compile(r"\s*(?:(?P<display>[^<>\"]*?)\s*<(?P<inner>[^<>\s]+)>|(?P<bare>[^<>\s]+))\s*")
_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _checked_address(value: object, role: str) -> str:
    """One address, or ValueError: CR/LF or a comma would let it add headers or recipients."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{role} must be a non-empty email address")
    if _UNSAFE.search(value):
        raise ValueError(f"{role} {value!r} contains a line break or control character")
    if "," in value or ";" in value:
        raise ValueError(f"{role} {value!r} holds more than one address; give one address per list item")
    match = _ADDRESS.fullmatch(value)
    addr = match and (match.group("inner") or match.group("bare"))
    if not addr or not _EMAIL.fullmatch(addr) or "." not in addr.rsplit("@", 1)[1]:
        raise ValueError(f"{role} {value!r} is not an email address")
    return value.strip()


def _domain(address: str) -> str:
    match = _ADDRESS.fullmatch(address)
    assert match is not None  # checked by _checked_address
    return (match.group("inner") or match.group("bare")).rsplit("@", 1)[1]


def mime_message(
    email: RenderedEmail,
    sender: str,
    recipients: list[str],
    *,
    alert_id: str,
    configuration_set: str | None = None,
) -> bytes:
    """The raw message for SES SendRawEmail: multipart/alternative, plain text first, then HTML."""
    from_ = _checked_address(sender, "sender")
    if isinstance(recipients, str) or not recipients:
        raise ValueError("recipients must be a non-empty list of addresses")
    to = [_checked_address(recipient, "recipient") for recipient in recipients]
    if configuration_set is not None and not _CONFIGURATION_SET.fullmatch(configuration_set):
        raise ValueError(f"configuration set {configuration_set!r} is not a valid SES configuration set name")
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = from_
    message["To"] = ", ".join(to)
    message["Subject"] = _clean(email.subject, _MAX_SUBJECT)  # again: a RenderedEmail may be built by hand
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain(from_))
    message["X-Leadscore-Alert"] = _clean(alert_id, 200)
    if configuration_set is not None:
        message["X-SES-CONFIGURATION-SET"] = configuration_set
    message.set_content(email.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()
