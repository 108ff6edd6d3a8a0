"""Alert kinds as the engine and the account path evaluate them, and who receives each alert.

Every alert fires once per crossing: it disarms when it fires and re-arms only once the lead or
account no longer qualifies (and, where `rearm_below` is given, the score fell below it), so a
score hovering over a line alerts once, and a lead that falls back and comes again alerts again.

How score, stage and qualification relate: a `lead_score` alert looks at the score only, so with
content gating (`advance_requires_content`) a lead can reach the threshold while its stage still
lags behind; a `lead_qualified` alert with `stage: sales_ready` waits for the stage as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the validated spec (pydantic) stays off the scoring import path
    from .spec import ModelSpec


LEAD_KINDS = frozenset({"lead_score", "lead_qualified", "nps_detractor"})
ACCOUNT_KINDS = frozenset({"account_score", "engaged_buyers"})
LEAD_COLD = "lead_cold"  # not a model alert: a lead turning cold is published for nurturing, no email
ACCOUNT_OWNER = "account_owner"  # route_by value: the account's salesperson from account_owners


@dataclass(frozen=True)
class CompiledAlert:
    name: str
    kind: str
    threshold: float | None
    rearm_below: float | None
    grades: frozenset[str] | None
    stage_index: int | None
    buyers: int | None
    buyer_score: float | None
    notify: tuple[str, ...]
    route_by: str | None
    routes: Mapping[str, tuple[str, ...]]

    def qualifies(self, score: float, grade: str | None = None, stage_index: int = 0) -> bool:
        """Does a lead (score, fit grade, stage position) or an account (its score) qualify now?"""
        if self.threshold is not None and score < self.threshold:
            return False
        if self.grades is not None and grade not in self.grades:
            return False
        return self.stage_index is None or stage_index >= self.stage_index

    def rearms(self, score: float, qualifies: bool) -> bool:
        """A fired alert may fire again once this holds."""
        if qualifies:
            return False
        return self.rearm_below is None or score < self.rearm_below

    def step(self, armed: bool, score: float, qualifies: bool) -> tuple[bool, bool]:
        """(fires now, armed afterwards)."""
        if armed and qualifies:
            return True, False
        if not armed and self.rearms(score, qualifies):
            return False, True
        return False, armed


def compile_alerts(spec: ModelSpec) -> tuple[CompiledAlert, ...]:
    stage_position = {stage.id: index for index, stage in enumerate(spec.stages)}
    compiled = []
    for name, alert in spec.alerts.items():
        kind = alert.resolved_kind(name)
        if kind is None:
            continue  # refused by validation
        compiled.append(
            CompiledAlert(
                name=name,
                kind=kind,
                threshold=alert.threshold,
                rearm_below=alert.rearm_below,
                grades=frozenset(alert.fit_grades) if alert.fit_grades is not None else None,
                stage_index=stage_position.get(alert.stage) if alert.stage else None,
                buyers=alert.buyers,
                buyer_score=alert.buyer_score,
                notify=tuple(alert.notify),
                route_by=alert.route_by,
                routes={value.casefold(): tuple(to) for value, to in alert.routes.items()},
            )
        )
    return tuple(compiled)


def engaged_buyers(member_scores: Iterable[float], buyer_score: float) -> int:
    return sum(1 for score in member_scores if score >= buyer_score)


def recipients(
    alert: CompiledAlert, profile: Mapping[str, Any], account: str | None, owners: Mapping[str, str]
) -> tuple[list[str], str | None]:
    """(who receives it, why it fell back to the default list, or None when a route matched or none applies).

    An unknown route (a country nobody covers, an account without an owner) falls back to
    `notify`, and the reason is returned so the caller can log it.
    """
    if alert.route_by is None:
        return list(alert.notify), None
    if alert.route_by == ACCOUNT_OWNER:
        owner = owners.get(account or "") if account else None
        if owner:
            return [owner], None
        return list(alert.notify), f"no owner for account {account!r}"
    value = profile.get(alert.route_by)
    key = str(value).strip().casefold() if value not in (None, "") else ""
    routed = alert.routes.get(key) if key else None
    if routed:
        return list(routed), None
    return list(alert.notify), f"no route for {alert.route_by}={str(value)[:60]!r}"
