"""Chart payloads for the pages: plain JSON-able dicts read by static/js/charts.js (Chart.js).

Every chart on a page also has a data table with the same numbers, for screen readers and for
anyone who would rather read than look.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils import timezone

from governance.reports import BudgetBurn, DayPoint, ModelShare


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
    """Share of tokens per served model."""
    return {
        "type": "mix",
        "labels": [share.model for share in models],
        "tokens": [share.tokens for share in models],
        "cost": [float(share.cost_usd) for share in models],
    }
