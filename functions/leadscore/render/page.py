"""The frame every email shares: a 600-pixel table layout with inline styles only, which renders
the same in Outlook, Gmail and Apple Mail (no <style>, no scripts, no external images)."""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable

FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
INK = "#1b2a3a"
TEXT_WIDTH = 96  # plain-text lines are wrapped here, so every line stays under 100 characters


def wrap_text(lines: Iterable[str]) -> str:
    """The plain-text part: a long line wraps under its own indent."""
    out: list[str] = []
    for line in lines:
        if len(line) <= TEXT_WIDTH:
            out.append(line)
            continue
        indent = " " * min(len(line) - len(line.lstrip(" ")) + 4, 30)
        out.extend(
            textwrap.wrap(line, width=TEXT_WIDTH, subsequent_indent=indent, break_long_words=True, break_on_hyphens=False)
        )
    return "\n".join(out) + "\n"


def email_page(subject: str, preheader: str, body: str) -> str:
    """The whole HTML document around `body` (table rows); `preheader` is the inbox preview line."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="x-apple-disable-message-reformatting">'
        f"<title>{html.escape(subject, quote=True)}</title></head>\n"
        f'<body style="margin:0;padding:0;background-color:#e9edf2;font-family:{FONT};color:{INK};">\n'
        f'<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">{html.escape(preheader, quote=True)}</div>\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="#e9edf2" '
        'style="background-color:#e9edf2;"><tr><td align="center" style="padding:24px 8px;">\n'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" bgcolor="#ffffff" '
        f'style="width:600px;max-width:600px;background-color:#ffffff;border:1px solid #d8dee6;font-family:{FONT};">\n'
        f"{body}\n"
        "</table>\n</td></tr></table>\n</body></html>\n"
    )
