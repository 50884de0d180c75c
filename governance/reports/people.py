"""The person page: one person's usage over a window, what drove it, their sessions, value against peers, flags.

``team_ids`` narrows everything to the teams the viewer may see the person in (a manager sees only
their own teams' share of a person's usage); None means every team (oneself, admins).
"""

from __future__ import annotations

import dataclasses
import statistics

from django.db.models import Sum

from governance.models import Membership
from governance.reports.drivers import SpendDrivers, sessions_for, spend_drivers
from governance.reports.flags import FlagView, flags_for_person
from governance.reports.periods import Period
from governance.reports.rollups import Totals, rollups, totals_of
from governance.reports.value import MTOK, ValueMetrics, ValueSignal, value_metrics_compute, value_signals_for
from governance.reports.windows import period_previous


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


def _signal_sum(signals: list[ValueSignal]) -> ValueSignal | None:
    if not signals:
        return None
    return ValueSignal(
        outcomes=sum(s.outcomes for s in signals),
        outcome_count=sum(s.outcome_count for s in signals),
        feedback_count=sum(s.feedback_count for s in signals),
        positive_feedback_count=sum(s.positive_feedback_count for s in signals),
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
    own: list[ValueSignal] = []
    peer_rates: list[float] = []
    for team_id in teams:
        signals = value_signals_for(team_id=team_id, start=period.start, end=period.end)
        if user.pk in signals.by_user:
            own.append(signals.by_user[user.pk])
        tokens = dict(
            rollups(start=period.start, end=period.end, team_id=team_id)
            .values("user_id")
            .annotate(tokens=Sum("total_tokens"))
            .values_list("user_id", "tokens")
        )
        for peer_id, peer_signal in signals.by_user.items():
            if peer_id not in (None, user.pk) and tokens.get(peer_id):
                peer_rates.append(peer_signal.outcomes * MTOK / tokens[peer_id])
    if team_ids is None:  # outcomes reported with no team still count for the person themselves
        whole = value_signals_for(user_id=user.pk, start=period.start, end=period.end)
        signal = whole.total if whole.by_user else None
    else:
        signal = _signal_sum(own)
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
            signal=signal, tokens=totals.tokens, cost_usd=totals.cost_usd, requests=totals.requests
        ),
        peers_outcomes_per_mtok=statistics.median(peer_rates) if peer_rates else None,
        peers=len(peer_rates),
        flags=flags,
    )
