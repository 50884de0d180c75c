"""The team report: spend and tokens per day, model mix, budget burn-down, value, people, open flags.

People are never ranked by volume: the per-person table is ordered by value per token (outcomes per
million tokens, best first; people with no value data after them, by name). Tokens and cost are shown
beside it, never used to order it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from governance.models import Membership, Team
from governance.periods import Period
from governance.selectors.budgets import BudgetBurn, team_budget_limits
from governance.selectors.flags import FlagView, flags_open_for_team
from governance.selectors.rollups import (
    SUMS,
    ZERO,
    DayPoint,
    ModelShare,
    Totals,
    burns,
    days_series,
    model_mix,
    person_label,
    rollups,
    totals_of,
)
from governance.selectors.value import ValueMetrics, value_metrics_compute, value_tallies_for


@dataclasses.dataclass(frozen=True, slots=True)
class PersonRow:
    """One person's line: volume (shown, never ranked) and value (the ranking)."""

    user_id: int | None
    name: str
    requests: int
    tokens: int
    cost_usd: Decimal
    value: ValueMetrics


@dataclasses.dataclass(frozen=True, slots=True)
class TeamReport:
    team_id: int
    team_slug: str
    team_name: str
    period: Period
    totals: Totals
    days: list[DayPoint]
    models: list[ModelShare]
    people: list[PersonRow]
    value: ValueMetrics
    budgets: list[BudgetBurn]
    flags: list[FlagView]


def _people_rank_key(row: PersonRow) -> tuple:
    per_mtok = row.value.outcomes_per_mtok
    return (per_mtok is None, -(per_mtok or 0.0), row.name.lower(), row.user_id or 0)


def team_report(*, team: Team, period: Period, today: date | None = None) -> TeamReport:
    """Everything the team report page shows, for ``team`` over ``period``.

    The budget burn-down covers the longest budget period set for the team (month, week or day; from
    the team policy, else the organisation default) that contains the period's last day up to today.
    Current members with no usage are listed with zeros. About ten queries, independent of team size.
    """
    today = today or timezone.localdate()
    rows = rollups(start=period.start, end=period.end, team_id=team.pk)
    per_person = {row["user_id"]: row for row in rows.values("user_id").annotate(**SUMS)}
    member_ids = set(Membership.objects.filter(team=team).values_list("user_id", flat=True))
    user_ids = {uid for uid in per_person if uid is not None} | member_ids
    users = get_user_model().objects.in_bulk(user_ids)
    tallies = value_tallies_for(team_id=team.pk, start=period.start, end=period.end)
    people = []
    for user_id in set(per_person) | user_ids:
        sums = per_person.get(user_id, {})
        tokens, cost = sums.get("tokens") or 0, sums.get("cost") or ZERO
        people.append(
            PersonRow(
                user_id=user_id,
                name=person_label(users.get(user_id)),
                requests=sums.get("requests") or 0,
                tokens=tokens,
                cost_usd=cost,
                value=value_metrics_compute(
                    tally=tallies.by_user.get(user_id),
                    tokens=tokens,
                    cost_usd=cost,
                    requests=sums.get("requests") or 0,
                ),
            )
        )
    people.sort(key=_people_rank_key)
    totals = totals_of(rows)
    team_tally = tallies.total if tallies.by_user else None  # nothing reported: no value data
    anchor = min(max(today, period.start), period.end)
    return TeamReport(
        team_id=team.pk,
        team_slug=team.slug,
        team_name=team.name,
        period=period,
        totals=totals,
        days=days_series(rows, period),
        models=model_mix(rows),
        people=people,
        value=value_metrics_compute(
            tally=team_tally, tokens=totals.tokens, cost_usd=totals.cost_usd, requests=totals.requests
        ),
        budgets=burns(limits=team_budget_limits(team=team), anchor=anchor, today=today, team_id=team.pk),
        flags=flags_open_for_team(team=team),
    )


CSV_TABLES = ("days", "models", "people")


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.000001'), rounding=ROUND_HALF_UP)}"


def _optional(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def team_report_csv(*, report: TeamReport, table: str) -> str:
    """One table of the report as CSV text (``days``, ``models`` or ``people``), as the page shows it.

    Raises ValueError for an unknown table name.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    if table == "days":
        writer.writerow(["team", "day", "requests", "total_tokens", "cost_usd"])
        for point in report.days:
            writer.writerow(
                [report.team_slug, point.day.isoformat(), point.requests, point.tokens, _money(point.cost_usd)]
            )
    elif table == "models":
        writer.writerow(["team", "model", "requests", "total_tokens", "cost_usd", "token_share"])
        for share in report.models:
            writer.writerow(
                [
                    report.team_slug,
                    share.model,
                    share.requests,
                    share.tokens,
                    _money(share.cost_usd),
                    f"{share.token_share:.4f}",
                ]
            )
    elif table == "people":
        writer.writerow(
            [
                "team",
                "rank_by_value_per_token",
                "person",
                "outcomes",
                "outcomes_per_mtok",
                "cost_per_outcome_usd",
                "feedback_rate",
                "requests",
                "total_tokens",
                "cost_usd",
            ]
        )
        for rank, row in enumerate(report.people, start=1):
            writer.writerow(
                [
                    report.team_slug,
                    rank,
                    row.name,
                    _optional(row.value.outcomes),
                    _optional(row.value.outcomes_per_mtok),
                    _optional(row.value.cost_per_outcome),
                    _optional(row.value.feedback_rate),
                    row.requests,
                    row.tokens,
                    _money(row.cost_usd),
                ]
            )
    else:
        raise ValueError(f"unknown table {table!r}; one of {', '.join(CSV_TABLES)}")
    return out.getvalue()
