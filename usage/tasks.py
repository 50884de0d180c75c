"""Celery tasks of the ledger (scheduled by ``CELERY_BEAT_SCHEDULE``, which names them ``usage.tasks.…``).

Thin interfaces over ``usage.ledger``, kept in the app's ``tasks`` module where Celery's autodiscovery
finds them.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import Error as DatabaseError

from core.redis import REDIS_ERRORS
from usage.ledger.rollups import usage_rollups_refresh
from usage.ledger.spool import usage_spool_drain
from usage.ledger.stream import usage_stream_drain

logger = logging.getLogger(__name__)


# Beat sends one every second; a flush that waited longer than this in the queue is redundant.
@shared_task(ignore_result=True, expires=10)
def usage_events_flush_task(time_budget_s: float = 4.0) -> int:
    """Drain the ledger stream into the database for up to ``time_budget_s``; returns events inserted.

    Idempotent and safe on several workers (consumer group + idempotent ingest). When the database or
    Redis is unreachable it logs and returns 0: unacknowledged entries stay pending and are reclaimed
    by a later run, so nothing is lost.
    """
    try:
        result = usage_stream_drain(time_budget_s=time_budget_s, claim_idle_ms=settings.TOKENWISE_LEDGER_CLAIM_IDLE_MS)
        spooled = usage_spool_drain()  # events this host could only write to local disk (double outage)
    except DatabaseError:
        logger.warning("ledger flush: database unavailable; entries left pending", exc_info=True)
        return 0
    except REDIS_ERRORS:
        logger.warning("ledger flush: Redis unavailable", exc_info=True)
        return 0
    if result.dead:
        logger.error("ledger flush: %d unreadable entries moved to the dead-letter stream", result.dead)
    return result.inserted + spooled


@shared_task(ignore_result=True)
def usage_rollups_refresh_task() -> int:
    """Recompute the daily rollup slices queued as dirty; returns how many. Idempotent."""
    return usage_rollups_refresh()


@shared_task(ignore_result=True)
def usage_events_prune_task() -> int:
    """Delete raw usage events past ``TOKENWISE_RETENTION_DAYS`` (rollups are kept); returns how many.

    Idempotent; deletes in short batches. Scheduled daily by ``CELERY_BEAT_SCHEDULE``.
    """
    from usage.ledger.retention import usage_events_prune

    return usage_events_prune(days=settings.TOKENWISE_RETENTION_DAYS)


@shared_task(ignore_result=True)
def usage_partitions_ensure_task(months_ahead: int = 3) -> int:
    """PostgreSQL: create the usage-event partitions of the coming months; returns how many. Idempotent.

    Scheduled daily by ``CELERY_BEAT_SCHEDULE``; does nothing on SQLite or an unpartitioned table.
    """
    from usage.ledger.partitions import usage_partitions_ensure

    return len(usage_partitions_ensure(months_ahead=months_ahead))
