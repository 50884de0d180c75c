"""The admin's organisation overview: spend by team with its trend, budgets at risk, open flags, alerts
fired and outcome kinds - what an admin checks first, read in a fixed number of queries per team."""

from __future__ import annotations

import dataclasses
from datetime import date

from django.db.models import Count, Sum
from django.utils import timezone

from governance.models import Alert, Flag, Team
from governance.periods import Period, period_previous
from governance.selectors.budgets import BudgetBurn, team_budget_limits
from governance.selectors.org import OrgSummary, org_summary
from governance.selectors.rollups import ZERO, burns, rollups


@dataclasses.dataclass(frozen=True, slots=True)
class TeamTrend:
    team_id: int
    team_slug: str
    team_name: str
    cost_usd: object
    previous_cost_usd: object
    daily_cost: list[float | None]  # None after today
    open_flags: int


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetAtRisk:
    team_slug: str
    team_name: str
    burn: BudgetBurn


@dataclasses.dataclass(frozen=True, slots=True)
class AdminOverview:
    summary: OrgSummary
    previous_totals: dict
    teams: list[TeamTrend]
    at_risk: list[BudgetAtRisk]
    open_flags: list[Flag]
    open_flag_count: int
    alerts: list[Alert]
    outcome_kinds: list


def admin_overview(*, period: Period, today: date | None = None, flags: int = 10, alerts: int = 20) -> AdminOverview:
    """Everything the admin overview shows for ``period``: the org summary plus trends, risks, flags, alerts.

    Budgets at risk are the teams' current budget periods whose forecast crosses the budget (or that
    are spent). Three queries per team for budgets, the rest a fixed handful.
    """
    from usage.selectors import outcome_kinds_all

    today = today or timezone.localdate()
    summary = org_summary(period=period)
    previous = period_previous(period)
    previous_rows = rollups(start=previous.start, end=previous.end)
    previous_by_team = dict(
        previous_rows.values("team_id").annotate(cost=Sum("cost_usd")).values_list("team_id", "cost")
    )
    daily = {}
    for row in rollups(start=period.start, end=period.end).values("team_id", "day").annotate(cost=Sum("cost_usd")):
        daily[(row["team_id"], row["day"])] = float(row["cost"] or 0)
    flag_counts = dict(
        Flag.objects.filter(state=Flag.State.OPEN).values("team_id").annotate(n=Count("id")).values_list("team_id", "n")
    )
    teams = [
        TeamTrend(
            team_id=team.team_id,
            team_slug=team.team_slug,
            team_name=team.team_name,
            cost_usd=team.totals.cost_usd,
            previous_cost_usd=previous_by_team.get(team.team_id) or ZERO,
            daily_cost=[daily.get((team.team_id, day), 0.0) if day <= today else None for day in period.days],
            open_flags=flag_counts.get(team.team_id, 0),
        )
        for team in summary.teams
    ]
    at_risk = []
    for team in Team.objects.order_by("slug"):
        for burn in burns(limits=team_budget_limits(team=team), anchor=today, today=today, team_id=team.pk):
            if burn.risk != "ok":
                at_risk.append(BudgetAtRisk(team_slug=team.slug, team_name=team.name, burn=burn))
    open_flags = (
        Flag.objects.filter(state=Flag.State.OPEN).select_related("user", "team").order_by("-created_at", "-id")
    )
    return AdminOverview(
        summary=summary,
        previous_totals=previous_rows.aggregate(
            cost=Sum("cost_usd"), tokens=Sum("total_tokens"), requests=Sum("requests")
        ),
        teams=teams,
        at_risk=sorted(at_risk, key=lambda item: (item.burn.risk != "over", item.team_slug)),
        open_flags=list(open_flags[:flags]),
        open_flag_count=sum(flag_counts.values()),
        alerts=list(Alert.objects.select_related("team", "user").order_by("-created_at", "-id")[:alerts]),
        outcome_kinds=list(outcome_kinds_all().order_by("kind")),
    )
