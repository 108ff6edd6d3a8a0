"""The demo's one HTML page: the leaderboard, the funnel, one lead's score over time and the alerts.

Pure: a DemoPage in, a whole HTML document out; no AWS and no I/O. Like the emails, it uses inline
styles only, no scripts, no fonts or images from the network (the chart is inline SVG), so it
opens from disk in any browser. Lead emails, account names, subjects and rule ids come from
untrusted input (forms, tracking): every string is cleaned of control and bidi characters and
HTML-escaped where it is written out; hrefs are only ever bare file names of the outbox.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .page import FONT, INK

MUTED = "#5b6b7c"
LINE = "#d8dee6"
ACCENT = "#1f6feb"
STAGE_COLOURS = ("#9db8d9", "#5b8fc9", "#2f6bb0", "#1b7f4b")
COLD = "#8a96a3"
WIDTH = 960
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_FILE = re.compile(r"[A-Za-z0-9._-]{1,200}")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

WHY = {  # what each alert kind means, in a marketer's words
    "lead_score": "ready for sales (score)",
    "lead_qualified": "qualified: score, fit, stage",
    "account_score": "account ready (score)",
    "engaged_buyers": "buying group engaged",
    "nps_detractor": "NPS detractor",
}


@dataclass(frozen=True)
class LeadRow:
    lead: str
    account: str
    score: float
    fit: float
    engagement: float
    stage: str
    grade: str
    activity: str
    nps: str


@dataclass(frozen=True)
class AccountRow:
    account: str
    score: float
    leads: int
    top_lead: str


@dataclass(frozen=True)
class AlertRow:
    ts: float
    kind: str
    subject: str
    score: float
    recipients: tuple[str, ...]
    file: str | None = None  # the email's .html in the outbox (a bare file name), if it was sent


@dataclass(frozen=True)
class ScorePoint:
    ts: float
    score: float
    what: str  # the event type, or the schedule's tick


@dataclass(frozen=True)
class DemoPage:
    model: str
    version: str
    at: float
    start: float
    seed: int
    lead_count: int
    account_count: int
    events_scored: int
    forms: int
    threshold: float
    stages: tuple[tuple[str, int], ...]  # stage -> leads in it, in funnel order
    cold: int
    leads: tuple[LeadRow, ...]
    accounts: tuple[AccountRow, ...]
    alerts: tuple[AlertRow, ...]
    watched: str | None
    history: tuple[ScorePoint, ...]
    commands: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = field(default=())  # (label, bare file name) links


# --- text helpers ---------------------------------------------------------------------------------


def _clean(value: object, limit: int = 80) -> str:
    text = " ".join(_UNSAFE.sub(" ", str(value)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _h(value: object, limit: int = 80) -> str:
    """The only way text reaches the page: cleaned, cut, escaped (quotes included)."""
    return html.escape(_clean(value, limit), quote=True)


def _num(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    rounded = round(value, 1)
    return str(int(rounded)) if float(rounded).is_integer() else f"{rounded:.1f}"


def _day(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return f"{moment.day} {_MONTHS[moment.month - 1]}"


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _label(stage: str) -> str:
    text = _clean(stage, 40)
    return (text[:1].upper() + text[1:].replace("_", " ")) if re.fullmatch(r"[a-z0-9_]+", text) else text


def _what(event_type: str) -> str:
    """An event type in words: `page_view` reads `page view`, the schedule's tick `daily decay`."""
    if event_type == "schedule_tick":
        return "daily decay / cold check"
    return _clean(event_type, 40).replace("_", " ")


def _href(name: str | None) -> str | None:
    return name if name and _FILE.fullmatch(name) and not name.startswith(".") else None


# --- the sections ---------------------------------------------------------------------------------

_CELL = f"padding:6px 8px;border-bottom:1px solid {LINE};text-align:left;vertical-align:top;"
_HEAD = f"padding:6px 8px;border-bottom:2px solid {LINE};text-align:left;color:{MUTED};font-weight:600;font-size:12px;"


