"""The chart on a flag: the person's tokens a day against their team's typical day, over the flag's period.

Peers are the other people of the flag's team with a call in the period (the detectors fall back to the
whole organisation for teams under ``min_team_size``; the chart shows the team, which is what the
manager and the person know). A peer's idle day counts as 0 tokens, so the median is the typical day of
the team. Outcome value a day (trusted sources only, ``outcomes_trusted``) is shown the same way.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.db.models import FloatField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, TruncDate

from governance.detectors.stats import median
from governance.models import Flag
from usage.selectors import outcome_kinds_all, usage_events_all

MAX_DAYS = 120


def flag_chart(*, flag: Flag) -> dict:
    """Chart payload (``static/js/charts.js`` type "peers"): days, the person's tokens and value, and the
    team median of each; at most the last ``MAX_DAYS`` days of the period."""
    start, end = flag.period_start, flag.period_end
    if end - start > timedelta(days=MAX_DAYS):
        start = end - timedelta(days=MAX_DAYS)
    rows = (
        usage_events_all()
        .filter(team_id=flag.team_id, created_at__gte=start, created_at__lt=end, status__lt=400, user_id__isnull=False)
        .annotate(day=TruncDate("created_at"))
        .values("user_id", "day")
        .annotate(tokens=Sum("total_tokens"))
        .order_by()
    )
    tokens: dict[int, dict[date, int]] = defaultdict(dict)
    for row in rows:
        tokens[row["user_id"]][row["day"]] = row["tokens"] or 0
    value: dict[int, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for user_id, day, points in _outcome_rows(flag, start, end):
        value[user_id][day] += float(points or 0)
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    peers = [user_id for user_id in tokens if user_id != flag.user_id]
    mine_tokens, mine_value = tokens.get(flag.user_id, {}), value.get(flag.user_id, {})
    return {
        "type": "peers",
        "labels": [day.isoformat() for day in days],
        "tokens": [mine_tokens.get(day, 0) for day in days],
        "peer_tokens": [median([tokens[p].get(day, 0) for p in peers]) if peers else None for day in days],
        "value": [round(mine_value.get(day, 0.0), 2) for day in days],
        "peer_value": [round(median([value[p].get(day, 0.0) for p in peers]), 2) if peers else None for day in days],
        "peers": len(peers),
    }


def _outcome_rows(flag: Flag, start, end):
    """(user id, day, weighted value) of the team's trusted outcomes in the period, one per outcome."""
    from governance.value_sources import outcomes_trusted

    kind_weight = outcome_kinds_all().filter(kind=OuterRef("kind")).values("weight")[:1]
    return (
        outcomes_trusted()
        .filter(team_id=flag.team_id, occurred_at__gte=start, occurred_at__lt=end, user_id__isnull=False)
        .annotate(
            day=TruncDate("occurred_at"),
            points=Cast("value", FloatField()) * Coalesce(Subquery(kind_weight), Value(1), output_field=FloatField()),
        )
        .values_list("user_id", "day", "points")
    )


def chart_rows(chart: dict) -> list[tuple]:
    """The chart's numbers as table rows: (day, tokens, team's typical tokens, value, team's typical value)."""
    return list(
        zip(chart["labels"], chart["tokens"], chart["peer_tokens"], chart["value"], chart["peer_value"], strict=True)
    )
