"""The morning stage-velocity email for marketing leadership: a VelocityReport in, subject + text + HTML + CSV out.

Pure: no AWS and no I/O. The HTML follows the alert email's rules (render/alert_email.py): table
layout, inline styles, no scripts, no images, no web fonts, 600px wide, so it reads the same in
Outlook, Gmail and Apple Mail; bars are table cells with a width or a height and a background.
Stage ids and causes come from the model and from events, so every one is cleaned of control
characters, truncated, and HTML-escaped where it is written out; CSV text cells that a
spreadsheet would run as a formula are quoted with a leading apostrophe.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Sequence
from datetime import date

from leadscore.core.velocity import Comparison, Figures, StageReport, VelocityReport

from .page import FONT, INK, email_page, wrap_text

_MAX_NAME = 40  # a stage id or a cause longer than this is cut with an ellipsis
_ELLIPSIS = "\u2026"
_UP, _DOWN = "\u25b2", "\u25bc"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SPARKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _clean(value: object, limit: int = _MAX_NAME) -> str:
    """One line of plain text: control and bidi characters become spaces; cut at `limit`."""
    text = " ".join(_UNSAFE.sub(" ", str(value)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + _ELLIPSIS


def _h(value: object) -> str:
    """The only way text reaches the HTML: escaped, quotes included."""
    return html.escape(str(value), quote=True)


def _label(stage: str) -> str:
    """`sales_ready` reads as `Sales ready`; any other id as written."""
    text = _clean(stage)
    if re.fullmatch(r"[a-z0-9_]+", text):
        words = text.replace("_", " ")
        return words[0].upper() + words[1:]
    return text


def _day(day: date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _short_day(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]}"


def _duration(seconds: float | None) -> str:
    """Time in stage as a person says it: 40 min, 5 h, 3.5 d."""
    if seconds is None or math.isnan(seconds):
        return "\u2013"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return f"{hours:.1f} h".replace(".0 h", " h") if hours < 10 else f"{round(hours)} h"
    days = seconds / 86400
    return f"{days:.1f} d".replace(".0 d", " d") if days < 10 else f"{round(days)} d"


def _pct(share: float | None) -> str:
    return "\u2013" if share is None else f"{round(share * 100)}%"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


# --- comparing with the previous period ------------------------------------------------------------


def _delta(current: float | None, previous: float | None, better: str, unit: str = "pct") -> tuple[str, str, str]:
    """(arrow, change, tone) of a figure against the same period before; tone is good, bad or flat.

    `better` is "up" or "down" (time in stage: less is better); `unit` "pct" compares in percent,
    "pts" in percentage points (for shares), "time" names the time before (a percentage of a
    handful of leads' times says little).
    """
    if current is None or previous is None:
        return "", "", "flat"
    if current == previous:
        return "", "=", "flat"
    arrow = _UP if current > previous else _DOWN
    tone = "good" if (current > previous) == (better == "up") else "bad"
    if unit == "time":
        return arrow, f"was {_duration(previous)}", tone
    if unit == "pts":
        points = abs(round((current - previous) * 100))
        return arrow, (f"{points} pts" if points else "<1 pt"), tone
    if previous == 0:
        return arrow, "from 0", tone
    change = abs(current - previous) / previous * 100
    return arrow, f"{change:.0f}%", tone


# each row of a stage table: (label, value of Figures, how to print it, what is better, unit of change)
_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("Entered", "entered", "up", "pct"),
    ("Moved on", "moved_on", "up", "pct"),
    ("Fell back", "fell_back", "down", "pct"),
    ("Conversion", "conversion", "up", "pts"),
    ("Average time in stage", "avg_seconds", "down", "time"),
    ("Median time", "median_seconds", "down", "time"),
)


def _rows_for(report: VelocityReport, row: StageReport) -> tuple[tuple[str, str, str, str], ...]:
    """The highest stage has no next stage: moving on and conversion say nothing there."""
    if report.leads and row is report.leads[-1] and len(report.leads) > 1:
        return tuple(item for item in _ROWS if item[1] not in ("moved_on", "conversion"))
    return _ROWS


def _value(figures: Figures, name: str) -> float | None:
    return getattr(figures, name)


def _shown(name: str, value: float | None) -> str:
    if name == "conversion":
        return _pct(value)
    if name.endswith("_seconds"):
        return _duration(value)
    return "\u2013" if value is None else str(int(value))


def _causes(pairs: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{_clean(cause)} ({count})" for cause, count in pairs) or "\u2013"


# --- the facts shared by every part ----------------------------------------------------------------


def _headline(report: VelocityReport) -> list[tuple[str, int, Comparison | None, str, str]]:
    """The four numbers at the top: (label, value, comparison, field, better)."""
    week = report.totals("lead", "7d")
    return [
        ("New leads", week.current.new, week, "new", "up"),
        ("Moved on", week.current.moved_on, week, "moved_on", "up"),
        ("Fell back", week.current.fell_back, week, "fell_back", "down"),
        ("Cold leads", report.cold_today, None, "", "down"),
    ]


def _subject(report: VelocityReport, model_name: str, today: date) -> str:
    week = report.totals("lead", "7d")
    arrow, change, _ = _delta(week.current.new, week.previous.new, "up")
    trend = f" ({arrow} {change})" if change and change != "=" else ""
    parts = [
        f"{_plural(week.current.new, 'new lead')} in 7 days{trend}",
        f"{week.current.moved_on} moved on",
        f"{week.current.fell_back} fell back",
    ]
    if report.cold_today:
        parts.append(f"{report.cold_today} cold")
    return _clean(f"Stage velocity {_short_day(today)} {today.year} ({model_name}): " + ", ".join(parts), 200)


def _flow_line(report: VelocityReport, index: int) -> str | None:
    """Between two funnel bars: how many left the upper stage forward in 30 days, and how fast."""
    month = report.leads[index].period("30d").current
    if not month.left:
        return "none left this stage"
    parts = [f"{month.moved_on} moved on"]
    if month.fell_back:
        parts.append(f"{month.fell_back} fell back")
    if month.avg_seconds is not None:
        parts.append(f"after {_duration(month.avg_seconds)} on average")
    return ", ".join(parts)


# --- HTML ------------------------------------------------------------------------------------------

_FONT = FONT
_INK = INK
_MUTED = "#66768a"
_LINE = "#e7ebf0"
_NAVY = "#10243d"
_TILE = "#f4f7fb"
_TONES = {"good": "#15803d", "bad": "#b42318", "flat": _MUTED}
_STAGE_COLOURS = ("#a9c8f2", "#6fa3e8", "#3b7bd9", "#1f56b3", "#173f86", "#122f66")
_LAST_STAGE = "#16a36a"  # the goal: sales-ready, in the colour of "go"


def _stage_colour(index: int, count: int) -> str:
    if count > 1 and index == count - 1:
        return _LAST_STAGE
    return _STAGE_COLOURS[min(index, len(_STAGE_COLOURS) - 1)]


def _table(inner: str, style: str = "") -> str:
    extra = f' style="{style}"' if style else ""
    return f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"{extra}>{inner}</table>'


def _section(title: str, note: str, body: str) -> str:
    note_html = (
        f'<span style="font-weight:normal;letter-spacing:0;text-transform:none;color:{_MUTED};"> \u00b7 {_h(note)}</span>'
        if note
        else ""
    )
    return (
        '<tr><td style="padding:28px 32px 0 32px;">'
        f'<div style="font-size:12px;line-height:16px;font-weight:bold;letter-spacing:1px;color:{_INK};'
        f'text-transform:uppercase;padding-bottom:8px;border-bottom:2px solid {_NAVY};">{_h(title)}{note_html}</div>'
        f"{body}</td></tr>"
    )


def _change_html(arrow: str, change: str, tone: str, size: int = 12) -> str:
    if not change or change == "=":
        return ""
    return (
        f'<span style="font-size:{size}px;line-height:16px;font-weight:bold;color:{_TONES[tone]};white-space:nowrap;">'
        f"{_h(arrow)}{'&nbsp;' if arrow else ''}{_h(change)}</span>"
    )


def _header_html(report: VelocityReport, model_name: str, today: date) -> str:
    snapshot = f"Counts at 00:00 UTC on {_day(report.snapshot_day)}" if report.snapshot_day else "No daily snapshot yet"
    return (
        f'<tr><td bgcolor="{_NAVY}" style="background-color:{_NAVY};padding:28px 32px 26px 32px;">'
        + _table(
            '<tr><td valign="middle" style="padding-right:16px;">'
            '<div style="font-size:12px;line-height:16px;font-weight:bold;letter-spacing:1.5px;'
            f'text-transform:uppercase;color:#7cc4ff;">Stage velocity \u00b7 {_h(_clean(model_name, 60))}</div>'
            '<div style="font-size:26px;line-height:32px;font-weight:bold;color:#ffffff;padding-top:8px;">'
            f"{_h(_day(today))}</div>"
            '<div style="font-size:14px;line-height:20px;color:#c9d6e6;padding-top:6px;">'
            f"Who entered each stage, who moved on, and how fast. {_h(snapshot)}.</div></td>"
            '<td width="130" align="center" valign="middle" style="width:130px;">'
            + '<table role="presentation" width="130" cellpadding="0" cellspacing="0" border="0"><tr>'
            '<td align="center" bgcolor="#1b3a5e" style="background-color:#1b3a5e;border-radius:10px;'
            'padding:12px 6px 10px 6px;border:1px solid #7cc4ff;">'
            f'<div style="font-size:38px;line-height:42px;font-weight:bold;color:#ffffff;">{report.leads_today}</div>'
            '<div style="font-size:11px;line-height:15px;color:#c9d6e6;padding-top:2px;">leads in the funnel<br>'
            f"{_h(_plural(report.accounts_today, 'account'))}</div>"
            "</td></tr></table></td></tr>"
        )
        + "</td></tr>"
    )


def _tiles_html(report: VelocityReport) -> str:
    tiles = _headline(report)
    cells = []
    for index, (label, value, comparison, name, better) in enumerate(tiles):
        if index:
            cells.append('<td width="2%" style="width:2%;font-size:1px;line-height:1px;">&nbsp;</td>')
        if comparison is not None:
            previous = getattr(comparison.previous, name)
            arrow, change, tone = _delta(value, previous, better)
            note = (
                _change_html(arrow, change, tone)
                + f'<span style="font-size:12px;color:{_MUTED};"> vs {previous}</span>'
                if change != "="
                else f'<span style="font-size:12px;color:{_MUTED};">same as before</span>'
            )
            caption = "last 7 days"
        else:
            note = f'<span style="font-size:12px;color:{_MUTED};">no recent score increase</span>' if value else ""
            caption = "today"
        cells.append(
            f'<td width="23%" valign="top" bgcolor="{_TILE}" style="width:23%;background-color:{_TILE};'
            'border-radius:6px;padding:10px 12px;">'
            f'<div style="font-size:11px;line-height:14px;letter-spacing:0.5px;text-transform:uppercase;'
            f'color:{_MUTED};">{_h(label)}</div>'
            f'<div style="font-size:26px;line-height:32px;font-weight:bold;color:{_INK};padding-top:4px;">{value}</div>'
            f'<div style="font-size:12px;line-height:16px;color:{_MUTED};">{_h(caption)}</div>'
            f'<div style="padding-top:2px;line-height:16px;">{note}</div></td>'
        )
    return '<tr><td style="padding:22px 32px 0 32px;">' + _table(f"<tr>{''.join(cells)}</tr>") + "</td></tr>"


def _funnel_html(report: VelocityReport) -> str:
    """Centred bars, widest for the fullest stage, with what flowed between each pair of stages."""
    rows = report.leads
    if not rows:
        return ""
    top = max((row.count_today for row in rows), default=0)
    body = []
    for index, row in enumerate(rows):
        colour = _stage_colour(index, len(rows))
        width = 0 if not top else max(4, round(100 * row.count_today / top)) if row.count_today else 0
        if width:
            bar = (
                '<table role="presentation" align="center" cellpadding="0" cellspacing="0" border="0" '
                f'width="{width}%" style="width:{width}%;"><tr>'
                f'<td bgcolor="{colour}" style="background-color:{colour};height:26px;border-radius:4px;'
                'font-size:1px;line-height:1px;">&nbsp;</td></tr></table>'
            )
        else:
            bar = _table(
                f'<tr><td style="height:26px;border:1px dashed #c6d0dc;border-radius:4px;font-size:11px;'
                f'line-height:14px;color:{_MUTED};text-align:center;">empty</td></tr>'
            )
        share = _pct(row.share_today)
        body.append(
            "<tr>"
            f'<td width="118" valign="middle" style="width:118px;padding:3px 10px 3px 0;font-size:14px;'
            f'line-height:18px;font-weight:bold;color:{_INK};">{_h(_label(row.stage))}</td>'
            f'<td valign="middle" style="padding:3px 0;">{bar}</td>'
            f'<td width="92" align="right" valign="middle" style="width:92px;padding:3px 0 3px 10px;'
            f'white-space:nowrap;"><span style="font-size:18px;line-height:22px;font-weight:bold;color:{_INK};">'
            f'{row.count_today}</span><span style="font-size:12px;color:{_MUTED};"> &nbsp;{_h(share)}</span></td>'
            "</tr>"
        )
        if index < len(rows) - 1:
            flow = _flow_line(report, index)
            body.append(
                '<tr><td style="font-size:1px;line-height:1px;">&nbsp;</td>'
                f'<td align="center" style="padding:2px 0 4px 0;font-size:12px;line-height:16px;color:{_MUTED};">'
                f'<span style="color:#9aa8b8;">&darr;</span>&nbsp; {_h(flow)}</td><td></td></tr>'
            )
    cold = f"{_plural(report.cold_today, 'lead')} cold today" if report.cold_today else "no cold leads today"
    note = f"{report.leads_today} leads, {cold}; moves over the last 30 days"
    return _section("Funnel today", note, _table("".join(body), "margin-top:12px;"))


def _columns_html(values: Sequence[tuple[date, int | None]], top: int, colour: str, height: int = 36) -> str:
    """A row of vertical bars (one per day): cells with a height and a background."""
    cells = []
    for day, value in values:
        if value is None:
            inner = (
                '<td height="1" bgcolor="#ffffff" style="height:1px;border-top:1px dashed #c6d0dc;'
                'font-size:1px;line-height:1px;">&nbsp;</td>'
            )
        elif value == 0 or not top:
            inner = '<td height="2" bgcolor="#dfe5ec" style="height:2px;background-color:#dfe5ec;font-size:1px;line-height:1px;">&nbsp;</td>'
        else:
            bar = max(3, round(height * value / top))
            inner = (
                f'<td height="{bar}" bgcolor="{colour}" style="height:{bar}px;background-color:{colour};'
                'border-radius:2px 2px 0 0;font-size:1px;line-height:1px;">&nbsp;</td>'
            )
        title = f"{_short_day(day)}: {'no snapshot' if value is None else value}"
        cells.append(
            f'<td valign="bottom" title="{_h(title)}" style="height:{height}px;padding:0 1px;">'
            f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>{inner}</tr></table></td>'
        )
    return _table(f"<tr>{''.join(cells)}</tr>")


def _entered_html(report: VelocityReport) -> str:
    rows = report.leads
    if not rows or not rows[0].entered_daily:
        return ""
    top = max((n for row in rows for _, n in row.entered_daily), default=0)
    first, last = rows[0].entered_daily[0][0], rows[0].entered_daily[-1][0]
    body = []
    for index, row in enumerate(rows):
        total = sum(n for _, n in row.entered_daily)
        body.append(
            "<tr>"
            f'<td width="118" valign="bottom" style="width:118px;padding:8px 10px 2px 0;font-size:13px;line-height:18px;'
            f'color:{_INK};border-bottom:1px solid {_LINE};">{_h(_label(row.stage))}</td>'
            f'<td valign="bottom" style="padding:8px 0 0 0;border-bottom:1px solid {_LINE};">'
            f"{_columns_html(row.entered_daily, top, _stage_colour(index, len(rows)))}</td>"
            f'<td width="92" align="right" valign="bottom" style="width:92px;padding:8px 0 2px 10px;'
            f'border-bottom:1px solid {_LINE};white-space:nowrap;">'
            f'<span style="font-size:16px;line-height:20px;font-weight:bold;color:{_INK};">{total}</span></td>'
            "</tr>"
        )
    axis = (
        '<tr><td></td><td style="padding-top:4px;">'
        + _table(
            f'<tr><td style="font-size:11px;line-height:14px;color:{_MUTED};">{_h(_short_day(first))}</td>'
            f'<td align="right" style="font-size:11px;line-height:14px;color:{_MUTED};">{_h(_short_day(last))}</td></tr>'
        )
        + '</td><td align="right" style="font-size:11px;line-height:14px;color:'
        + f'{_MUTED};padding-top:4px;">in 14 days</td></tr>'
    )
    return _section("Entered each stage", "per day, last 14 days", _table("".join(body) + axis, "margin-top:6px;"))


def _stage_html(report: VelocityReport, row: StageReport, index: int) -> str:
    colour = _stage_colour(index, len(report.leads))
    head = "".join(
        f'<th align="right" style="padding:8px 0 6px 8px;font-size:11px;line-height:14px;font-weight:bold;'
        f'letter-spacing:0.5px;text-transform:uppercase;color:{_MUTED};border-bottom:1px solid {_LINE};">'
        f"{_h(comparison.period.label)}</th>"
        for comparison in row.periods
    )
    lines = []
    for label, name, better, unit in _rows_for(report, row):
        cells = []
        for comparison in row.periods:
            current, previous = _value(comparison.current, name), _value(comparison.previous, name)
            arrow, change, tone = _delta(current, previous, better, unit)
            change_html = _change_html(arrow, change, tone, 11)
            cells.append(
                f'<td width="24%" align="right" valign="middle" style="width:24%;padding:6px 0 6px 8px;'
                f'border-bottom:1px solid {_LINE};white-space:nowrap;">'
                + (f"{change_html}&nbsp; " if change_html else "")
                + f'<span style="font-size:15px;line-height:20px;font-weight:bold;color:{_INK};">'
                f"{_h(_shown(name, current))}</span></td>"
            )
        lines.append(
            f'<tr><td width="28%" valign="middle" style="width:28%;padding:6px 8px 6px 0;border-bottom:1px solid {_LINE};font-size:13px;'
            f'line-height:18px;color:{_MUTED};">{_h(label)}</td>{"".join(cells)}</tr>'
        )
    month = row.period("30d").current
    causes = (
        f'<div style="font-size:13px;line-height:20px;color:{_INK};padding-top:8px;">'
        f'<span style="color:{_MUTED};">Moved in by</span> {_h(_causes(month.causes_in))}<br>'
        f'<span style="color:{_MUTED};">Moved out by</span> {_h(_causes(month.causes_out))}'
        f'<span style="font-size:11px;color:{_MUTED};"> &nbsp;(last 30 days)</span></div>'
    )
    cold = f" \u00b7 {row.cold_today} cold" if row.cold_today else ""
    title = (
        '<div style="padding-top:22px;">'
        + _table(
            f'<tr><td width="6" bgcolor="{colour}" style="width:6px;background-color:{colour};border-radius:3px;'
            'font-size:1px;line-height:1px;">&nbsp;</td>'
            f'<td style="padding-left:10px;font-size:17px;line-height:22px;font-weight:bold;color:{_INK};">'
            f"{_h(_label(row.stage))}</td>"
            f'<td align="right" style="font-size:13px;line-height:22px;color:{_MUTED};white-space:nowrap;">'
            f"{_h(_plural(row.count_today, 'lead'))} today \u00b7 {_h(_pct(row.share_today))}{_h(cold)}</td></tr>"
        )
        + "</div>"
    )
    table = _table(
        f'<tr><th align="left" style="border-bottom:1px solid {_LINE};"></th>{head}</tr>{"".join(lines)}',
        "margin-top:6px;",
    )
    return title + table + causes


def _stages_html(report: VelocityReport) -> str:
    if not report.leads:
        return ""
    body = "".join(_stage_html(report, row, index) for index, row in enumerate(report.leads))
    return _section("Stage by stage", "leads; arrows compare with the period before", body)


def _accounts_html(report: VelocityReport) -> str:
    rows = report.accounts
    if not rows:
        return ""
    headers = ("Stage", "Today", "Entered 7d", "Moved on 30d", "Fell back 30d", "Avg time 30d")
    head = "".join(
        f'<th align="{"left" if i == 0 else "right"}" style="padding:10px 0 6px 8px;font-size:11px;line-height:14px;'
        f"font-weight:bold;letter-spacing:0.5px;text-transform:uppercase;color:{_MUTED};"
        f'border-bottom:1px solid {_LINE};">{_h(title)}</th>'
        for i, title in enumerate(headers)
    )
    body = []
    for index, row in enumerate(rows):
        week, month = row.period("7d"), row.period("30d").current
        arrow, change, tone = _delta(week.current.entered, week.previous.entered, "up")
        cells = [
            f'<span style="color:{_stage_colour(index, len(rows))};">\u25a0</span> {_h(_label(row.stage))}',
            f"<b>{row.count_today}</b>",
            f"{week.current.entered} {_change_html(arrow, change, tone, 11)}",
            str(month.moved_on),
            str(month.fell_back),
            _h(_duration(month.avg_seconds)),
        ]
        body.append(
            "<tr>"
            + "".join(
                f'<td align="{"left" if i == 0 else "right"}" style="padding:7px 0 7px 8px;border-bottom:1px solid '
                f'{_LINE};font-size:14px;line-height:20px;color:{_INK};white-space:nowrap;">{cell}</td>'
                for i, cell in enumerate(cells)
            )
            + "</tr>"
        )
    note = f"{_plural(report.accounts_today, 'account')}, staged by account score"
    return _section("Accounts", note, _table(f"<tr>{head}</tr>{''.join(body)}"))


def _cold_html(report: VelocityReport) -> str:
    by_stage = [(row.stage, row.cold_today) for row in report.leads if row.cold_today]
    listed = ", ".join(f"{_label(stage)} {count}" for stage, count in by_stage)
    text = (
        f"<b>{_h(_plural(report.cold_today, 'lead'))}</b> had no score increase for the cold-lead period: "
        f"{_h(listed)}. They belong in a nurture track, and some are worth a call from sales."
        if report.cold_today
        else "No lead is cold today."
    )
    top = max((n or 0 for _, n in report.cold_trend), default=0)
    trend = _columns_html(report.cold_trend, top, "#8aa0b8", 28) if any(n for _, n in report.cold_trend) else ""
    caption = (
        f'<div style="font-size:11px;line-height:14px;color:{_MUTED};padding-top:4px;">cold leads per day, '
        f"{_h(_short_day(report.cold_trend[0][0]))} to {_h(_short_day(report.cold_trend[-1][0]))}</div>"
        if trend
        else ""
    )
    body = (
        f'<div style="font-size:14px;line-height:21px;color:{_INK};padding:10px 0 8px 0;">{text}</div>{trend}{caption}'
    )
    return _section("Cold leads", "", body)


def _footer_html(report: VelocityReport) -> str:
    return (
        '<tr><td style="padding:30px 32px 26px 32px;">'
        f'<div style="border-top:1px solid {_LINE};padding-top:14px;font-size:12px;line-height:18px;color:{_MUTED};">'
        "<b>How to read it.</b> Entered counts every move into a stage (new leads, moves forward and falls "
        "back). Conversion is the share of those who left a stage that moved on rather than fell back. "
        "Time in stage is measured on the leads that left the stage in the period: the average is exact, the "
        "median is read from time buckets an hour wide below two days, a day wide below 18 weeks and a week "
        "wide beyond (exact when the middle leavers' times share nothing but their bucket). A lead that skips a stage counts only where it lands. Days are UTC; "
        "&ldquo;Yesterday&rdquo; is the last full day. Sent by leadscore from daily aggregates and the "
        f"snapshot of {_h(_day(report.snapshot_day) if report.snapshot_day else 'no day yet')}.</div></td></tr>"
    )


def _html(report: VelocityReport, model_name: str, today: date, subject: str) -> str:
    week = report.totals("lead", "7d").current
    preheader = (
        f"{_plural(week.new, 'new lead')}, {week.moved_on} moved on, {week.fell_back} fell back "
        f"in the last 7 days; {report.leads_today} leads in the funnel"
    )
    sections = "".join(
        (
            _header_html(report, model_name, today),
            _tiles_html(report),
            _funnel_html(report),
            _entered_html(report),
            _stages_html(report),
            _accounts_html(report),
            _cold_html(report),
            _footer_html(report),
        )
    )
    return email_page(subject, preheader, sections)


# --- plain text ------------------------------------------------------------------------------------


def _spark(values: Sequence[int | None]) -> str:
    top = max((v for v in values if v is not None), default=0)
    out = []
    for value in values:
        if value is None:
            out.append(" ")
        elif value == 0 or not top:
            out.append("\u00b7")
        else:
            out.append(_SPARKS[min(len(_SPARKS) - 1, math.ceil(value / top * len(_SPARKS)) - 1)])
    return "".join(out)


def _with_change(text: str, arrow: str, change: str) -> str:
    return f"{text} {arrow} {change}" if change and change != "=" else text


def _text_header(report: VelocityReport, model_name: str, today: date) -> list[str]:
    snapshot = f"counts at 00:00 UTC on {_day(report.snapshot_day)}" if report.snapshot_day else "no snapshot yet"
    lines = [
        f"STAGE VELOCITY - {_clean(model_name, 60)} - {_day(today)}",
        f"{_plural(report.leads_today, 'lead')} in the funnel, {_plural(report.accounts_today, 'account')}, "
        f"{report.cold_today} cold ({snapshot})",
        "",
        "LAST 7 DAYS, against the 7 days before",
    ]
    for label, value, comparison, name, better in _headline(report):
        if comparison is None:
            continue
        previous = getattr(comparison.previous, name)
        arrow, change, _ = _delta(value, previous, better)
        shown = "same as before" if change == "=" else f"{arrow} {change} (before: {previous})"
        lines.append(f"  {label:<16}{value:>5}   {shown}")
    return lines


def _text_funnel(report: VelocityReport, width: int) -> list[str]:
    if not report.leads:
        return []
    lines = ["", "FUNNEL TODAY (moves: last 30 days)"]
    top = max(row.count_today for row in report.leads)
    for index, row in enumerate(report.leads):
        bar = "\u2588" * (round(40 * row.count_today / top) if top else 0) or "\u00b7"
        lines.append(
            f"  {_clean(_label(row.stage), width):<{width}}  {bar:<40} {row.count_today:>5}  {_pct(row.share_today):>4}"
        )
        if index < len(report.leads) - 1:
            lines.append(f"  {'':<{width}}    \u2193 {_flow_line(report, index)}")
    days = report.leads[0].entered_daily
    if days:
        lines += ["", f"ENTERED PER DAY, {_short_day(days[0][0])} to {_short_day(days[-1][0])} (total in 14 days)"]
        for row in report.leads:
            spark = _spark([n for _, n in row.entered_daily])
            total = sum(n for _, n in row.entered_daily)
            lines.append(f"  {_clean(_label(row.stage), width):<{width}}  {spark}  {total:>5}")
    return lines


def _text_stage(report: VelocityReport, row: StageReport) -> list[str]:
    cold = f", {row.cold_today} cold" if row.cold_today else ""
    heading = f"{_label(row.stage).upper()} - {_plural(row.count_today, 'lead')} today ({_pct(row.share_today)}){cold}"
    lines = ["", heading, f"  {'':<26}" + "".join(f"{c.period.label:>22}" for c in row.periods)]
    for label, name, better, unit in _rows_for(report, row):
        cells = []
        for comparison in row.periods:
            current, previous = _value(comparison.current, name), _value(comparison.previous, name)
            arrow, change, _ = _delta(current, previous, better, unit)
            cells.append(f"{_with_change(_shown(name, current), arrow, change):>22}")
        lines.append(f"  {label:<26}" + "".join(cells))
    month = row.period("30d").current
    lines.append(f"  Moved in by (30 days):  {_causes(month.causes_in)}")
    lines.append(f"  Moved out by (30 days): {_causes(month.causes_out)}")
    return lines


def _text_accounts(report: VelocityReport, width: int) -> list[str]:
    if not report.accounts:
        return []
    lines = [
        "",
        f"ACCOUNTS - {_plural(report.accounts_today, 'account')}, staged by account score",
        f"  {'stage':<{width}}  {'today':>6}  {'entered 7d':>10}  {'moved on 30d':>12}  {'fell back 30d':>13}"
        f"  {'avg time 30d':>12}",
    ]
    for row in report.accounts:
        month = row.period("30d").current
        lines.append(
            f"  {_clean(_label(row.stage), width):<{width}}  {row.count_today:>6}  {row.period('7d').current.entered:>10}"
            f"  {month.moved_on:>12}  {month.fell_back:>13}  {_duration(month.avg_seconds):>12}"
        )
    return lines


def _text_cold(report: VelocityReport) -> list[str]:
    lines = ["", "COLD LEADS"]
    if report.cold_today:
        listed = ", ".join(f"{_label(row.stage)} {row.cold_today}" for row in report.leads if row.cold_today)
        lines.append(f"  {_plural(report.cold_today, 'lead')} cold today: {listed}")
    else:
        lines.append("  No lead is cold today.")
    if any(n for _, n in report.cold_trend):
        lines.append(f"  last 14 days: {_spark([n for _, n in report.cold_trend])}")
    return lines


def _text(report: VelocityReport, model_name: str, today: date) -> str:
    width = min(max([len(_label(stage)) for stage in report.stages] + [5]), 20)
    lines = _text_header(report, model_name, today) + _text_funnel(report, width)
    for row in report.leads:
        lines += _text_stage(report, row)
    lines += _text_accounts(report, width) + _text_cold(report)
    lines += [
        "",
        "-- ",
        "Time in stage: leads that left the stage in the period; average exact, median to the hour",
        "(under 2 days), the day (under 18 weeks) or the week. Conversion: share of leavers that moved on.",
        "Days are UTC.",
    ]
    return _wrap(lines)


def _wrap(lines: Sequence[str]) -> str:
    """Trailing spaces go, except the signature delimiter's ("-- "); then page.wrap_text."""
    return wrap_text(line if line == "-- " else line.rstrip() for line in lines)


# --- CSV -------------------------------------------------------------------------------------------

CSV_HEADER = (
    "report_date",
    "kind",
    "stage",
    "period",
    "period_start",
    "period_end",
    "entered",
    "entered_previous",
    "entered_change_pct",
    "new",
    "new_previous",
    "moved_on",
    "moved_on_previous",
    "fell_back",
    "fell_back_previous",
    "conversion_pct",
    "conversion_previous_pct",
    "avg_days_in_stage",
    "avg_days_in_stage_previous",
    "median_days_in_stage",
    "median_days_in_stage_previous",
    "leavers_timed",
    "top_causes_in",
    "top_causes_out",
    "count_today",
    "share_today_pct",
    "cold_today",
)


def _csv_text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    rounded = round(value, digits)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.{digits}f}"


