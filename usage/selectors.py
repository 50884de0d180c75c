"""Ledger reads. Governance reads the ledger only through this module (and ``usage.api_selectors``):
the querysets below are where its reports, detection and selectors start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Case, FloatField, Q, QuerySet, Value, When
from django.db.models.functions import Cast

from usage.models import DailyRollup, Feedback, Outcome, OutcomeKind, UsageEvent

EXPORT_CHUNK_SIZE = 2000


def usage_events_for_export(
    *,
    team_slug: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
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
    *,
    team_slug: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
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


# --- Where governance's reads start ---------------------------------------------------------------------


def usage_events_all() -> QuerySet[UsageEvent]:
    """Every usage event, unfiltered and unordered: the caller narrows it (on the ledger's indexes)."""
    return UsageEvent.objects.all()


def daily_rollups_all() -> QuerySet[DailyRollup]:
    """Every daily rollup row (per day, team, person, model), unfiltered."""
    return DailyRollup.objects.all()


def outcome_kinds_all() -> QuerySet[OutcomeKind]:
    """Every outcome kind with its weight, unordered."""
    return OutcomeKind.objects.all()


def outcomes_all() -> QuerySet[Outcome]:
    """Every outcome, whatever its source (``governance.selectors.value_sources.outcomes_trusted`` narrows it)."""
    return Outcome.objects.all()


def feedback_all() -> QuerySet[Feedback]:
    """Every rating of a call, unfiltered."""
    return Feedback.objects.all()


def feedback_positive_q() -> Q:
    """A positive rating: above 0 on the binary scale, above 3 on the five-point one."""
    return Q(scale=Feedback.Scale.BINARY, score__gt=0) | Q(scale=Feedback.Scale.FIVE, score__gt=3)


def feedback_normalised_score() -> Case:
    """A rating as -1.0 .. +1.0, in SQL - what ``Feedback.normalised_score`` computes in Python."""
    return Case(
        When(scale=Feedback.Scale.FIVE, then=(Cast("score", FloatField()) - 3.0) / 2.0),
        When(score__gt=0, then=Value(1.0)),
        default=Value(-1.0),
        output_field=FloatField(),
    )
