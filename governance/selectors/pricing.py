"""Reads of prices: every model's price history, and the served models that still need a price."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db.models import Count, Max, Min, QuerySet, Sum
from django.utils import timezone

from governance.models import Price
from governance.services.pricing import price_table_load


@dataclasses.dataclass(frozen=True, slots=True)
class ModelToPrice:
    """A served model whose calls were recorded with an unknown cost, and that still has no price."""

    model: str
    requests: int
    total_tokens: int
    first_seen: datetime
    last_seen: datetime


def models_to_price(*, since: datetime | None = None) -> list[ModelToPrice]:
    """Served models seen in the ledger with an unknown cost, most-called first - for admins to price.

    A model is listed while it has no price valid now (exact name or dated snapshot, as the proxy
    matches it); once an admin prices it, it drops off the list even though its past events keep
    their unknown cost. ``since`` limits the events counted. Two queries: one aggregate, one price table.
    """
    from usage.selectors import usage_events_all

    events = usage_events_all().filter(cost_usd__isnull=True).exclude(model_served="")
    if since is not None:
        events = events.filter(created_at__gte=since)
    rows = (
        events.values("model_served")
        .annotate(
            requests=Count("id"),
            total_tokens=Sum("total_tokens"),
            first_seen=Min("created_at"),
            last_seen=Max("created_at"),
        )
        .order_by("-requests", "model_served")
    )
    table, now = price_table_load(), timezone.now()
    return [
        ModelToPrice(
            model=row["model_served"],
            requests=row["requests"],
            total_tokens=row["total_tokens"] or 0,
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
        )
        for row in rows
        if table.quote(row["model_served"], at=now) is None
    ]


def prices_all() -> QuerySet[Price]:
    """Every price row."""
    return Price.objects.all()


def price_history() -> list[tuple[Price, list[Price]]]:
    """Per model (by name): the newest price and the older ones, newest first. One query."""
    current: dict[str, Price] = {}
    history: dict[str, list[Price]] = {}
    for price in Price.objects.order_by("model", "-valid_from", "-id"):
        current.setdefault(price.model, price)
        history.setdefault(price.model, []).append(price)
    return [(price, history[model][1:]) for model, price in sorted(current.items())]
