"""Ledger reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from usage.models import UsageEvent

EXPORT_CHUNK_SIZE = 2000


def usage_events_for_export(
    *, team_slug: str | None = None, since: datetime | None = None, until: datetime | None = None,
) -> Iterator[UsageEvent]:
    """Usage events in time order (``created_at``, then id), with their user and team, read in chunks.

    ``since`` is inclusive, ``until`` exclusive; ``team_slug`` limits to one team. Stored prompt and
    output text are not loaded. Memory stays flat however many events match (server-side cursor on
    PostgreSQL, chunked fetches elsewhere).
    """
    events = UsageEvent.objects.select_related("user", "team").defer("prompt_text", "output_text")
    if team_slug is not None:
        events = events.filter(team__slug=team_slug)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("created_at", "id").iterator(chunk_size=EXPORT_CHUNK_SIZE)


def usage_events_count(
    *, team_slug: str | None = None, since: datetime | None = None, until: datetime | None = None,
) -> int:
    """How many events ``usage_events_for_export`` would yield (for a progress bar)."""
    events = UsageEvent.objects.all()
    if team_slug is not None:
        events = events.filter(team__slug=team_slug)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.count()
