"""Celery tasks of governance. Each takes plain ids / JSON and calls one service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger(__name__)


# --- Policies: budget alerts and counter reconciliation -----------------------------------------------

@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def alert_raise_task(payload: dict[str, Any]) -> int | None:
    """Record and notify one budget threshold crossing (``alert_raise``); idempotent. Returns the alert id."""
    from governance.services.alerts import alert_raise

    alert = alert_raise(payload=payload)
    return None if alert is None else alert.pk


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


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def flag_notify_task(flag_id: int) -> int:
    """E-mail a newly raised flag to its team's managers and the person flagged (``flag_notify``).

    Once per flag (a redelivery sends nothing); a flag deleted meanwhile is skipped. Returns e-mails sent.
    """
    from governance.models import Flag
    from governance.services.flags import flag_notify

    flag = Flag.objects.select_related("user", "team").filter(pk=flag_id).first()
    return 0 if flag is None else flag_notify(flag=flag)


# --- Weekly digest to managers --------------------------------------------------------------------

@shared_task(ignore_result=True, expires=6 * 3600)
def weekly_digest_send_task() -> int:
    """E-mail each manager last week's summary of their teams (``digests_send_all``); returns e-mails sent.

    Celery beat runs it weekly (``TOKENWISE_DIGEST_DAY_OF_WEEK`` / ``_HOUR``). Idempotent per manager and
    week: a redelivered or repeated run sends nothing twice.
    """
    from governance.services.digest import digests_send_all

    return digests_send_all()
