"""Accounts: which company a lead belongs to, and how its buyers' scores add up."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the validated spec (pydantic) stays off the scoring import path
    from .spec import AccountsSpec


# Addresses at these domains say nothing about the employer.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.fr",
        "yahoo.co.uk",
        "hotmail.com",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "zoho.com",
        "fastmail.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "t-online.de",
        "libero.it",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "ukr.net",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "online.no",
        "hotmail.no",
        "live.dk",
        "ziggo.nl",
        "kpnmail.nl",
        "telenet.be",
    }
)


def email_domain(email: str) -> str | None:
    if "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().casefold().rstrip(".")
    return domain or None


def account_key(profile: dict[str, Any], spec: AccountsSpec) -> str | None:
    """The account id of a lead: an explicit company id, else a non-free-mail email domain."""
    for method in spec.match_by:
        if method == "company_id":
            company = profile.get(spec.company_id_field)
            if company not in (None, ""):
                return f"id:{str(company).strip().casefold()}"
        else:
            email = profile.get("email")
            domain = email_domain(email) if isinstance(email, str) else None
            extra = {d.casefold() for d in spec.free_mail_domains}
            if domain and domain not in FREE_MAIL_DOMAINS and domain not in extra:
                return domain
    return None


def aggregate(scores: Iterable[float], spec: AccountsSpec) -> float:
    """The account score from its leads' main scores."""
    values = list(scores)
    if not values:
        return 0.0
    if spec.aggregate == "sum":
        return float(sum(values))
    if spec.aggregate == "max":
        return float(max(values))
    top = sorted(values, reverse=True)[: spec.top or len(values)]
    return sum(top) / len(top)


def best_needed(spec: AccountsSpec) -> int:
    """How many of its best members an account's score needs (none for a sum: the summary has it)."""
    if spec.aggregate == "sum":
        return 0
    if spec.aggregate == "max":
        return 1
    return spec.top or 1


def aggregate_summary(total: float, count: int, best: Iterable[float], spec: AccountsSpec) -> float:
    """The account score from what its summary keeps (members' count and score sum) and its best
    members' scores (at least `best_needed`): the same as `aggregate` over every member."""
    if count <= 0:
        return 0.0
    if spec.aggregate == "sum":
        return float(total)
    return aggregate(best, spec)


def crossing(armed: bool, score: float, threshold: float, rearm_below: float) -> tuple[bool, bool]:
    """(alert fires now, armed afterwards): once per crossing, again only after re-arming."""
    if armed and score >= threshold:
        return True, False
    if not armed and score < rearm_below:
        return False, True
    return False, armed
