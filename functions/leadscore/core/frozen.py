"""The validated model's settings as plain frozen objects, readable without pydantic.

`spec.py` describes the rules language with pydantic, which the build needs to validate a
model and the CLI to explain it; importing it is most of what a Lambda cold start would pay
for code it never runs. The build (`built.write_built`) therefore stores the spec as the
objects here: the same attribute names and values, the same few methods (defined once, in the
mixins below, which the pydantic classes inherit too), no validation. Functions only read a
model that was validated before it was stored.
"""

from __future__ import annotations

from typing import Any

BUILTIN_EVENT_TYPES = (
    "page_view",
    "email_open",
    "email_click",
    "email_unsubscribe",
    "download",
    "video_play",
    "webinar_register",
    "webinar_attend",
    "form_submit",
    "identify",
)

# An alert named `lead` or `account` needs no `kind`: these are the score thresholds of old.
DEFAULT_ALERT_KINDS: dict[str, str] = {"lead": "lead_score", "account": "account_score"}

# Hidden fields a form may carry without declaring them, by group (`capture:`); captured as event
# properties, never as profile fields. ingest/forms.py holds the names and their bounds.
CAPTURE_GROUPS = ("utm", "click_ids", "page", "submit")


# The mixins read fields their classes declare (pydantic or Frozen); they declare none themselves.
class AlertMethods:
    def resolved_kind(self, name: str) -> str | None:
        return self.kind or DEFAULT_ALERT_KINDS.get(name)


class FormMethods:
    def captured_groups(self) -> frozenset[str]:
        """The capture groups this form keeps, `all` and `none` spelled out."""
        if self.capture == "all":
            return frozenset(CAPTURE_GROUPS)
        if self.capture == "none":
            return frozenset()
        return frozenset(self.capture)


class ModelMethods:
    def trusted(self) -> frozenset[str]:
        """The fields a public form may never set: they decide accounts or come from the CRM."""
        fields = set(self.trusted_fields)
        if "company_id" in self.accounts.match_by:
            fields.add(self.accounts.company_id_field)
        return frozenset(fields)


class Frozen:
    """Named values that cannot be reassigned; equal when their type and values are."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name}")

    def __setstate__(self, state: dict[str, Any]) -> None:  # unpickling bypasses __setattr__
        self.__dict__.update(state)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]  # holds lists and dicts, like the spec it mirrors

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class FrozenAlert(Frozen, AlertMethods):
    pass


class FrozenForm(Frozen, FormMethods):
    pass


class FrozenModel(Frozen, ModelMethods):
    pass


# What a model without an `nps:` section uses; equal to `freeze(spec.NpsSpec())` (tested).
DEFAULT_NPS = Frozen(field="nps", scale=(0, 10), detractors=(0, 6), passives=(7, 8), promoters=(9, 10))


def freeze(value: Any) -> Any:
    """A validated spec (or any part of it) as Frozen objects, lists, dicts and plain values."""
    fields = getattr(type(value), "model_fields", None)  # a pydantic model, without importing pydantic
    if fields is not None:
        kind = (
            FrozenModel
            if isinstance(value, ModelMethods)
            else FrozenForm
            if isinstance(value, FormMethods)
            else FrozenAlert
            if isinstance(value, AlertMethods)
            else Frozen
        )
        return kind(**{name: freeze(getattr(value, name)) for name in fields})
    if isinstance(value, dict):
        return {key: freeze(item) for key, item in value.items()}
    if isinstance(value, list):
        return [freeze(item) for item in value]
    if isinstance(value, tuple):
        return tuple(freeze(item) for item in value)
    return value


def operators(value: Any) -> dict[str, Any] | None:
    """A frozen `Operators` condition as the plain data the matchers read (`not` as written)."""
    if not isinstance(value, Frozen):
        return None
    return {("not" if key == "not_" else key): item for key, item in vars(value).items()}
