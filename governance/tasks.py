"""Celery tasks of governance. Each takes plain ids / JSON and calls one service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

# The notification tasks, queued by services, live in governance.notify_tasks (imported here so Celery's
# autodiscovery registers them; their names stay governance.tasks.*): the services import them, and the
# tasks here import the services, without a cycle.
from governance.notify_tasks import alert_raise_task, flag_notify_task

__all__ = [
    "alert_raise_task",
    "counters_reconcile_task",
    "flag_notify_task",
    "flags_detect_task",
    "weekly_digest_send_task",
]

logger = logging.getLogger(__name__)


# --- Policies: counter reconciliation -----------------------------------------------


@shared_task(ignore_result=True, expires=600)
def counters_reconcile_task() -> dict[str, int]:
    """Compare the budget counters with the ledger and repair the drift (``counters_reconcile``)."""
    from governance.enforcement.reconcile import counters_reconcile

    report = counters_reconcile()
    if report.repaired:
        logger.warning("budget counters repaired from the ledger: %s", report.as_dict())
    return report.as_dict()


# --- Usage-chasing detection: flags ------------------------------------------------------------------


@shared_task(ignore_result=True, expires=3000)
def flags_detect_task() -> dict[str, Any]:
    """Run the detectors over the trailing ``TOKENWISE_DETECTION_WINDOW_DAYS`` and raise flags
    (``detection_run``). Hourly from Celery beat; idempotent (flags are de-duplicated)."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from governance.services.flags import detection_run

    end = timezone.now()
    run = detection_run(start=end - timedelta(days=settings.TOKENWISE_DETECTION_WINDOW_DAYS), end=end)
    summary = run.as_dict()
    logger.info("detection run: %s", summary)
    return summary


# --- Weekly digest to managers --------------------------------------------------------------------


@shared_task(ignore_result=True, expires=6 * 3600)
def weekly_digest_send_task() -> int:
    """E-mail each manager last week's summary of their teams (``digests_send_all``); returns e-mails sent.

    Celery beat runs it weekly (``TOKENWISE_DIGEST_DAY_OF_WEEK`` / ``_HOUR``). Idempotent per manager and
    week: a redelivered or repeated run sends nothing twice.
    """
    from governance.services.digest import digests_send_all

    return digests_send_all()