def _table(headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    """Cells arrive escaped already."""
    head = "".join(
        f'<th style="{_HEAD}{"text-align:right;" if i in numeric else ""}">{html.escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{_CELL}{"text-align:right;font-variant-numeric:tabular-nums;" if i in numeric else ""}">{cell}</td>'
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        '<table style="width:100%;border-collapse:collapse;font-size:13px;">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _section(title: str, body: str, note: str = "") -> str:
    caption = f'<p style="margin:0 0 12px;color:{MUTED};font-size:13px;">{note}</p>' if note else ""
    return (
        f'<section style="background:#ffffff;border:1px solid {LINE};border-radius:8px;padding:20px 24px;margin:0 0 20px;">'
        f'<h2 style="margin:0 0 6px;font-size:18px;">{html.escape(title)}</h2>{caption}{body}</section>'
    )


def _tiles(page: DemoPage) -> str:
    ready = dict(page.stages).get("sales_ready", 0)
    tiles = [
        (str(page.lead_count), "leads"),
        (str(page.account_count), "accounts"),
        (str(page.events_scored), "events and forms scored"),
        (str(ready), "sales-ready leads"),
        (str(len(page.alerts)), "alert emails sent"),
    ]
    cells = "".join(
        f'<td style="padding:14px 16px;border:1px solid {LINE};border-radius:8px;background:#ffffff;width:20%;">'
        f'<div style="font-size:26px;font-weight:700;">{html.escape(value)}</div>'
        f'<div style="color:{MUTED};font-size:12px;">{html.escape(label)}</div></td>'
        for value, label in tiles
    )
    return f'<table style="width:100%;border-spacing:10px 0;margin:0 -10px 20px;"><tr>{cells}</tr></table>'


def _funnel(page: DemoPage) -> str:
    most = max([count for _, count in page.stages] + [page.cold, 1])
    rows = []
    for index, (stage, count) in enumerate(page.stages):
        colour = STAGE_COLOURS[min(index, len(STAGE_COLOURS) - 1)]
        rows.append((_label(stage), count, colour))
    rows.append(("Cold (of those above)", page.cold, COLD))
    lines = "".join(
        "<tr>"
        f'<td style="padding:5px 12px 5px 0;width:170px;font-size:14px;white-space:nowrap;">{_h(label, 40)}</td>'
        f'<td style="padding:5px 0;"><div style="background:{colour};height:22px;border-radius:3px;'
        f'width:{max(count / most * 100, 0.5):.1f}%;"></div></td>'
        f'<td style="padding:5px 0 5px 12px;width:70px;text-align:right;font-weight:600;'
        f'font-variant-numeric:tabular-nums;">{count}</td></tr>'
        for label, count, colour in rows
    )
    return _section(
        "The funnel: leads per stage",
        f'<table style="width:100%;border-collapse:collapse;">{lines}</table>',
        "Where every lead stands now (stages are bands of the sales-ready score; a lead enters a stage only "
        "after content of that stage). Cold leads had no score increase for longer than the model allows.",
    )


def score_chart(points: tuple[ScorePoint, ...], start: float, end: float, threshold: float) -> str:
    """An inline SVG step chart of one lead's score from `start` to `end`, with the sales-ready line."""
    width, height = 880, 280
    left, right, top, bottom = 48, 16, 16, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    high = max([threshold, *(point.score for point in points)]) * 1.1
    step = 50 if high > 150 else 25
    high = math.ceil(high / step) * step
    span = max(end - start, 1.0)

    def x(ts: float) -> float:
        return left + (min(max(ts, start), end) - start) / span * plot_w

    def y(score: float) -> float:
        return top + plot_h - max(score, 0.0) / high * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Score over time" style="display:block;max-width:100%;height:auto;font-family:{html.escape(FONT)};">'
    ]
    for value in range(0, int(high) + 1, step):
        parts.append(
            f'<line x1="{left}" y1="{y(value):.1f}" x2="{width - right}" y2="{y(value):.1f}" stroke="{LINE}" stroke-width="1"/>'
            f'<text x="{left - 8}" y="{y(value) + 4:.1f}" font-size="11" fill="{MUTED}" text-anchor="end">{value}</text>'
        )
    day = 86400.0
    first_tick = math.ceil(start / (7 * day)) * 7 * day - 3 * day  # Mondays (1970-01-01 was a Thursday)
    tick = first_tick if first_tick >= start else first_tick + 7 * day
    while tick <= end:
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{top + plot_h}" x2="{x(tick):.1f}" y2="{top + plot_h + 4}" stroke="{MUTED}"/>'
            f'<text x="{x(tick):.1f}" y="{height - 12}" font-size="11" fill="{MUTED}" text-anchor="middle">{_day(tick)}</text>'
        )
        tick += 7 * day
    parts.append(
        f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" stroke="#c0392b" '
        f'stroke-width="1.5" stroke-dasharray="6 4"/>'
        f'<text x="{width - right - 4}" y="{y(threshold) - 6:.1f}" font-size="11" fill="#c0392b" text-anchor="end">'
        f"sales-ready {_num(threshold)}</text>"
    )
    if points:
        path = [(x(start), y(0.0)), (x(points[0].ts), y(0.0))]
        for previous, point in zip((None, *points[:-1]), points, strict=True):
            if previous is not None:
                path.append((x(point.ts), y(previous.score)))
            path.append((x(point.ts), y(point.score)))
        path.append((x(end), y(points[-1].score)))
        coordinates = " ".join(f"{px:.1f},{py:.1f}" for px, py in path)
        area = f"{coordinates} {x(end):.1f},{y(0.0):.1f} {x(start):.1f},{y(0.0):.1f}"
        parts.append(f'<polygon points="{area}" fill="{ACCENT}" fill-opacity="0.08"/>')
        parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
        for point in points:
            parts.append(
                f'<circle cx="{x(point.ts):.1f}" cy="{y(point.score):.1f}" r="3" fill="#ffffff" stroke="{ACCENT}" '
                f'stroke-width="1.5"><title>{_h(_stamp(point.ts))}: {_h(_what(point.what))}, score {_num(point.score)}'
                "</title></circle>"
            )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="{MUTED}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _history(page: DemoPage) -> str:
    if not page.watched:
        return ""
    last = page.history[-1].score if page.history else 0.0
    crossed = next((point for point in page.history if point.score >= page.threshold), None)
    note = f"{_h(page.watched)}, the top lead: score {_num(last)} now, from {len(page.history)} scored changes"
    if crossed is not None:
        note += f"; crossed {_num(page.threshold)} on {_h(_day(crossed.ts))} ({_h(_what(crossed.what))})"
    steps = [[_h(_day(point.ts)), _h(_what(point.what)), _num(point.score)] for point in page.history[-8:]]
    recent = _table(["day", "what happened", "score after"], steps, {2})
    return _section(
        "One lead's score over time",
        score_chart(page.history, page.start, page.at, page.threshold)
        + f'<p style="margin:14px 0 6px;color:{MUTED};font-size:13px;">Its last changes:</p>{recent}',
        note + ". Hover a dot for the event.",
    )


