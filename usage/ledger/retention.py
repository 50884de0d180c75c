"""Data retention: raw usage events older than ``TOKENWISE_RETENTION_DAYS`` are deleted; rollups stay.

Reports over long periods read ``DailyRollup``, which is kept forever; detectors and exports of single
calls need the raw events only for recent weeks. Pruning works on whole days of the organisation's time
zone, so a day's rollup is never left half-backed by events.
"""

from __future__ import annotations

import logging
from datetime import datetime, time as dt_time, timedelta

from django.db import transaction
from django.utils import timezone

from usage.ledger.partitions import usage_events_partitioned, usage_partitions_drop
from usage.ledger.rollups import usage_rollups_refresh
from usage.models import UsageEvent

logger = logging.getLogger(__name__)

_DELETE_BATCH = 5000  # rows per DELETE: short transactions, no long lock on the ledger


def retention_cutoff(*, days: int, now: datetime | None = None) -> datetime:
    """Start of the organisation's day ``days`` days ago: events before it are past retention."""
    zone = timezone.get_default_timezone()
    today = (now or timezone.now()).astimezone(zone).date()
    return datetime.combine(today - timedelta(days=days), dt_time.min, tzinfo=zone)


def usage_events_prune(*, days: int, now: datetime | None = None) -> int:
    """Delete raw usage events older than ``days`` whole days; returns how many were deleted.

    First recomputes every rollup slice still queued as dirty, so no pruned day is later recomputed
    from missing events. On PostgreSQL, whole monthly partitions before the cutoff's month are dropped
    (``usage_partitions_drop``, instant); the rest is deleted in batches of ``_DELETE_BATCH`` (each its
    own transaction). Safe to interrupt and to run again. ``days`` <= 0 keeps everything (returns 0).
    The count returned includes the rows of dropped partitions. Daily rollups are never touched. Do not
    run ``usage_rollups_rebuild`` over pruned days: it would recompute them from nothing.
    """
    if days <= 0:
        return 0
    usage_rollups_refresh()
    cutoff = retention_cutoff(days=days, now=now)
    deleted = 0
    if usage_events_partitioned():
        older = UsageEvent.objects.filter(created_at__lt=cutoff.replace(day=1))
        before = older.count()
        dropped = usage_partitions_drop(before=cutoff.date())
        deleted = before - older.count()  # rows of old months in the default partition remain: batches
        if dropped:
            logger.info("retention: dropped partitions %s (%d events)", ", ".join(dropped), deleted)
    while True:
        ids = list(
            UsageEvent.objects.filter(created_at__lt=cutoff).order_by().values_list("id", flat=True)[:_DELETE_BATCH]
        )
        if not ids:
            break
        with transaction.atomic():
            deleted += UsageEvent.objects.filter(id__in=ids).delete()[0]
    if deleted:
        logger.info("retention: deleted %d usage events before %s", deleted, cutoff.isoformat())
    return deleted
