"""What drove the spend: cost by person, model, purpose tag and client, as shares and per day (stacked).

Person and model come from the daily rollups; purpose and client from the ledger's events within the
window (the rollups do not keep them), on the (team, created_at) or (user, created_at) index. Cost is
what the reports rank by here: a share of tokens hides what a costly model does to the bill.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from governance.periods import Period
from governance.selectors.rollups import ZERO, person_label, rollups

TOP = 6  # slices shown by name; the rest are summed as "Others"
DIMENSIONS = ("person", "model", "purpose", "client")
UNTAGGED = {"purpose": "(no purpose tag)", "client": "(unknown client)", "model": "(no model)"}


@dataclasses.dataclass(frozen=True, slots=True)
class DriverShare:
    key: str  # the person's id, the model, the purpose or the client name ("" for none)
    label: str
    requests: int
    tokens: int
    cost_usd: Decimal
    cost_share: float  # of the window's cost, 0..1
    token_share: float


@dataclasses.dataclass(frozen=True, slots=True)
class DriverSeries:
    label: str
    cost_usd: list[Decimal]  # one per day of the window


@dataclasses.dataclass(frozen=True, slots=True)
class SpendDrivers:
    period: Period
    shares: dict[str, list[DriverShare]]  # dimension -> shares, most costly first
    daily: dict[str, list[DriverSeries]]  # dimension -> stacked series (top slices, then "Others")

    @property
    def cost_usd(self) -> Decimal:
        return sum((share.cost_usd for share in self.shares.get("model", [])), ZERO)


def _bounds(period: Period) -> tuple[datetime, datetime]:
    zone = timezone.get_default_timezone()
    return (
        datetime.combine(period.start, time.min, tzinfo=zone),
        datetime.combine(period.end + timedelta(days=1), time.min, tzinfo=zone),
    )


def _events(*, period: Period, team_id: int | None, user_id: int | None, team_ids: list[int] | None):
    from usage.selectors import usage_events_all

    since, until = _bounds(period)
    rows = usage_events_all().filter(created_at__gte=since, created_at__lt=until)
    if team_id is not None:
        rows = rows.filter(team_id=team_id)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    if team_ids is not None:
        rows = rows.filter(team_id__in=team_ids)
    return rows


def _client_name(client: str) -> str:
    """``claude-cli/2.1.3 (external, cli)`` -> ``claude-cli``: the agent or SDK, whatever its version."""
    return client.split("/", 1)[0].split(" ", 1)[0].strip()


def _shares(groups: dict[str, list], labels: dict[str, str]) -> list[DriverShare]:
    total_cost = sum((values[2] for values in groups.values()), ZERO)
    total_tokens = sum(values[1] for values in groups.values())
    shares = [
        DriverShare(
            key=key,
            label=labels.get(key, key),
            requests=requests,
            tokens=tokens,
            cost_usd=cost,
            cost_share=float(cost / total_cost) if total_cost else 0.0,
            token_share=tokens / total_tokens if total_tokens else 0.0,
        )
        for key, (requests, tokens, cost) in groups.items()
    ]
    return sorted(shares, key=lambda share: (-share.cost_usd, -share.tokens, share.label.lower()))


def _stack(shares: list[DriverShare], per_day: dict[tuple[str, date], Decimal], period: Period) -> list[DriverSeries]:
    top = [share for share in shares[:TOP] if share.cost_usd > 0]
    named = {share.key for share in top}
    series = [
        DriverSeries(label=share.label, cost_usd=[per_day.get((share.key, day), ZERO) for day in period.days])
        for share in top
    ]
    others = [
        sum((cost for (key, when), cost in per_day.items() if when == day and key not in named), ZERO)
        for day in period.days
    ]
    if any(others):
        series.append(DriverSeries(label="Others", cost_usd=others))
    return series


def spend_drivers(
    *,
    period: Period,
    team_id: int | None = None,
    user_id: int | None = None,
    team_ids: list[int] | None = None,
    dimensions: tuple[str, ...] = DIMENSIONS,
) -> SpendDrivers:
    """Cost, tokens and calls by each of ``dimensions`` over ``period``, as shares and per day.

    Scoped to a team, a person and/or a set of teams (a manager's view of a person). Two rollup
    queries for person and model, two event queries for purpose and client. Unpriced calls count in
    requests and tokens, not in cost.
    """
    shares: dict[str, list[DriverShare]] = {}
    daily: dict[str, list[DriverSeries]] = {}
    rows = rollups(start=period.start, end=period.end, team_id=team_id, user_id=user_id)
    if team_ids is not None:
        rows = rows.filter(team_id__in=team_ids)
    for dimension, field in (("person", "user_id"), ("model", "model")):
        if dimension not in dimensions:
            continue
        groups: dict[str, list] = {}
        per_day: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
        for row in rows.values(field, "day").annotate(
            requests=Sum("requests"), tokens=Sum("total_tokens"), cost=Sum("cost_usd")
        ):
            key = "" if row[field] is None else str(row[field])
            values = groups.setdefault(key, [0, 0, ZERO])
            values[0] += row["requests"] or 0
            values[1] += row["tokens"] or 0
            values[2] += row["cost"] or ZERO
            per_day[(key, row["day"])] += row["cost"] or ZERO
        if dimension == "person":
            users = get_user_model().objects.in_bulk([int(key) for key in groups if key])
            labels = {key: person_label(users.get(int(key))) if key else "(no person)" for key in groups}
        else:
            labels = {"": UNTAGGED["model"]}
        shares[dimension] = _shares(groups, labels)
        daily[dimension] = _stack(shares[dimension], per_day, period)
    events = _events(period=period, team_id=team_id, user_id=user_id, team_ids=team_ids)
    zone = timezone.get_default_timezone()
    for dimension in ("purpose", "client"):
        if dimension not in dimensions:
            continue
        groups = {}
        per_day = defaultdict(Decimal)
        grouped = (
            events.annotate(day=TruncDate("created_at", tzinfo=zone))
            .values(dimension, "day")
            .annotate(requests=Count("id"), tokens=Sum("total_tokens"), cost=Sum("cost_usd"))
        )
        for row in grouped:
            key = row[dimension] if dimension == "purpose" else _client_name(row[dimension])
            values = groups.setdefault(key, [0, 0, ZERO])
            values[0] += row["requests"] or 0
            values[1] += row["tokens"] or 0
            values[2] += row["cost"] or ZERO
            per_day[(key, row["day"])] += row["cost"] or ZERO
        shares[dimension] = _shares(groups, {"": UNTAGGED[dimension]})
        daily[dimension] = _stack(shares[dimension], per_day, period)
    return SpendDrivers(period=period, shares=shares, daily=daily)


def sessions_for(*, period: Period, user_id: int, team_ids: list[int] | None = None, limit: int = 10) -> list[dict]:
    """A person's coding-agent sessions in ``period``, most costly first: calls, tokens, cost, first and last call."""
    from django.db.models import Max, Min

    events = _events(period=period, team_id=None, user_id=user_id, team_ids=team_ids).filter(~Q(session_id=""))
    return list(
        events.values("session_id")
        .annotate(
            requests=Count("id"),
            tokens=Sum("total_tokens"),
            cost=Sum("cost_usd"),
            first=Min("created_at"),
            last=Max("created_at"),
            client=Max("client"),
        )
        .order_by(F("cost").desc(nulls_last=True), "-tokens", "session_id")[:limit]
    )
