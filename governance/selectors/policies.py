"""Reads of policies: every level for the admin page, the levels a policy inherits from, and the rules in
force for a team as its managers read them."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from governance.models import Policy, Team
from governance.policy_fields import POLICY_FIELDS

_SCOPE_ORDER: dict[str, int] = {Policy.Scope.ORG: 0, Policy.Scope.TEAM: 1, Policy.Scope.USER: 2}


def policies_all() -> QuerySet[Policy]:
    """Every policy with its team and person (one query); ``policies_in_order`` for the admin page's order."""
    return Policy.objects.select_related("team", "user")


def policies_in_order() -> list[Policy]:
    """Every policy: the organisation default, then teams by slug, then people in a team by team and e-mail."""
    policies = list(policies_all().order_by("scope", "team__slug", "user__email"))
    policies.sort(key=lambda p: (_SCOPE_ORDER[p.scope], p.team.slug if p.team else "", p.user.email if p.user else ""))
    return policies


def policy_levels(*, team_id: int, user_id: int) -> dict[str, dict[str, Any] | None]:
    """The field values of the three policy levels that apply to a person in a team (one query):
    ``{"org": …, "team": …, "person": …}``, None for a level without a policy."""
    levels: dict[str, dict[str, Any] | None] = {"org": None, "team": None, "person": None}
    rows = Policy.objects.filter(
        Q(scope="org") | Q(scope="team", team_id=team_id) | Q(scope="user", team_id=team_id, user_id=user_id)
    ).values("scope", *POLICY_FIELDS)
    for row in rows:
        scope = row.pop("scope")
        levels["person" if scope == "user" else scope] = row
    return levels


def policy_values_all() -> list[dict[str, Any]]:
    """Every policy's field values with its scope, team and person ids (one query)."""
    return list(Policy.objects.values("scope", "team_id", "user_id", *POLICY_FIELDS))


def teams_without_team_policy() -> QuerySet[Team]:
    """Teams that follow the organisation default (no team-level policy), by slug."""
    return Team.objects.exclude(policies__scope=Policy.Scope.TEAM).order_by("slug")


def policy_levels_above(*, scope: str, team_slug: str | None) -> list[tuple[str, Policy | None]]:
    """The levels a policy of ``scope`` inherits from, nearest first, labelled as the admin page names them:
    the team's policy (for a person in ``team_slug``), then the organisation default (for all but it)."""
    levels: list[tuple[str, Policy | None]] = []
    if scope == Policy.Scope.USER and team_slug:
        levels.append(("team", Policy.objects.filter(scope=Policy.Scope.TEAM, team__slug=team_slug).first()))
    if scope != Policy.Scope.ORG:
        levels.append(("organisation default", Policy.objects.filter(scope=Policy.Scope.ORG).first()))
    return levels


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyRow:
    """One rule of a team's policy as its managers read it: the value in force and where it is set."""

    name: str  # the policy document's name, e.g. "budget.tokens_per_month"
    value: str  # as people read it: lists joined, booleans as yes/no
    source: str  # "team" or "organisation default"


def team_policy_rows(*, team_id: int) -> list[PolicyRow]:
    """The rules in force for a team (team level over the organisation default), one query.

    Personal overrides are not listed: they belong to the people they apply to.
    """
    from governance.services.policy_document import DOCUMENT_NAME

    levels = policy_levels(team_id=team_id, user_id=0)
    rows = []
    for field in POLICY_FIELDS:
        for level, label in (("team", "team"), ("org", "organisation default")):
            value = (levels[level] or {}).get(field)
            if value is not None:
                rows.append(
                    PolicyRow(name=DOCUMENT_NAME.get(field, field), value=policy_value_readable(value), source=label)
                )
                break
    return rows


def policy_value_readable(value: object) -> str:
    """A policy value as people read it: numbers without trailing zeros, lists joined, booleans as yes/no."""
    if isinstance(value, (Decimal, float)):  # 25.0000 -> 25, 0.5000 -> 0.5
        return f"{Decimal(str(value)).normalize():f}"
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        return value[1:-1]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    return str(value)
