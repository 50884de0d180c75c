"""Reads of the daily rollups (the ledger's sums per day, person, team and model) shared by the reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from governance.periods import Period, budget_period
from governance.selectors.budgets import BudgetBurn, BudgetLimits, budget_burn

ZERO = Decimal("0")


def rollups(*, start: date, end: date, team_id: int | None = None, user_id: int | None = None):
    from usage.selectors import daily_rollups_all

    rows = daily_rollups_all().filter(day__gte=start, day__lte=end)
    if team_id is not None:
        rows = rows.filter(team_id=team_id)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return rows


SUMS = {
    "requests": Sum("requests"),
    "tokens": Sum("total_tokens"),
    "cost": Sum("cost_usd"),
    "unpriced": Sum("unpriced_requests"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    requests: int
    tokens: int
    cost_usd: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class ModelShare:
    model: str
    requests: int
    tokens: int
    cost_usd: Decimal
    token_share: float  # of the period's tokens, 0..1


@dataclasses.dataclass(frozen=True, slots=True)
class Totals:
    requests: int
    tokens: int
    cost_usd: Decimal
    unpriced_requests: int


def days_series(rows, period: Period) -> list[DayPoint]:
    by_day = {row["day"]: row for row in rows.values("day").annotate(**SUMS)}
    return [
        DayPoint(
            day=day,
            requests=by_day.get(day, {}).get("requests") or 0,
            tokens=by_day.get(day, {}).get("tokens") or 0,
            cost_usd=by_day.get(day, {}).get("cost") or ZERO,
        )
        for day in period.days
    ]


def model_mix(rows) -> list[ModelShare]:
    grouped = list(rows.values("model").annotate(**SUMS))
    total_tokens = sum(row["tokens"] or 0 for row in grouped)
    shares = [
        ModelShare(
            model=row["model"],
            requests=row["requests"] or 0,
            tokens=row["tokens"] or 0,
            cost_usd=row["cost"] or ZERO,
            token_share=(row["tokens"] or 0) / total_tokens if total_tokens else 0.0,
        )
        for row in grouped
    ]
    return sorted(shares, key=lambda share: share.model)


def totals_of(rows) -> Totals:
    sums = rows.aggregate(**SUMS)
    return Totals(
        requests=sums["requests"] or 0,
        tokens=sums["tokens"] or 0,
        cost_usd=sums["cost"] or ZERO,
        unpriced_requests=sums["unpriced"] or 0,
    )


def burns(
    *,
    limits: BudgetLimits,
    anchor: date,
    today: date,
    team_id: int,
    user_id: int | None = None,
    periods: Iterable[str] | None = None,
) -> list[BudgetBurn]:
    burns = []
    longest = limits.longest()
    for name in periods or ([longest] if longest else []):
        window = budget_period(name=name, anchor=anchor)
        rows = rollups(start=window.start, end=window.end, team_id=team_id, user_id=user_id)
        per_day = {row["day"]: row for row in rows.values("day").annotate(**SUMS)}
        for unit in ("usd", "tokens"):
            limit = limits.limits.get((name, unit))
            if limit is None:
                continue
            field = "cost" if unit == "usd" else "tokens"
            daily = {day: row[field] or 0 for day, row in per_day.items()}
            burns.append(
                budget_burn(
                    unit=unit,
                    period_name=name,
                    period=window,
                    limit=limit,
                    daily=daily,
                    today=today,
                    scope="team" if user_id is None else "person",
                )
            )
    return burns


def person_label(user) -> str:
    if user is None:
        return "(no person)"
    return user.get_full_name() or user.email or user.get_username()