def _leaderboard(page: DemoPage) -> str:
    rows = [
        [
            str(index),
            _h(row.lead, 48),
            _h(row.account or "-", 30),
            f"<strong>{_num(row.score)}</strong>",
            _num(row.fit),
            _num(row.engagement),
            _h(_label(row.stage), 20),
            _h(row.grade, 6),
            _h(row.activity, 10),
            _h(row.nps, 16),
        ]
        for index, row in enumerate(page.leads, start=1)
    ]
    table = _table(
        ["#", "lead", "account", "score", "fit", "eng", "stage", "grade", "activity", "nps"], rows, {0, 3, 4, 5}
    )
    legend = (
        f'<p style="margin:10px 0 0;color:{MUTED};font-size:12px;">score = fit + engagement (fit counts at most half '
        "the sales-ready score). grade: fit letter + temperature (1 hottest). activity: active, latent, or cold "
        "(no score increase for long).</p>"
    )
    account_rows = [
        [str(index), _h(row.account, 40), f"<strong>{_num(row.score)}</strong>", str(row.leads), _h(row.top_lead, 48)]
        for index, row in enumerate(page.accounts, start=1)
    ]
    accounts = _table(["#", "account", "score", "leads", "top lead"], account_rows, {0, 2, 3})
    return _section(
        f"Leaderboard: top {len(page.leads)} of {page.lead_count} leads",
        table + legend,
        "Scores as stored in DynamoDB after the replay and the daily schedule (decay, cold leads).",
    ) + _section(
        f"Accounts: top {len(page.accounts)}",
        accounts,
        "An account's score is the mean of its top buyers' scores: a committee buys, not one person.",
    )


def _alerts(page: DemoPage) -> str:
    if not page.alerts:
        return _section("Alerts sent", f'<p style="margin:0;color:{MUTED};">None.</p>')
    linked = any(_href(alert.file) for alert in page.alerts)
    rows = []
    for alert in page.alerts:
        href = _href(alert.file)
        row = [
            _h(_day(alert.ts)),
            _h(WHY.get(alert.kind, alert.kind), 48),
            _h(alert.subject, 48),
            _num(alert.score),
            "<br>".join(_h(to, 60) for to in alert.recipients) or "-",
        ]
        if linked:
            row.append(f'<a href="{html.escape(href, quote=True)}" style="color:{ACCENT};">open</a>' if href else "-")
        rows.append(row)
    headers = ["day", "why", "who", "score", "emailed to", *(["email"] if linked else [])]
    return _section(
        f"Alerts sent: {len(page.alerts)}",
        _table(headers, rows, {3}),
        "One email per crossing, through SES (on moto) into the outbox, each with the lead's breakdown and recent "
        "activity.",
    )


