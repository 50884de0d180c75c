"""The daily rollups, recomputed from the ledger's events, never incremented.

A (day, team) slice touched by an ingest is marked dirty and later recomputed exactly from the events
(delete + insert, in one transaction), so recomputing is idempotent and cannot drift.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from datetime import date, datetime, time as dt_time, timedelta
from decimal import Decimal
from typing import cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, Q, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.redis import REDIS_ERRORS, get_sync_redis
from usage.models import DailyRollup, UsageEvent

logger = logging.getLogger(__name__)

RollupSlice = tuple[date, int | None]  # (day in the org's time zone, team id or None)


def _dirty_key() -> str:
    return f"{settings.TOKENWISE_LEDGER_STREAM}:dirty-rollups"


def rollup_day(moment: datetime) -> date:
    """The day a moment belongs to in the organisation's time zone (``settings.TIME_ZONE``)."""
    return moment.astimezone(timezone.get_default_timezone()).date()


def _slice_encode(item: RollupSlice) -> str:
    day, team_id = item
    return f"{day.isoformat()}|{'' if team_id is None else team_id}"


def _slice_decode(raw: bytes | str) -> RollupSlice:
    text = raw.decode() if isinstance(raw, bytes) else raw
    day, _, team = text.partition("|")
    return date.fromisoformat(day), (int(team) if team else None)


_queue_down_until = 0.0  # time.monotonic() before which Redis is not retried for marking (it just failed)
_QUEUE_RETRY_AFTER_S = 5.0


def usage_rollups_mark_dirty(*, slices: Iterable[RollupSlice]) -> None:
    """Queue rollup slices for recomputation by any worker (a Redis set).

    Without Redis, or when Redis fails, the slices are recomputed right here instead, so a rollup is
    never left stale for want of a queue; after a failure Redis is not retried for a few seconds, so a
    Redis outage (when the proxy writes events directly) does not add a connect timeout to every
    write. Call it after the events are committed.
    """
    global _queue_down_until
    slices = set(slices)
    if not slices:
        return
    client = get_sync_redis()
    if client is not None and time.monotonic() >= _queue_down_until:
        try:
            client.sadd(_dirty_key(), *[_slice_encode(item) for item in slices])
            return
        except REDIS_ERRORS:
            _queue_down_until = time.monotonic() + _QUEUE_RETRY_AFTER_S
            logger.warning("rollup queue unreachable; refreshing %d slices inline", len(slices))
    usage_rollups_refresh(slices=slices)


def _slice_lock(item: RollupSlice) -> None:
    """Serialise recomputations of one slice (PostgreSQL advisory lock, released at commit).

    SQLite needs none: its transactions take the database write lock up front (IMMEDIATE mode).
    """
    if connection.vendor == "postgresql":
        digest = hashlib.blake2b(f"tokenwise-rollup:{_slice_encode(item)}".encode(), digest_size=8).digest()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_default_timezone()
    return (
        datetime.combine(day, dt_time.min, tzinfo=zone),
        datetime.combine(day + timedelta(days=1), dt_time.min, tzinfo=zone),
    )


@transaction.atomic
def _rollup_slice_recompute(item: RollupSlice) -> None:
    day, team_id = item
    _slice_lock(item)
    start, end = _day_bounds(day)
    events = UsageEvent.objects.filter(created_at__gte=start, created_at__lt=end)
    events = events.filter(team__isnull=True) if team_id is None else events.filter(team_id=team_id)
    aggregates = (
        events.annotate(rollup_model=Case(When(model_served="", then=F("model_requested")), default=F("model_served")))
        .values("user_id", "rollup_model")
        .annotate(
            n_requests=Count("id"),
            n_errors=Count("id", filter=Q(status__gte=400)),
            sum_prompt=Sum("prompt_tokens"),
            sum_completion=Sum("completion_tokens"),
            sum_cached=Sum("cached_tokens"),
            sum_reasoning=Sum("reasoning_tokens"),
            sum_total=Sum("total_tokens"),
            sum_cost=Sum("cost_usd"),
            n_unpriced=Count("id", filter=Q(cost_usd__isnull=True)),
        )
        .order_by()
    )
    rollups = [
        DailyRollup(
            day=day,
            user_id=row["user_id"],
            team_id=team_id,
            model=row["rollup_model"],
            requests=row["n_requests"],
            errors=row["n_errors"],
            prompt_tokens=row["sum_prompt"],
            completion_tokens=row["sum_completion"],
            cached_tokens=row["sum_cached"],
            reasoning_tokens=row["sum_reasoning"],
            total_tokens=row["sum_total"],
            cost_usd=row["sum_cost"] or Decimal(0),
            unpriced_requests=row["n_unpriced"],
        )
        for row in aggregates
    ]
    stale = DailyRollup.objects.filter(day=day)
    stale = stale.filter(team__isnull=True) if team_id is None else stale.filter(team_id=team_id)
    stale.delete()
    DailyRollup.objects.bulk_create(rollups)


def usage_rollups_refresh(*, slices: Iterable[RollupSlice] | None = None, time_budget_s: float = 60.0) -> int:
    """Recompute the rollups of the given (day, team) slices, or of the slices queued as dirty.

    Each slice is recomputed exactly from the events, in its own transaction under a per-slice lock:
    idempotent, safe to run on several workers at once. Queued slices are popped from Redis and pushed
    back if their recomputation fails (the error propagates). Without ``slices`` the queue is drained
    until empty or until ``time_budget_s`` is spent. Returns the number of slices recomputed.
    """
    if slices is not None:
        unique = set(slices)
        for item in sorted(unique, key=_slice_encode):
            _rollup_slice_recompute(item)
        return len(unique)
    client = get_sync_redis()
    if client is None:
        return 0  # embedded mode: slices are recomputed inline at ingest, nothing is ever queued
    deadline, done = time.monotonic() + time_budget_s, 0
    while time.monotonic() < deadline:
        # With a count SPOP answers a list (redis-py's annotation says a set, which would not slice).
        popped = cast(list[bytes | str], client.spop(_dirty_key(), 100))
        if not popped:
            break
        for index, raw in enumerate(popped):
            try:
                _rollup_slice_recompute(_slice_decode(raw))
            except Exception:
                client.sadd(_dirty_key(), *popped[index:])
                raise
            done += 1
    return done


def usage_rollups_rebuild(*, since: date | None = None, until: date | None = None) -> int:
    """Recompute every rollup slice between two days (inclusive; open-ended when None).

    Covers the slices that have events and those that only have (now stale) rollups, so rollups of
    deleted events disappear too. Idempotent. Returns the number of slices recomputed.
    """
    events, rollups = UsageEvent.objects.all(), DailyRollup.objects.all()
    if since is not None:
        events, rollups = events.filter(created_at__gte=_day_bounds(since)[0]), rollups.filter(day__gte=since)
    if until is not None:
        events, rollups = events.filter(created_at__lt=_day_bounds(until)[1]), rollups.filter(day__lte=until)
    zone = timezone.get_default_timezone()
    slices = set(
        events.annotate(day=TruncDate("created_at", tzinfo=zone)).values_list("day", "team_id").distinct().order_by()
    )
    slices.update(rollups.values_list("day", "team_id").distinct().order_by())
    return usage_rollups_refresh(slices=slices)
