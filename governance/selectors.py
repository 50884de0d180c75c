"""Reads of governance data (and of the ledger, for admins' views of it)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from governance.services.pricing import price_table_load


@dataclasses.dataclass(frozen=True, slots=True)
class ModelToPrice:
    """A served model whose calls were recorded with an unknown cost, and that still has no price."""

    model: str
    requests: int
    total_tokens: int
    first_seen: datetime
    last_seen: datetime


def models_to_price(*, since: datetime | None = None) -> list[ModelToPrice]:
    """Served models seen in the ledger with an unknown cost, most-called first - for admins to price.

    A model is listed while it has no price valid now (exact name or dated snapshot, as the proxy
    matches it); once an admin prices it, it drops off the list even though its past events keep
    their unknown cost. ``since`` limits the events counted. Two queries: one aggregate, one price table.
    """
    from usage.selectors import usage_events_all

    events = usage_events_all().filter(cost_usd__isnull=True).exclude(model_served="")
    if since is not None:
        events = events.filter(created_at__gte=since)
    rows = (
        events.values("model_served")
        .annotate(
            requests=Count("id"),
            total_tokens=Sum("total_tokens"),
            first_seen=Min("created_at"),
            last_seen=Max("created_at"),
        )
        .order_by("-requests", "model_served")
    )
    table, now = price_table_load(), timezone.now()
    return [
        ModelToPrice(
            model=row["model_served"],
            requests=row["requests"],
            total_tokens=row["total_tokens"] or 0,
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
        )
        for row in rows
        if table.quote(row["model_served"], at=now) is None
    ]


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
    from governance.enforcement.effective import POLICY_FIELDS, policy_levels_load
    from governance.services.policy_document import DOCUMENT_NAME

    levels = policy_levels_load(team_id=team_id, user_id=0)
    rows = []
    for field in POLICY_FIELDS:
        for level, label in (("team", "team"), ("org", "organisation default")):
            value = (levels[level] or {}).get(field)
            if value is not None:
                rows.append(PolicyRow(name=DOCUMENT_NAME.get(field, field), value=_readable(value), source=label))
                break
    return rows


def _readable(value: object) -> str:
    from decimal import Decimal

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