def _days_value(seconds: float | None) -> str:
    return "" if seconds is None else _num(seconds / 86400, 2)


def _share(value: float | None) -> str:
    return "" if value is None else _num(value * 100, 1)


def _csv_causes(pairs: Sequence[tuple[str, int]]) -> str:
    return _csv_text("; ".join(f"{_clean(cause, 80)}:{count}" for cause, count in pairs))


def _csv(report: VelocityReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in report.leads + report.accounts:
        for comparison in row.periods:
            now, before = comparison.current, comparison.previous
            writer.writerow(
                [
                    report.today.isoformat(),
                    row.kind,
                    _csv_text(_clean(row.stage, 80)),
                    comparison.period.key,
                    comparison.period.start.isoformat(),
                    comparison.period.end.isoformat(),
                    now.entered,
                    before.entered,
                    _num(comparison.entered_change_pct),
                    now.new,
                    before.new,
                    now.moved_on,
                    before.moved_on,
                    now.fell_back,
                    before.fell_back,
                    _share(now.conversion),
                    _share(before.conversion),
                    _days_value(now.avg_seconds),
                    _days_value(before.avg_seconds),
                    _days_value(now.median_seconds),
                    _days_value(before.median_seconds),
                    now.timed,
                    _csv_causes(now.causes_in),
                    _csv_causes(now.causes_out),
                    row.count_today,
                    _share(row.share_today),
                    row.cold_today,
                ]
            )
    return buffer.getvalue()


def render_report(report: VelocityReport, model_name: str, today: date) -> tuple[str, str, str, str]:
    """(subject, plain text, HTML, CSV) of the morning report: the same figures in each."""
    subject = _subject(report, model_name, today)
    return subject, _text(report, model_name, today), _html(report, model_name, today, subject), _csv(report)
