"""The rules language as typed models: the shape of a model file, its defaults and its JSON Schema.

Structural checks (keys, types, units) live here; checks that need the whole model
(references between rules and stages, reachable maxima) live in `validation.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, model_validator
from pydantic import Strict as PydanticStrict

from .frozen import BUILTIN_EVENT_TYPES as BUILTIN_EVENT_TYPES  # defined without pydantic, for the functions
from .frozen import AlertMethods, FormMethods, ModelMethods
from .units import DURATION_PATTERN, PERCENT_PATTERN

Duration = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN),
    Field(description="A duration: a number and a unit s, m, h, d or w, like 30d."),
]
Percent = Annotated[
    str,
    StringConstraints(pattern=PERCENT_PATTERN),
    Field(description="A percentage, like 30%."),
]
Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
    Field(description="A name made of letters, digits, '-', '_' or '.'."),
]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Scalar = str | int | float | bool
# Only true and false: a setting written yes, no, on or off is refused, not guessed.
Flag = Annotated[bool, PydanticStrict()]


class Strict(BaseModel):
    # allow_inf_nan: 'inf' or 'nan' written as a number would reach the engine and poison every sum
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


class Operators(Strict):
    """A condition on one field; several operators in one condition must all hold."""

    equals: Scalar | None = Field(None, description="Equal to this value (text ignores case).")
    any_of: list[Scalar] | None = Field(None, description="Equal to one of these values.")
    not_: Scalar | list[Scalar] | None = Field(
        None, alias="not", description="Not equal to this value (or any of these)."
    )
    glob: str | list[str] | None = Field(None, description="Matches this wildcard pattern (* and ?), ignoring case.")
    regex: str | None = Field(None, description="Matches this regular expression (search).")
    contains: str | list[str] | None = Field(None, description="Contains this text (or any of these), ignoring case.")
    contains_word: str | list[str] | None = Field(
        None,
        description="Contains this word (or any of these) as a whole word, ignoring case: hr matches "
        "'HR manager', not 'Chrome'.",
    )
    min: float | None = Field(None, description="A number at least this.")
    max: float | None = Field(None, description="A number at most this.")
    domain: str | list[str] | None = Field(None, description="An email address at this domain (or a subdomain of it).")
    exists: Flag | None = Field(None, description="The field is present (true) or absent (false).")


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict | Operators):
        return "operators-condition"
    return "list-condition" if isinstance(value, list) else "value-condition"


# Tagged unions: pydantic then reports only the member that fits what was written, so a
# mistyped operator gives one message, not one per member of the union.
Condition = Annotated[
    Annotated[Scalar, Tag("value-condition")]
    | Annotated[list[Scalar], Tag("list-condition")]
    | Annotated[Operators, Tag("operators-condition")],
    Discriminator(_condition_kind),
]


class LimitSpec(Strict):
    max: int | None = Field(None, ge=1, description="At most this many times per period.")
    per: Literal["day", "week", "month"] | None = Field(
        None, description="The calendar period (UTC) that `max` counts in."
    )
    cooldown: Duration | None = Field(None, description="Minimum time between two credits.")
    once_per: Identifier | None = Field(
        None,
        description="Once per distinct value of this event property (each asset once, not the rule once); "
        "a lead remembers at most 100 values per rule, then the rule gives nothing more.",
    )


def _limit_kind(value: Any) -> str:
    return "limit-spec" if isinstance(value, dict | LimitSpec) else "once-limit"


Limit = Annotated[
    Annotated[Literal["once"], Tag("once-limit")] | Annotated[LimitSpec, Tag("limit-spec")],
    Discriminator(_limit_kind),
]
UNION_TAGS = frozenset(
    {
        "value-condition",
        "list-condition",
        "operators-condition",
        "limit-spec",
        "once-limit",
        "named-type",
        "choice-type",
        "capture-word",
        "capture-groups",
    }
)


class RuleSpec(Strict):
    id: Identifier = Field(description="Stable id; history and alerts name it.")
    description: str | None = None
    when: dict[str, Condition] | None = Field(
        None,
        description="Behaviour (implicit) rule: `event` names the event type(s); "
        "other keys are conditions on the event's properties.",
    )
    fit: dict[str, Condition] | None = Field(
        None, description="Profile (explicit) rule: conditions on the lead's profile fields."
    )
    points: float | None = Field(None, description="Points given (may be negative).")
    readiness: Percent | None = Field(
        None, description="Sales-readiness percentage; points = percentage x sales_ready_score."
    )
    stage: Identifier | None = Field(None, description="The content stage of the asset.")
    scores: list[Identifier] | None = Field(
        None, description="Scores the points go to: `main` and/or extra scores. Default: [main]."
    )
    limit: Limit | None = Field(
        None, description="How often the rule may give points: once, max N per period, cooldown."
    )
    cap: float | None = Field(None, gt=0, description="Most points this rule gives in total.")
    group: Identifier | None = Field(None, description="A group from `groups` (shared cap).")
    counter: Identifier | None = Field(
        None, description="A named counter that goes up by one each time the rule matches."
    )


class StageSpec(Strict):
    id: Identifier
    min: float = Field(description="Lowest main score in this stage.")
    max: float | None = Field(None, description="Highest main score in this stage; none = no top.")
    requires_content: Flag = Field(
        True,
        description="With advance_requires_content, whether entering this stage needs an "
        "interaction with content of this stage.",
    )


class ExtraScoreSpec(Strict):
    label: str | None = None
    floor: float | None = Field(None, description="Lowest value; default: the model's floor.")
    decay: Flag = Field(False, description="decays with the main engagement's decay settings")


class GroupSpec(Strict):
    cap: float = Field(gt=0, description="Most points all rules of the group give in total.")
    description: str | None = None


class MomentumSpec(Strict):
    window: Duration = "14d"
    active_at: float = Field(20, description="Points gained within the window that make a lead active, not latent.")


class NpsSpec(Strict):
    field: Identifier = "nps"
    scale: tuple[int, int] = (0, 10)
    detractors: tuple[int, int] = (0, 6)
    passives: tuple[int, int] = (7, 8)
    promoters: tuple[int, int] = (9, 10)


class AccountsSpec(Strict):
    match_by: list[Literal["company_id", "email_domain"]] = ["company_id", "email_domain"]
    company_id_field: Identifier = "company_id"
    free_mail_domains: list[str] = Field(
        default_factory=list, description="Added to the built-in list of free-mail domains."
    )
    aggregate: Literal["sum", "max", "mean_of_top"] = "sum"
    top: int | None = Field(None, ge=1, description="N for mean_of_top.")


class DecaySpec(Strict):
    after_inactive: Duration = Field(description="Decay starts after this long without activity.")
    every: Duration = Field(description="One decay step per period of this length.")
    percent: Percent | None = Field(None, description="Engagement lost per step, as a percentage.")
    points: float | None = Field(None, gt=0, description="Engagement points lost per step.")
    floor: float = Field(0, description="Engagement never decays below this.")


class ColdLeadSpec(Strict):
    no_increase_for: Duration = Field(description="A lead whose score has not risen this long.")


AlertKind = Literal["lead_score", "lead_qualified", "nps_detractor", "account_score", "engaged_buyers"]


class AlertSpec(Strict, AlertMethods):
    kind: AlertKind | None = Field(
        None,
        description="lead_score: the lead's score reaches threshold. lead_qualified: score, fit grade and stage "
        "together. nps_detractor: an NPS answer in the detractor band. account_score: the account's score reaches "
        "threshold. engaged_buyers: at least `buyers` leads of an account score buyer_score or more. Default: "
        "lead_score for an alert named lead, account_score for one named account.",
    )
    threshold: float | None = Field(
        None, description="The score that fires it (lead_score, account_score, lead_qualified)."
    )
    rearm_below: float | None = Field(
        None, description="Alert again only after the score fell below this. Default: threshold."
    )
    fit_grades: list[str] | None = Field(None, description="lead_qualified: the fit grades that qualify.")
    stage: Identifier | None = Field(None, description="lead_qualified: this stage or a later one.")
    buyers: int | None = Field(None, ge=1, description="engaged_buyers: how many engaged leads an account needs.")
    buyer_score: float | None = Field(None, description="engaged_buyers: the lead score that makes a buyer engaged.")
    notify: list[Email] = Field(default_factory=list, description="Who gets the email when no route matches.")
    route_by: Identifier | None = Field(
        None, description="A profile field (country, territory, segment...) or account_owner: picks `routes`."
    )
    routes: dict[str, list[Email]] = Field(
        default_factory=dict, description="Value of route_by -> recipients; unknown values fall back to notify."
    )


class VelocityReportSpec(Strict):
    to: list[Email]
    schedule: str = Field(
        "cron(0 7 * * ? *)", description="An EventBridge schedule expression, cron(...) or rate(...)."
    )


class ReportsSpec(Strict):
    velocity: VelocityReportSpec | None = None


class ModelChangeSpec(Strict):
    alerts: Literal["suppress", "notify"] = Field(
        "suppress",
        description="When a deployed model change rescores every lead, its crossings are recorded; "
        "suppress (default) sends no email for them, notify emails them like any other.",
    )


ProfileType = Literal["text", "number", "integer", "boolean", "email"]


class ChoiceType(Strict):
    choice: list[str] = Field(description="The only values this field takes.")


def _profile_kind(value: Any) -> str:
    return "choice-type" if isinstance(value, dict | ChoiceType) else "named-type"


ProfileFieldType = Annotated[
    Annotated[ProfileType, Tag("named-type")] | Annotated[ChoiceType, Tag("choice-type")],
    Discriminator(_profile_kind),
]


class FormFieldSpec(Strict):
    type: Literal["email", "text", "integer", "number", "choice", "boolean", "nps"] = Field(
        "text",
        description="nps: a whole number on the model's NPS scale (a field named like the model's nps field "
        "is one unless it gives another type).",
    )
    required: Flag = False
    choices: list[str] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int = Field(500, ge=1)
    nps_scale: tuple[int, int] | None = Field(
        None,
        description="Set from the model's `nps.scale` for an NPS field without its own min and max: "
        "answers off the scale are refused, naming it.",
    )


# Hidden fields a form may carry without declaring them, by group (`capture:`): CAPTURE_GROUPS.
CaptureGroup = Literal["utm", "click_ids", "page", "submit"]


def _capture_kind(value: Any) -> str:
    return "capture-groups" if isinstance(value, list | tuple) else "capture-word"


Capture = Annotated[
    Annotated[Literal["all", "none"], Tag("capture-word")] | Annotated[list[CaptureGroup], Tag("capture-groups")],
    Discriminator(_capture_kind),
]


class FormSpec(Strict, FormMethods):
    description: str | None = None
    fields: dict[Identifier, FormFieldSpec]
    honeypot: Identifier | None = Field(
        None, description="A hidden field people leave empty; a filled one marks a bot."
    )
    thank_you: str | None = Field(
        None,
        description="Where a browser's plain HTML post is sent after it is accepted (303 See Other): an "
        "absolute https URL, or a path starting with / (on the site that posted the form). JSON posts keep 202.",
    )
    error_url: str | None = Field(
        None,
        description="Where a browser's plain HTML post is sent when it is refused (303 See Other, with "
        "?error=<code>&field=<name> added): an absolute https URL or a path starting with /. Without it, a "
        "small HTML page names the problems.",
    )
    capture: Capture = Field(
        "all",
        description="Undeclared hidden fields kept as event properties (never profile fields): utm (utm_source, "
        "utm_medium, utm_campaign, utm_term, utm_content), click_ids (gclid, fbclid, msclkid), page (page_url or "
        "page, referrer), submit (the submit button: submit, send, button). all (the default), none, or a list.",
    )
    extra_fields: Literal["refuse", "ignore"] = Field(
        "refuse",
        description="Any other undeclared field: refuse (422 naming it, the default: a typo should not lose an "
        "answer) or ignore (dropped, never stored).",
    )


class ModelSpec(Strict, ModelMethods):
    name: str = "model"
    sales_ready_score: float = Field(100, gt=0, description="The score that means 100% ready.")
    explicit_share_max: Percent = Field(
        "50%", description="The most of the sales-ready score that fit (profile) data may give."
    )
    floor: float = Field(0, description="Lowest value of every score; history keeps each delta.")
    late_events_window: Duration = Field(
        "7d", description="How far behind a lead's newest event a late event is still scored."
    )
    event_types: list[Identifier] = Field(default_factory=list, description="Event types besides the built-in ones.")
    public_event_types: list[Identifier] | None = Field(
        None,
        description="Event types a public browser write key may send (default: page_view, video_play, download).",
    )
    scores: dict[Identifier, ExtraScoreSpec] = Field(
        default_factory=dict, description="Extra scores, one per product line."
    )
    groups: dict[Identifier, GroupSpec] = Field(default_factory=dict)
    stages: list[StageSpec] = Field(
        default_factory=lambda: [
            StageSpec(id="awareness", min=0, max=32),
            StageSpec(id="consideration", min=33, max=66),
            StageSpec(id="decision", min=67, max=99),
            StageSpec(id="sales_ready", min=100),
        ]
    )
    advance_requires_content: Flag = Field(
        False, description="A lead enters a stage only after engaging content of that stage."
    )
    fit_grades: dict[str, float] = Field(
        default_factory=lambda: {"A": 40, "B": 25, "C": 10, "D": 0},
        description="Letter -> lowest fit points; the lowest letter takes everything below.",
    )
    temperature: dict[Identifier, float] = Field(
        default_factory=lambda: {"hot": 50, "warm": 20, "cold": 0},
        description="Name -> lowest engagement points; hottest first ranks 1 in the matrix.",
    )
    momentum: MomentumSpec = Field(default_factory=MomentumSpec)
    nps: NpsSpec | None = None
    accounts: AccountsSpec = Field(default_factory=AccountsSpec)
    decay: DecaySpec | None = None
    cold_lead: ColdLeadSpec | None = None
    alerts: dict[Identifier, AlertSpec] = Field(
        default_factory=dict, description="Named alerts: who is told, and when (see each alert's kind)."
    )
    account_owners: dict[str, Email] = Field(
        default_factory=dict,
        description="Account key (company id as id:<id>, or email domain) -> its salesperson, for route_by: account_owner.",
    )
    reports: ReportsSpec = Field(default_factory=ReportsSpec)
    model_change: ModelChangeSpec = Field(
        default_factory=ModelChangeSpec, description="What a deployed change of this model does to existing leads."
    )
    profile_fields: dict[Identifier, ProfileFieldType] = Field(
        default_factory=dict,
        description="Profile fields and their types (text, number, integer, boolean, email or {choice: [...]}), "
        "shared by forms and fit rules: a form field of this name takes this type unless it says otherwise.",
    )
    forms: dict[Identifier, FormSpec] = Field(default_factory=dict)
    trusted_fields: list[Identifier] = Field(
        default_factory=list,
        description="Profile fields only trusted sources (signed tracking, CRM imports) may set; public forms "
        "cannot. The account's company id field is always trusted when accounts match by company id.",
    )
    rules: list[RuleSpec] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _forms_take_profile_types(cls, data: Any) -> Any:
        """A form field named like a declared profile field takes its type unless it gives one."""
        if not isinstance(data, dict):
            return data
        declared, forms = data.get("profile_fields"), data.get("forms")
        if not isinstance(declared, dict) or not isinstance(forms, dict):
            return data
        new_forms = {}
        for name, form in forms.items():
            fields = form.get("fields") if isinstance(form, dict) else None
            if not isinstance(fields, dict):
                new_forms[name] = form
                continue
            new_fields = {}
            for field_name, field in fields.items():
                kind = declared.get(field_name)
                if isinstance(field, dict) and "type" not in field and kind is not None:
                    if isinstance(kind, dict) and isinstance(kind.get("choice"), list):
                        field = {"type": "choice", "choices": kind["choice"], **field}
                    elif isinstance(kind, str):
                        field = {"type": kind, **field}
                new_fields[field_name] = field
            new_forms[name] = {**form, "fields": new_fields}
        return {**data, "forms": new_forms}

    @model_validator(mode="before")
    @classmethod
    def _nps_fields_take_the_scale(cls, data: Any) -> Any:
        """The NPS answer field (type nps, or named like `nps.field`) is a whole number on the model's scale.

        Pydantic runs `before` validators last-defined first, so this comes before the profile types:
        the NPS answer is a number whatever profile_fields says. A field that writes its own min or
        max keeps them (it says otherwise); validation refuses bounds off the scale.
        """
        if not isinstance(data, dict) or not isinstance(data.get("forms"), dict):
            return data
        nps = data.get("nps") if isinstance(data.get("nps"), dict) else {}
        field_name = nps.get("field", NpsSpec.model_fields["field"].default)
        scale = nps.get("scale", NpsSpec.model_fields["scale"].default)
        if not (isinstance(scale, list | tuple) and len(scale) == 2 and all(type(v) is int for v in scale)):
            scale = NpsSpec.model_fields["scale"].default
        new_forms = {}
        for name, form in data["forms"].items():
            fields = form.get("fields") if isinstance(form, dict) else None
            if not isinstance(fields, dict):
                new_forms[name] = form
                continue
            new_fields = {}
            for key, field in fields.items():
                kind = field.get("type") if isinstance(field, dict) else None
                if isinstance(field, dict) and (
                    kind == "nps" or (key == field_name and kind in (None, "integer", "number"))
                ):
                    field = {**field, "type": "integer"}
                    if "min" not in field and "max" not in field:
                        field.update(min=scale[0], max=scale[1], nps_scale=list(scale))
                new_fields[key] = field
            new_forms[name] = {**form, "fields": new_fields}
        return {**data, "forms": new_forms}


def json_schema() -> dict:
    """The JSON Schema editors use to autocomplete and underline model files."""
    schema = ModelSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "leadscore scoring model"
    return schema
