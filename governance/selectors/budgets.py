"""Budgets that apply to a team or a person, and their burn-down with a forecast to the period's end."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from governance.models import Policy, Team
from governance.periods import Period

ZERO = Decimal("0")


BUDGET_FIELDS = {  # (period, unit) -> Policy field
    ("day", "usd"): "usd_per_day",
    ("week", "usd"): "usd_per_week",
    ("month", "usd"): "usd_per_month",
    ("day", "tokens"): "tokens_per_day",
    ("week", "tokens"): "tokens_per_week",
    ("month", "tokens"): "tokens_per_month",
}


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetLimits:
    """The budgets that apply, per (period, unit), e.g. ``{("month", "usd"): Decimal("500")}``."""

    limits: dict[tuple[str, str], Decimal | int]

    def longest(self) -> str | None:
        """The longest period with any budget set (month, then week, then day)."""
        for name in ("month", "week", "day"):
            if any(period == name for period, _ in self.limits):
                return name
        return None


def _policy_merge(policies: Iterable[Policy | None]) -> BudgetLimits:
    """Per field, the first policy (most specific first) that sets it."""
    limits: dict[tuple[str, str], Decimal | int] = {}
    for key, field in BUDGET_FIELDS.items():
        for policy in policies:
            value = getattr(policy, field) if policy is not None else None
            if value is not None:
                limits[key] = value
                break
    return BudgetLimits(limits=limits)


def team_budget_limits(*, team: Team) -> BudgetLimits:
    """The team's pooled budgets: the team policy's fields, else the organisation default's (two queries).

    As enforced (``governance.enforcement.effective``): these limits are one pool shared by the team.
    """
    team_policy = Policy.objects.filter(scope=Policy.Scope.TEAM, team=team).first()
    org_policy = Policy.objects.filter(scope=Policy.Scope.ORG).first()
    return _policy_merge([team_policy, org_policy])


def person_budget_limits(*, user_id: int, team: Team) -> BudgetLimits:
    """A person's own budgets within a team: their person-in-team policy only (one query).

    As enforced, personal limits count that person's usage in the team, on top of the team's pool.
    """
    user_policy = Policy.objects.filter(scope=Policy.Scope.USER, team=team, user_id=user_id).first()
    return _policy_merge([user_policy])


@dataclasses.dataclass(frozen=True, slots=True)
class BurnPoint:
    day: date
    actual: Decimal | int | None  # cumulative spend up to the end of this day; None after today
    forecast: Decimal | int | None  # projected cumulative spend; None before today


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetBurn:
    """A budget's burn-down over its period, with a straight-line forecast to the period's end.

    The forecast assumes the rest of the period is spent at the average daily rate so far (today
    counted as a whole day). ``run_out_on`` is the day the budget was or would be used up, when that
    falls within the period; None when it would last.
    """

    unit: str  # "usd" or "tokens"
    period_name: str  # "day", "week", "month"
    period: Period
    limit: Decimal | int
    spent: Decimal | int
    forecast_at_end: Decimal | int
    run_out_on: date | None
    points: list[BurnPoint]
    scope: str = "team"  # "team": the team's pooled usage; "person": one person's usage in the team

    @property
    def left(self) -> Decimal | int:
        return max(self.limit - self.spent, 0)

    @property
    def used_share(self) -> float:
        return float(self.spent) / float(self.limit) if self.limit else 1.0

    @property
    def is_over(self) -> bool:
        return self.spent >= self.limit

    @property
    def risk(self) -> str:
        """``over`` once spent, ``at_risk`` when the forecast crosses the budget before the period ends, else ``ok``."""
        if self.is_over:
            return "over"
        if self.forecast_at_end > self.limit:
            return "at_risk"
        return "ok"


def _round_unit(value: Decimal, unit: str, *, places: Decimal = Decimal("0.000001")) -> Decimal | int:
    if unit == "tokens":
        return int(value.to_integral_value(rounding=ROUND_HALF_UP))
    return value.quantize(places, rounding=ROUND_HALF_UP)


POINT_PLACES = Decimal("0.000001")  # USD to the micro-dollar: small budgets stay exact and smooth


def budget_burn(
    *,
    unit: str,
    period_name: str,
    period: Period,
    limit: Decimal | int,
    daily: dict[date, Decimal | int],
    today: date,
    scope: str = "team",
) -> BudgetBurn:
    """Pure: burn-down and forecast of one budget from the spend per day (``daily``) in its period."""
    as_of = min(max(today, period.start - timedelta(days=1)), period.end)
    points: list[BurnPoint] = []
    running: Decimal = ZERO
    run_out_on: date | None = None
    for day in period.days:
        if day > as_of:
            break
        running += Decimal(daily.get(day, 0))
        if run_out_on is None and limit and running >= Decimal(limit):
            run_out_on = day
        points.append(BurnPoint(day=day, actual=_round_unit(running, unit, places=POINT_PLACES), forecast=None))
    spent = running
    elapsed_days = (as_of - period.start).days + 1
    rate = spent / elapsed_days if elapsed_days > 0 else ZERO
    if points and as_of < period.end:
        last = points[-1]
        points[-1] = BurnPoint(day=last.day, actual=last.actual, forecast=last.actual)
    for day in period.days:
        if day > as_of:
            projected = spent + rate * (day - as_of).days
            points.append(BurnPoint(day=day, actual=None, forecast=_round_unit(projected, unit, places=POINT_PLACES)))
    forecast_at_end = spent + rate * (period.end - as_of).days
    if run_out_on is None and limit and rate > 0:
        days_needed = math.ceil((Decimal(limit) - spent) / rate)
        # Compared in days before any date arithmetic: a large budget spent slowly runs out past the
        # last date a ``date`` can hold.
        if days_needed <= (period.end - as_of).days:
            run_out_on = as_of + timedelta(days=days_needed)
    return BudgetBurn(
        unit=unit,
        period_name=period_name,
        period=period,
        limit=limit,
        spent=_round_unit(spent, unit),
        forecast_at_end=_round_unit(forecast_at_end, unit),
        run_out_on=run_out_on,
        points=points,
        scope=scope,
    )