def _next(page: DemoPage) -> str:
    links = "".join(
        f'<li style="margin:0 0 4px;"><a href="{html.escape(href, quote=True)}" style="color:{ACCENT};">{_h(label, 60)}</a></li>'
        for label, name in page.files
        if (href := _href(name))
    )
    commands = "".join(
        f'<li style="margin:0 0 6px;"><code style="background:#f2f4f7;padding:2px 6px;border-radius:4px;font-size:12px;">'
        f"{_h(command, 200)}</code></li>"
        for command in page.commands
    )
    body = ""
    if links:
        body += f'<p style="margin:0 0 6px;font-weight:600;">Files of this run</p><ul style="margin:0 0 14px;padding-left:20px;">{links}</ul>'
    if commands:
        body += f'<p style="margin:0 0 6px;font-weight:600;">What to try next</p><ul style="margin:0;padding-left:20px;">{commands}</ul>'
    return _section("Next", body) if body else ""


def render_demo_page(page: DemoPage) -> str:
    """The whole HTML document."""
    title = f"Lead scoring demo: {_clean(page.model, 60)}"
    subtitle = (
        f"{page.lead_count} generated leads in {page.account_count} accounts, {_day(page.start)} to "
        f"{_stamp(page.at)} (seed {page.seed}); model version {_clean(page.version, 20)}; "
        f"{page.forms} NPS and contact-sales forms among the events."
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title, quote=True)}</title></head>\n"
        f'<body style="margin:0;padding:0;background:#eef1f5;font-family:{FONT};color:{INK};">\n'
        f'<main style="max-width:{WIDTH}px;margin:0 auto;padding:28px 20px 40px;">\n'
        f'<h1 style="margin:0 0 4px;font-size:26px;">{html.escape(title)}</h1>'
        f'<p style="margin:0 0 20px;color:{MUTED};font-size:14px;">{html.escape(subtitle)}</p>\n'
        f"{_tiles(page)}\n{_funnel(page)}\n{_history(page)}\n{_leaderboard(page)}\n{_alerts(page)}\n{_next(page)}\n"
        "</main>\n</body></html>\n"
    )


# --- from the demo's report -----------------------------------------------------------------------


def _base(path: Any) -> str | None:
    if not path:
        return None
    return str(path).replace("\\", "/").rsplit("/", 1)[-1]


def _ts(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def page_from_report(
    report: dict[str, Any], commands: list[str] | None = None, top: int = 15, accounts: int = 10
) -> DemoPage:
    """The page's data from `leadscore.local.demo.run`'s report (plain data)."""
    leads = report["leads"]
    per_stage = {stage: 0 for stage in report.get("stages", [])}
    for lead in leads:
        per_stage[lead["stage"]] = per_stage.get(lead["stage"], 0) + 1
    history = tuple(
        ScorePoint(_ts(entry["at"]), float(entry["score_after"]), str(entry.get("event_type") or "change"))
        for entry in report.get("history", {}).get("points", [])
    )
    sent = [alert for alert in report["alerts"] if alert.get("status", "sent") == "sent" and alert.get("to")]
    files = [("The velocity report email", _base(report.get("velocity_report")))]
    files += [("The funnel replayed (JSON Lines)", _base(report.get("funnel", {}).get("file")))]
    return DemoPage(
        model=str(report.get("model_name", "scoring model")),
        version=str(report["model_version"]),
        at=float(report["at"]),
        start=float(report["funnel"]["start"]),
        seed=int(report["funnel"]["seed"]),
        lead_count=len(leads),
        account_count=len(report["accounts"]),
        events_scored=int(report["events"]["delivered"]),
        forms=int(report["events"]["forms"]),
        threshold=float(report.get("threshold", 100)),
        stages=tuple(per_stage.items()),
        cold=sum(1 for lead in leads if lead["cold"]),
        leads=tuple(
            LeadRow(
                lead["lead"],
                lead["account"] or "",
                float(lead["score"]),
                float(lead["fit_counted"]),
                float(lead["engagement"]),
                lead["stage"],
                lead["matrix"],
                "cold" if lead["cold"] else str(lead["activity"]),
                f"{lead['nps']} {lead['nps_category'] or ''}".strip() if lead["nps"] is not None else "-",
            )
            for lead in leads[:top]
        ),
        accounts=tuple(
            AccountRow(row["account"], float(row["score"]), int(row["leads"]), row["top_lead"])
            for row in report["accounts"][:accounts]
        ),
        alerts=tuple(
            AlertRow(
                float(alert["ts"]),
                alert["kind"],
                alert["subject"],
                float(alert["score"]),
                tuple(alert["to"]),
                _base(alert.get("file")),
            )
            for alert in sent
        ),
        watched=report.get("history", {}).get("lead"),
        history=history,
        commands=tuple(commands or ()),
        files=tuple((label, name) for label, name in files if name),
    )
