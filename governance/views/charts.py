"""Chart payloads for the pages: plain JSON-able dicts read by static/js/charts.js (Chart.js).

Every chart on a page also has a data table with the same numbers, for screen readers and for
anyone who would rather read than look.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils import timezone

from governance.selectors.budgets import BudgetBurn
from governance.selectors.rollups import DayPoint, ModelShare


def usage_chart(days: Sequence[DayPoint], *, today: date | None = None) -> dict:
    """Tokens (bars, left axis) and cost in USD (line, right axis) per day; days after today are gaps."""
    today = today or timezone.localdate()
    return {
        "type": "usage",
        "labels": [point.day.isoformat() for point in days],
        "tokens": [point.tokens if point.day <= today else None for point in days],
        "cost": [float(point.cost_usd) if point.day <= today else None for point in days],
    }


def burn_chart(burn: BudgetBurn) -> dict:
    """Cumulative spend so far, the forecast to the period's end, and the budget line."""
    return {
        "type": "burn",
        "unit": burn.unit,
        "labels": [point.day.isoformat() for point in burn.points],
        "actual": [None if point.actual is None else float(point.actual) for point in burn.points],
        "forecast": [None if point.forecast is None else float(point.forecast) for point in burn.points],
        "limit": float(burn.limit),
    }


def mix_chart(models: Sequence[ModelShare]) -> dict:
    """Share of cost per served model (tokens alongside: a cheap model's tokens are not its bill)."""
    return {
        "type": "mix",
        "labels": [share.model for share in models],
        "tokens": [share.tokens for share in models],
        "cost": [float(share.cost_usd) for share in models],
    }


def stacked_chart(drivers, *, dimensions: Sequence[str], today: date | None = None) -> dict:
    """Cost in USD per day, stacked by each of ``dimensions`` (the page switches between them)."""
    today = today or timezone.localdate()
    days = drivers.period.days
    return {
        "type": "stacked",
        "unit": "usd",
        "labels": [day.isoformat() for day in days],
        "dimensions": {
            dimension: [
                {
                    "label": series.label,
                    "data": [
                        float(cost) if day <= today else None for day, cost in zip(days, series.cost_usd, strict=True)
                    ],
                }
                for series in drivers.daily.get(dimension, [])
            ]
            for dimension in dimensions
        },
    }


def shares_chart(shares) -> dict:
    """Share of cost per slice (horizontal bars, most costly first), with the dollars behind each share."""
    return {
        "type": "shares",
        "labels": [share.label for share in shares[:8]],
        "cost": [float(share.cost_usd) for share in shares[:8]],
        "share": [round(share.cost_share * 100, 1) for share in shares[:8]],
    }


def trend_chart(series: dict[str, list], labels: list[str]) -> dict:
    """Cost in USD per day, one line per name (the admin overview's teams)."""
    return {
        "type": "trend",
        "unit": "usd",
        "labels": labels,
        "series": [{"label": name, "data": values} for name, values in series.items()],
    }
