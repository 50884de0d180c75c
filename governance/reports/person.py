"""A person's own usage: over time, per team, and what is left of each budget."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from governance.models import Membership, Team
from governance.reports.budgets import BudgetBurn, BudgetLimits, person_budget_limits, team_budget_limits
from governance.reports.periods import Period
from governance.reports.rollups import DayPoint, ModelShare, Totals, burns, days_series, model_mix, rollups, totals_of
from governance.reports.value import (
    ValueMetrics,
    feedback_scores_for,
    value_metrics_compute,
    value_signals_for,
)


@dataclasses.dataclass(frozen=True, slots=True)
class TeamUsage:
    team_id: int
    team_slug: str
    team_name: str
    totals: Totals
    budgets: list[BudgetBurn]  # the team's pooled budgets, then this person's own, per period that sets one


@dataclasses.dataclass(frozen=True, slots=True)
class PersonUsage:
    user_id: int
    period: Period
    totals: Totals
    days: list[DayPoint]
    models: list[ModelShare]
    teams: list[TeamUsage]
    value: ValueMetrics


def _periods_set(limits: BudgetLimits) -> list[str]:
    return [name for name in ("day", "week", "month") if any(period == name for period, _ in limits.limits)]


def person_usage(*, user, period: Period, today: date | None = None) -> PersonUsage:
    """A person's own usage over ``period`` (all teams), and what is left of each of their budgets.

    Budgets are the current day/week/month periods (whatever ``period`` is), per team the person
    belongs to, counted as they are enforced: the team's pool (team policy, else the organisation
    default) against the whole team's usage, and the person's own limits (their person-in-team policy)
    against their usage in that team.
    """
    today = today or timezone.localdate()
    rows = rollups(start=period.start, end=period.end, user_id=user.pk)
    team_ids = set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    team_ids |= {tid for tid in rows.values_list("team_id", flat=True).distinct() if tid is not None}
    teams = []
    for team in Team.objects.filter(pk__in=team_ids).order_by("slug"):
        team_limits = team_budget_limits(team=team)
        own_limits = person_budget_limits(user_id=user.pk, team=team)
        teams.append(
            TeamUsage(
                team_id=team.pk,
                team_slug=team.slug,
                team_name=team.name,
                totals=totals_of(rows.filter(team=team)),
                budgets=(
                    burns(
                        limits=team_limits,
                        anchor=today,
                        today=today,
                        team_id=team.pk,
                        periods=_periods_set(team_limits),
                    )
                    + burns(
                        limits=own_limits,
                        anchor=today,
                        today=today,
                        team_id=team.pk,
                        user_id=user.pk,
                        periods=_periods_set(own_limits),
                    )
                ),
            )
        )
    totals = totals_of(rows)
    signals = value_signals_for(user_id=user.pk, start=period.start, end=period.end)
    signal = signals.total if signals.by_user else None
    return PersonUsage(
        user_id=user.pk,
        period=period,
        totals=totals,
        days=days_series(rows, period),
        models=model_mix(rows),
        teams=teams,
        value=value_metrics_compute(
            signal=signal, tokens=totals.tokens, cost_usd=totals.cost_usd, requests=totals.requests
        ),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class RecentCall:
    request_id: str
    created_at: datetime
    team_slug: str
    model: str
    endpoint: str
    status: int
    total_tokens: int
    cost_usd: Decimal | None
    purpose: str
    rating: int | None  # the person's own feedback score, when given


def recent_calls_for_user(*, user, limit: int = 20) -> list[RecentCall]:
    """The person's latest calls through the proxy (newest first), with their own rating if any.

    One query on the (user, created_at) index, plus one for ratings once feedback exists.
    """
    from usage.selectors import usage_events_all

    events = list(
        usage_events_all()
        .filter(user_id=user.pk)
        .select_related("team")
        .only(
            "request_id",
            "created_at",
            "team__slug",
            "model_served",
            "model_requested",
            "endpoint",
            "status",
            "total_tokens",
            "cost_usd",
            "purpose",
        )
        .order_by("-created_at", "-id")[:limit]
    )
    ratings = feedback_scores_for(request_ids=[event.request_id for event in events], user_id=user.pk)
    return [
        RecentCall(
            request_id=event.request_id,
            created_at=event.created_at,
            team_slug=event.team.slug if event.team_id and event.team else "",
            model=event.model_served or event.model_requested,
            endpoint=event.endpoint,
            status=event.status,
            total_tokens=event.total_tokens,
            cost_usd=event.cost_usd,
            purpose=event.purpose,
            rating=ratings.get(event.request_id),
        )
        for event in events
    ]
