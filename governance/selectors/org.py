"""The organisation summary: every team's totals over a period."""

from __future__ import annotations

import dataclasses

from django.db.models import Count

from governance.models import Membership, Team
from governance.periods import Period
from governance.selectors.rollups import SUMS, ZERO, DayPoint, Totals, days_series, rollups, totals_of


@dataclasses.dataclass(frozen=True, slots=True)
class TeamSummary:
    team_id: int
    team_slug: str
    team_name: str
    members: int
    totals: Totals


@dataclasses.dataclass(frozen=True, slots=True)
class OrgSummary:
    period: Period
    totals: Totals
    teams: list[TeamSummary]
    days: list[DayPoint]


def org_summary(*, period: Period) -> OrgSummary:
    """Every team's totals over ``period`` (teams with no usage included), and the organisation's."""
    rows = rollups(start=period.start, end=period.end)
    per_team = {row["team_id"]: row for row in rows.values("team_id").annotate(**SUMS)}
    member_counts = dict(Membership.objects.values("team_id").annotate(n=Count("id")).values_list("team_id", "n"))
    teams = []
    for team in Team.objects.order_by("slug"):
        sums = per_team.get(team.pk, {})
        teams.append(
            TeamSummary(
                team_id=team.pk,
                team_slug=team.slug,
                team_name=team.name,
                members=member_counts.get(team.pk, 0),
                totals=Totals(
                    requests=sums.get("requests") or 0,
                    tokens=sums.get("tokens") or 0,
                    cost_usd=sums.get("cost") or ZERO,
                    unpriced_requests=sums.get("unpriced") or 0,
                ),
            )
        )
    return OrgSummary(period=period, totals=totals_of(rows), teams=teams, days=days_series(rows, period))
