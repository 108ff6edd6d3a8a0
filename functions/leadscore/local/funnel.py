"""A seeded, realistic marketing funnel for the shipped model (rules/), with times relative to now.

Pure: no AWS, no I/O, no clock of its own (the caller passes `now`). The same seed gives the same
leads, companies, events and form answers; only the timestamps move with `now`, and every one is
in the past and within the last `weeks` weeks, so the demo never expires.

Every lead follows one journey (browsing, researching, evaluating, sales-ready, gone cold, NPS
customer, job seeker, unsubscribed, competitor). Events of one kind for one lead are spaced so
that no two of them share a calendar day, and weekly-limited kinds (pricing page, offer email,
video, careers) no calendar week: the model's `per: day/week` limits then count the same whatever
the time of day or weekday of `now`, so the scores and alerts a seed gives are the same every run.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

DAY = 86400.0
HOUR = 3600.0
SITE = "https://www.fjordline.example"
HONEYPOT = "website"  # the forms' hidden bot trap: a browser sends it empty

# name, email domain, country, employees. The first ones are the bigger target accounts.
COMPANIES: tuple[tuple[str, str, str, int], ...] = (
    ("Nordkraft", "nordkraft.no", "NO", 6200),
    ("Havnelogistikk", "havnelogistik.dk", "DK", 2400),
    ("Polderbank", "polderbank.nl", "NL", 8000),
    ("Brussel Steel", "brusselsteel.be", "BE", 1200),
    ("Saimaa Paper", "saimaapaper.fi", "FI", 3100),
    ("Vasa Mobility", "vasamobility.se", "SE", 950),
    ("Trondheim Energi", "trondheimenergi.no", "NO", 1800),
    ("Kattegat Shipping", "kattegatshipping.dk", "DK", 5400),
    ("Lofoten Seafood", "lofotenseafood.no", "NO", 420),
    ("Delft Instruments", "delftinstruments.nl", "NL", 650),
    ("Aurora Telecom", "auroratelecom.fi", "FI", 12000),
    ("Gotland Health", "gotlandhealth.se", "SE", 2900),
    ("Antwerp Chemicals", "antwerpchem.be", "BE", 4100),
    ("Bergen Insurance", "bergeninsurance.no", "NO", 1500),
    ("Odense Robotics", "odenserobotics.dk", "DK", 310),
    ("Utrecht Retail", "utrechtretail.nl", "NL", 7300),
    ("Tampere Games", "tamperegames.fi", "FI", 180),
    ("Malmo Foods", "malmofoods.se", "SE", 1100),
    ("Ghent Textiles", "ghenttextiles.be", "BE", 240),
    ("Stavanger Offshore", "stavangeroffshore.no", "NO", 9800),
    ("Aarhus Pharma", "aarhuspharma.dk", "DK", 2600),
    ("Eindhoven Chips", "eindhovenchips.nl", "NL", 15000),
    ("Oulu Wireless", "ouluwireless.fi", "FI", 540),
    ("Uppsala Labs", "uppsalalabs.se", "SE", 75),
    ("Liege Logistics", "liegelogistics.be", "BE", 880),
    ("Tromso Travel", "tromsotravel.no", "NO", 60),
    ("Aalborg Wind", "aalborgwind.dk", "DK", 3700),
    ("Rotterdam Port Services", "rotterdamport.nl", "NL", 2100),
    ("Espoo Software", "espoosoftware.fi", "FI", 130),
    ("Lund Medtech", "lundmedtech.se", "SE", 460),
    ("Namur Energy", "namurenergy.be", "BE", 1300),
    ("Drammen Bygg", "drammenbygg.no", "NO", 720),
    ("Esbjerg Fisk", "esbjergfisk.dk", "DK", 95),
    ("Groningen Gas", "groningengas.nl", "NL", 4400),
    ("Turku Marine", "turkumarine.fi", "FI", 2000),
    ("Gothenburg Auto", "gothenburgauto.se", "SE", 11000),
    ("Bruges Hotels", "brugeshotels.be", "BE", 150),
    ("Bodo Aqua", "bodoaqua.no", "NO", 40),
    ("Roskilde Media", "roskildemedia.dk", "DK", 260),
    ("Leiden Biotech", "leidenbiotech.nl", "NL", 390),
)
FREE_MAIL = ("gmail.com", "outlook.com", "hotmail.com", "yahoo.com")
COMPETITOR = ("Rival Data", "rivaldata.example", "SE", 800)

# fmt: off
FIRST_NAMES = (
    "Ingrid", "Lars", "Emma", "Sofie", "Luc", "Jan", "Karin", "Mikkel", "Anna", "Jonas", "Freya", "Pieter", "Aino",
    "Elias", "Nora", "Sander", "Maja", "Lotte", "Henrik", "Eva", "Oskar", "Liv", "Ruben", "Saga", "Matti", "Astrid",
    "Bram", "Ida", "Mads", "Elin", "Thijs", "Hanna", "Viktor", "Sanne", "Juho", "Tove"
)
LAST_NAMES = (
    "Solberg", "Berg", "Dahl", "Jensen", "Peeters", "de Vries", "Holm", "Nielsen", "Virtanen", "Lindqvist",
    "Hansen", "Janssens", "Korhonen", "Johansson", "Bakker", "Larsen", "Maes", "Nieminen", "Andersson", "Visser",
    "Pedersen", "Claes", "Haugen", "Eriksson", "Smit", "Kristensen", "Willems", "Lehtonen"
)
SENIOR_TITLES = (
    "Chief Data Officer", "VP Engineering", "Head of Data", "Director of IT", "CTO", "CIO", "Head of Security",
    "VP Operations"
)
PRACTITIONER_TITLES = (
    "Data Engineer", "Analytics Lead", "IT Manager", "Solutions Architect", "Data Analyst", "Security Engineer",
    "Platform Engineer"
)
OTHER_TITLES = ("Marketing Manager", "Product Manager", "Consultant", "Project Coordinator", "Office Manager")
STUDENT_TITLES = ("Student", "Intern")
BLOG_POSTS = (
    "what-is-a-lakehouse", "zero-trust-in-practice", "five-signs-your-pipelines-are-brittle", "gdpr-and-analytics",
    "sso-for-small-teams", "streaming-vs-batch"
)
EBOOKS = ("ebook-data-strategy-101", "ebook-security-checklist")
WHITEPAPERS = ("whitepaper-data-lakehouse", "whitepaper-data-governance", "whitepaper-security-zero-trust")
CASE_STUDIES = ("case-study-polderbank", "case-study-nordkraft", "case-study-aurora")
DOCS = (
    "/docs/ingest/connectors", "/docs/warehouse/sizing", "/docs/pipelines/scheduling", "/docs/sso/saml",
    "/docs/audit/log-export", "/docs/threat/detection"
)
VIDEOS = ("platform-tour", "security-suite-overview", "customer-story-nordkraft")
WEBINARS = ("lakehouse-101", "zero-trust-roundtable", "pipelines-live")
CAMPAIGNS = ("newsletter-may", "newsletter-june", "spring-offer", "webinar-invite", "case-study-digest")
# fmt: on
NPS_COMMENTS = {
    "promoter": ("Great support team", "Helpful webinars", "The pipelines just work", ""),
    "passive": ("Good, but onboarding took long", "Docs could be clearer", ""),
    "detractor": ("Too expensive for what we use", "Support is slow to answer", "Missing SSO for our IdP"),
}

# Minimum time between two events of one kind for one lead (see the module docstring): one
# calendar day, or one calendar week for the kinds the model limits per week. Monthly-limited
# kinds (webinars) happen at most once per lead.
WEEKLY = frozenset({"pricing", "offer_open", "video", "careers"})
SPACING_SLACK = HOUR  # and a little more, so rounding never puts two in one day or week

# journey -> share of the leads (the competitor's analysts come on top)
JOURNEYS: tuple[tuple[str, float], ...] = (
    ("browsing", 0.37),
    ("researching", 0.16),
    ("evaluating", 0.08),
    ("sales_ready", 0.02),
    ("gone_cold", 0.15),
    ("nps_customer", 0.10),
    ("job_seeker", 0.03),
    ("unsubscribed", 0.03),
)


@dataclass(frozen=True)
class Company:
    name: str
    domain: str
    country: str
    employees: int


@dataclass(frozen=True)
class Lead:
    email: str
    first_name: str
    job_title: str
    company: Company | None  # None: a free-mail address
    journey: str
    country: str


@dataclass(frozen=True)
class FormPost:
    """A web form as the browser posts it: the form id and its fields (the honeypot empty)."""

    form_id: str
    ts: float
    fields: dict[str, str]

    @property
    def email(self) -> str:
        return self.fields["email"]

    def body(self) -> str:
        """application/x-www-form-urlencoded, as a browser sends it."""
        return urlencode(self.fields)

    def event(self, event_id: str) -> dict[str, Any]:
        """The same answers as a project event (form_submit), for `leadscore simulate --events`."""
        answers = {name: value for name, value in self.fields.items() if name not in {"email", HONEYPOT} and value}
        for name in ("nps", "employees"):
            if name in answers:
                answers[name] = int(answers[name])
        return {
            "id": event_id,
            "type": "form_submit",
            "email": self.email,
            "timestamp": iso(self.ts),
            "properties": {"form": self.form_id},
            "profile": answers,
        }


@dataclass
class Funnel:
    now: float
    seed: int
    weeks: int
    companies: list[Company]
    leads: list[Lead]
    events: list[dict[str, Any]]  # tracking events (the project's format), oldest first
    forms: list[FormPost]  # oldest first

    def steps(self) -> list[tuple[float, dict[str, Any] | FormPost]]:
        """Tracking events and form posts together, oldest first: the order a replay sends them."""
        merged: list[tuple[float, int, dict[str, Any] | FormPost]] = [
            (event_time(event), 0, event) for event in self.events
        ]
        merged += [(form.ts, 1, form) for form in self.forms]
        merged.sort(key=lambda item: (item[0], item[1]))
        return [(ts, item) for ts, _, item in merged]

    def as_events(self) -> list[dict[str, Any]]:
        """Everything as project events (forms as form_submit), oldest first: a file for `simulate`."""
        out = []
        for index, (_, item) in enumerate(self.steps()):
            out.append(item.event(f"form-{index:05d}") if isinstance(item, FormPost) else item)
        return out

    def journeys(self) -> Counter[str]:
        return Counter(lead.journey for lead in self.leads)

    def lead(self, email: str) -> Lead:
        return next(lead for lead in self.leads if lead.email == email)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


# --- one lead's journey ---------------------------------------------------------------------------


class _Journey:
    """Collects one lead's actions as (days ago, kind, event type, properties), then places them."""

    def __init__(self, rng: random.Random, lead: Lead) -> None:
        self.rng = rng
        self.lead = lead
        self.actions: list[tuple[float, str, str, dict[str, Any]]] = []
        self.forms: list[tuple[float, str, dict[str, str]]] = []

    def add(self, days_ago: float, kind: str, event_type: str, properties: dict[str, Any]) -> None:
        self.actions.append((days_ago, kind, event_type, properties))

    # awareness
    def blog(self, days_ago: float) -> None:
        self.add(days_ago, "blog", "page_view", {"url": f"{SITE}/blog/{self.rng.choice(BLOG_POSTS)}"})

    def newsletter(self, days_ago: float) -> None:
        campaign = self.rng.choice(CAMPAIGNS[:2])
        self.add(days_ago, "newsletter", "email_open", {"campaign": campaign, "email_kind": "informative"})

    def offer_open(self, days_ago: float) -> None:
        self.add(days_ago, "offer_open", "email_open", {"campaign": "spring-offer", "email_kind": "offer"})

    def click(self, days_ago: float) -> None:
        self.add(days_ago, "click", "email_click", {"campaign": self.rng.choice(CAMPAIGNS)})

    def ebook(self, days_ago: float) -> None:
        self.add(days_ago, "ebook", "download", {"asset": self.rng.choice(EBOOKS)})

    # consideration
    def whitepaper(self, days_ago: float) -> None:
        self.add(days_ago, "whitepaper", "download", {"asset": self.rng.choice(WHITEPAPERS)})

    def webinar(self, days_ago: float, attend: bool) -> None:
        name = self.rng.choice(WEBINARS)
        self.add(days_ago, "webinar_register", "webinar_register", {"webinar": name})
        if attend:
            self.add(max(days_ago - self.rng.uniform(2, 6), 0.2), "webinar_attend", "webinar_attend", {"webinar": name})

    def video(self, days_ago: float, percent: int) -> None:
        video = self.rng.choice(VIDEOS)
        if self.rng.random() < 0.5:
            self.add(days_ago, "video", "video_play", {"video": video, "percent": percent})
        else:  # the player reports seconds: the door derives the percent
            duration = self.rng.choice((90, 180, 240, 600))
            self.add(
                days_ago,
                "video",
                "video_play",
                {"video": video, "position": duration * percent // 100, "duration": duration},
            )

    def docs(self, days_ago: float) -> None:
        self.add(days_ago, "docs", "page_view", {"url": SITE + self.rng.choice(DOCS)})

    # decision
    def pricing(self, days_ago: float) -> None:
        path = self.rng.choice(("/pricing", "/pricing", "/pricing/enterprise"))
        self.add(days_ago, "pricing", "page_view", {"url": SITE + path})

    def case_study(self, days_ago: float) -> None:
        self.add(days_ago, "case_study", "download", {"asset": self.rng.choice(CASE_STUDIES)})

    def once(self, days_ago: float, event_type: str, properties: dict[str, Any] | None = None) -> None:
        self.add(days_ago, event_type, event_type, properties or {})

    def careers(self, days_ago: float) -> None:
        self.add(days_ago, "careers", "page_view", {"url": f"{SITE}/careers"})

    def form(self, days_ago: float, form_id: str, fields: dict[str, str]) -> None:
        self.forms.append((days_ago, form_id, fields))

    def contact_sales(self, days_ago: float, budget: str, authority: str, need: str, timing: str) -> None:
        lead = self.lead
        fields = {
            "email": lead.email,
            "first_name": lead.first_name,
            "company": lead.company.name if lead.company else "",
            "job_title": lead.job_title,
            "country": lead.country,
            "employees": str(lead.company.employees) if lead.company else "",
            "budget": budget,
            "authority": authority,
            "need": need,
            "timing": timing,
            HONEYPOT: "",
        }
        self.form(
            days_ago, "contact-sales", {name: value for name, value in fields.items() if value or name == HONEYPOT}
        )

    def nps(self, days_ago: float, score: int, comment: str) -> None:
        fields = {"email": self.lead.email, "nps": str(score), "comment": comment, HONEYPOT: ""}
        self.form(days_ago, "nps-survey", {name: value for name, value in fields.items() if value or name == HONEYPOT})


def _awareness(journey: _Journey, start: float, count: int) -> float:
    """A few awareness touches from `start` days ago, one or more days apart; returns the last day."""
    rng = journey.rng
    day = start
    for _ in range(count):
        rng.choice((journey.blog, journey.blog, journey.newsletter, journey.click, journey.ebook))(day)
        day -= rng.uniform(1.2, 4.0)
    return day


def _consideration(journey: _Journey, start: float, depth: int) -> float:
    rng = journey.rng
    day = start
    if depth >= 2 or rng.random() < 0.6:
        journey.whitepaper(day)
        day -= rng.uniform(1.5, 4)
    if depth >= 2:
        journey.webinar(day, attend=rng.random() < 0.7)
        day -= rng.uniform(3, 7)
    if depth >= 2 or rng.random() < 0.5:
        journey.video(day, rng.choice((40, 55, 70, 90, 100)))
        day -= rng.uniform(1, 3)
    if rng.random() < 0.5:
        journey.docs(day)
        day -= rng.uniform(1, 3)
    if depth >= 3:
        journey.click(day)
        day -= rng.uniform(1, 2)
    return day


def _browsing(journey: _Journey, weeks_days: float) -> None:
    rng = journey.rng
    _awareness(journey, rng.uniform(3, weeks_days - 2), rng.randint(2, 5))


def _researching(journey: _Journey, weeks_days: float) -> None:
    rng = journey.rng
    day = _awareness(journey, rng.uniform(20, weeks_days - 2), rng.randint(1, 3))
    _consideration(journey, day, rng.randint(1, 2))


def _evaluating(journey: _Journey, weeks_days: float) -> None:
    rng = journey.rng
    day = _awareness(journey, rng.uniform(24, weeks_days - 2), rng.randint(1, 2))
    day = _consideration(journey, day, 2)
    journey.pricing(day)
    day -= rng.uniform(2, 5)
    if rng.random() < 0.5:
        journey.offer_open(day)


def _sales_ready(journey: _Journey, weeks_days: float) -> None:
    rng = journey.rng
    day = _awareness(journey, rng.uniform(28, 44), 2)  # hand-raisers of the last weeks
    day = _consideration(journey, day, 2)
    journey.pricing(day)
    day -= rng.uniform(1, 3)
    journey.case_study(day)
    day -= rng.uniform(1, 3)
    journey.contact_sales(
        max(day, 0.5),
        rng.choice(("10k_to_50k", "over_50k")),
        "decision_maker" if journey.lead.job_title in SENIOR_TITLES else "influencer",
        "solution_needed",
        rng.choice(("this_quarter", "this_quarter", "this_year")),
    )
    day -= rng.uniform(0.5, 2)
    roll = rng.random()
    if roll < 0.4:
        journey.once(max(day, 0.3), "demo_request", {"product": "data-platform"})
    elif roll < 0.7:
        journey.once(max(day, 0.3), "trial_start", {"plan": "team"})


def _gone_cold(journey: _Journey, weeks_days: float) -> None:
    """Busy at first, then silent for longer than the model's 45 days without an increase."""
    rng = journey.rng
    start = rng.uniform(weeks_days - 6, weeks_days - 0.5)
    day = _awareness(journey, start, rng.randint(1, 2))
    if rng.random() < 0.6:
        journey.whitepaper(max(day, 47))
    if rng.random() < 0.3:
        journey.webinar(max(day - 1, 47.5), attend=False)


def _nps_customer(journey: _Journey, weeks_days: float) -> tuple[str, int]:
    rng = journey.rng
    _awareness(journey, rng.uniform(10, weeks_days - 2), rng.randint(1, 3))
    roll = rng.random()
    band = "promoter" if roll < 0.6 else ("passive" if roll < 0.88 else "detractor")
    score = {"promoter": rng.choice((9, 10)), "passive": rng.choice((7, 8)), "detractor": rng.randint(1, 6)}[band]
    journey.nps(rng.uniform(0.5, 18), score, rng.choice(NPS_COMMENTS[band]))
    return band, score


def _job_seeker(journey: _Journey, weeks_days: float) -> None:
    rng = journey.rng
    day = _awareness(journey, rng.uniform(8, weeks_days - 2), rng.randint(1, 2))
    journey.careers(day)
    if day > 9:
        journey.careers(day - rng.uniform(7.5, 9))
    if journey.lead.job_title in STUDENT_TITLES:
        journey.contact_sales(max(day - 1, 0.5), "none", "student", "exploring", "unknown")


def _unsubscribed(journey: _Journey, weeks_days: float) -> None:
    rng = journey.rng
    day = rng.uniform(10, weeks_days - 2)
    journey.newsletter(day)
    journey.newsletter(day - rng.uniform(1.5, 3))
    journey.once(day - rng.uniform(4, 8), "email_unsubscribe", {"campaign": rng.choice(CAMPAIGNS[:2])})


def _competitor(journey: _Journey, weeks_days: float) -> None:
    """Reads everything, buys nothing: the fit rule's -100 keeps them at the bottom."""
    rng = journey.rng
    day = rng.uniform(20, weeks_days - 2)
    journey.whitepaper(day)
    journey.pricing(day - 1.5)
    journey.case_study(day - 3)
    journey.video(day - 9, 100)
    journey.pricing(day - 10.5)


_BUILDERS: dict[str, Callable[[_Journey, float], Any]] = {
    "browsing": _browsing,
    "researching": _researching,
    "evaluating": _evaluating,
    "sales_ready": _sales_ready,
    "gone_cold": _gone_cold,
    "nps_customer": _nps_customer,
    "job_seeker": _job_seeker,
    "unsubscribed": _unsubscribed,
    "competitor": _competitor,
}


def _place(
    actions: list[tuple[float, str, str, dict[str, Any]]], now: float, earliest: float, rng: random.Random
) -> list[tuple[float, str, dict[str, Any]]]:
    """Days ago -> timestamps, oldest first, at least a day (a week for WEEKLY kinds) between two
    events of one kind; an event pushed past `now` (less an hour) is dropped."""
    placed: list[tuple[float, str, dict[str, Any]]] = []
    last: dict[str, float] = {}
    latest = now - HOUR
    for days_ago, kind, event_type, properties in sorted(actions, key=lambda action: -action[0]):
        ts = float(int(now - days_ago * DAY + rng.uniform(-2 * HOUR, 2 * HOUR)))
        ts = max(ts, earliest)
        gap = (7 * DAY if kind in WEEKLY else DAY) + SPACING_SLACK
        if kind in last:
            ts = max(ts, last[kind] + gap)
        if ts > latest:
            continue
        last[kind] = ts
        placed.append((ts, event_type, properties))
    return placed


# --- the funnel -----------------------------------------------------------------------------------


def _journey_plan(count: int) -> list[str]:
    """`count` journeys in the JOURNEYS shares (largest remainder), at least one sales-ready lead."""
    total = sum(share for _, share in JOURNEYS)
    exact = [(name, count * share / total) for name, share in JOURNEYS]
    sizes = {name: int(value) for name, value in exact}
    by_remainder = sorted(exact, key=lambda item: (-(item[1] - int(item[1])), item[0]))
    for name, _ in by_remainder[: count - sum(sizes.values())]:
        sizes[name] += 1
    if count >= 10 and sizes["sales_ready"] == 0:
        sizes["sales_ready"], sizes["browsing"] = 1, sizes["browsing"] - 1
    return [name for name, _ in JOURNEYS for _ in range(sizes[name])]


def _people(rng: random.Random, count: int, companies: list[Company]) -> list[Lead]:
    """`count` leads: most at companies (bigger accounts get more of them), some on free mail, two
    competitor analysts; each with a journey."""
    plan = _journey_plan(count - 2)
    rng.shuffle(plan)
    weights = [1.0 / (1 + index) ** 0.6 for index in range(len(companies))]  # a few big accounts, a long tail
    competitor = Company(*COMPETITOR)
    leads: list[Lead] = []
    taken: set[str] = set()
    for index in range(count):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        if index < 2:
            company: Company | None = competitor
            journey = "competitor"
        else:
            journey = plan[index - 2]
            company = None if rng.random() < 0.1 else rng.choices(companies, weights)[0]
        if journey == "sales_ready" and company is None:
            company = rng.choices(companies[:8])[0]
        if journey == "job_seeker":
            title = rng.choice(STUDENT_TITLES) if rng.random() < 0.5 else rng.choice(OTHER_TITLES)
        elif journey in {"sales_ready", "evaluating"}:
            title = rng.choice(SENIOR_TITLES) if rng.random() < 0.6 else rng.choice(PRACTITIONER_TITLES)
        else:
            title = rng.choice((*SENIOR_TITLES, *PRACTITIONER_TITLES, *OTHER_TITLES, *OTHER_TITLES))
        local = f"{first}.{last}".casefold().replace(" ", "")
        domain = company.domain if company else rng.choice(FREE_MAIL)
        email = f"{local}@{domain}"
        serial = 2
        while email in taken:
            email = f"{local}{serial}@{domain}"
            serial += 1
        taken.add(email)
        country = company.country if company else rng.choice(("NO", "SE", "DK", "FI", "NL", "BE", "DE", "GB"))
        leads.append(Lead(email, first, title, company, journey, country))
    return leads


def generate(now: float, seed: int = 7, leads: int = 300, accounts: int = 40, weeks: int = 8) -> Funnel:
    """The funnel for `seed`: `leads` people in up to `accounts` companies over the `weeks` before `now`."""
    if leads < 2 or not 1 <= accounts <= len(COMPANIES) or not 2 <= weeks <= 26:
        raise ValueError(f"expected at least 2 leads, 1 to {len(COMPANIES)} accounts and 2 to 26 weeks")
    rng = random.Random(seed)
    companies = [Company(*row) for row in COMPANIES[:accounts]]
    people = _people(rng, leads, companies)
    window = weeks * 7.0
    earliest = now - window * DAY
    events: list[dict[str, Any]] = []
    forms: list[FormPost] = []
    for lead in people:
        journey = _Journey(rng, lead)
        _BUILDERS[lead.journey](journey, window)
        placed = _place(journey.actions, now, earliest, rng)
        if lead.company is not None and placed and rng.random() < 0.5:
            # the CRM or the sign-up knows who they are: a profile before their first action
            first_ts = placed[0][0]
            profile = {
                "job_title": lead.job_title,
                "company": lead.company.name,
                "country": lead.country,
                "employees": lead.company.employees,
            }
            placed.insert(0, (max(first_ts - 600, earliest), "identify", {"__profile__": profile}))
        for ts, event_type, properties in placed:
            event: dict[str, Any] = {"id": "", "type": event_type, "email": lead.email, "timestamp": iso(ts)}
            if "__profile__" in properties:
                event["properties"] = {}
                event["profile"] = properties["__profile__"]
            else:
                event["properties"] = properties
            events.append(event)
        for days_ago, form_id, fields in journey.forms:
            ts = float(int(now - days_ago * DAY))
            forms.append(FormPost(form_id, min(max(ts, earliest), now - HOUR), fields))
    events.sort(key=lambda event: (event["timestamp"], event["email"], event["type"]))
    for number, event in enumerate(events, start=1):
        event["id"] = f"demo-{seed}-{number:05d}"
    forms.sort(key=lambda form: (form.ts, form.email))
    return Funnel(now, seed, weeks, companies, people, events, forms)
