"""People's usage: a person's own usage page (``person_usage``, ``recent_calls_for_user``) and the person
page a manager or admin reads (``person_page``: usage over a window, what drove it, sessions, value against
peers, flags).

For ``person_page``, ``team_ids`` narrows everything to the teams the viewer may see the person in (a
manager sees only their own teams' share of a person's usage); None means every team (oneself, admins).
"""

from __future__ import annotations

import dataclasses
import statistics
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from governance.models import Membership, Team
from governance.periods import Period, period_previous
from governance.selectors.budgets import BudgetBurn, BudgetLimits, person_budget_limits, team_budget_limits
from governance.selectors.drivers import SpendDrivers, sessions_for, spend_drivers
from governance.selectors.flags import FlagView, flags_for_person
from governance.selectors.rollups import DayPoint, ModelShare, Totals, burns, days_series, model_mix, rollups, totals_of
from governance.selectors.value import (
    MTOK,
    ValueMetrics,
    ValueTally,
    feedback_scores_for,
    value_metrics_compute,
    value_tallies_for,
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
    tallies = value_tallies_for(user_id=user.pk, start=period.start, end=period.end)
    tally = tallies.total if tallies.by_user else None
    return PersonUsage(
        user_id=user.pk,
        period=period,
        totals=totals,
        days=days_series(rows, period),
        models=model_mix(rows),
        teams=teams,
        value=value_metrics_compute(
            tally=tally, tokens=totals.tokens, cost_usd=totals.cost_usd, requests=totals.requests
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


@dataclasses.dataclass(frozen=True, slots=True)
class PersonPage:
    user_id: int
    period: Period
    team_ids: list[int] | None
    totals: Totals
    previous: Totals
    drivers: SpendDrivers
    sessions: list[dict]
    value: ValueMetrics
    peers_outcomes_per_mtok: float | None  # the median of the person's team peers (with value data)
    peers: int  # how many peers that median is over
    flags: list[FlagView]


def _scoped(rows, team_ids):
    return rows if team_ids is None else rows.filter(team_id__in=team_ids)


def _tally_sum(tallies: list[ValueTally]) -> ValueTally | None:
    if not tallies:
        return None
    return ValueTally(
        outcomes=sum(s.outcomes for s in tallies),
        outcome_count=sum(s.outcome_count for s in tallies),
        feedback_count=sum(s.feedback_count for s in tallies),
        positive_feedback_count=sum(s.positive_feedback_count for s in tallies),
    )


def person_page(*, user, period: Period, team_ids: list[int] | None) -> PersonPage:
    """Everything the person page shows for ``user`` over ``period`` within ``team_ids`` (None: all teams).

    Peers are the other people of the same teams; their median value per token counts only peers with
    value data and tokens. About fifteen queries plus three per team.
    """
    rows = _scoped(rollups(start=period.start, end=period.end, user_id=user.pk), team_ids)
    previous_period = period_previous(period)
    previous = totals_of(
        _scoped(rollups(start=previous_period.start, end=previous_period.end, user_id=user.pk), team_ids)
    )
    totals = totals_of(rows)
    teams = (
        team_ids
        if team_ids is not None
        else list(Membership.objects.filter(user=user).values_list("team_id", flat=True).distinct())
    )
    own: list[ValueTally] = []
    peer_rates: list[float] = []
    for team_id in teams:
        tallies = value_tallies_for(team_id=team_id, start=period.start, end=period.end)
        if user.pk in tallies.by_user:
            own.append(tallies.by_user[user.pk])
        tokens = dict(
            rollups(start=period.start, end=period.end, team_id=team_id)
            .values("user_id")
            .annotate(tokens=Sum("total_tokens"))
            .values_list("user_id", "tokens")
        )
        for peer_id, peer_tally in tallies.by_user.items():
            if peer_id not in (None, user.pk) and tokens.get(peer_id):
                peer_rates.append(peer_tally.outcomes * MTOK / tokens[peer_id])
    if team_ids is None:  # outcomes reported with no team still count for the person themselves
        whole = value_tallies_for(user_id=user.pk, start=period.start, end=period.end)
        tally = whole.total if whole.by_user else None
    else:
        tally = _tally_sum(own)
    flags = [flag for flag in flags_for_person(user=user) if team_ids is None or flag.team_id in team_ids]
    return PersonPage(
        user_id=user.pk,
        period=period,
        team_ids=team_ids,
        totals=totals,
        previous=previous,
        drivers=spend_drivers(
            period=period, user_id=user.pk, team_ids=team_ids, dimensions=("model", "purpose", "client")
        ),
        sessions=sessions_for(period=period, user_id=user.pk, team_ids=team_ids),
        value=value_metrics_compute(
            tally=tally, tokens=totals.tokens, cost_usd=totals.cost_usd, requests=totals.requests
        ),
        peers_outcomes_per_mtok=statistics.median(peer_rates) if peer_rates else None,
        peers=len(peer_rates),
        flags=flags,
    )
