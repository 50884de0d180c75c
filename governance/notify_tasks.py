"""Celery tasks that services queue: a budget alert to record and notify, a new flag to e-mail.

Registered under their historical names (``governance.tasks.*``) and re-exported by ``governance.tasks``.
They call the worker-side services (``alert_notify``, ``flag_notify``), which never queue tasks: the
queueing services import this module, and nothing here imports them.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(
    name="governance.tasks.alert_raise_task",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def alert_raise_task(payload: dict[str, Any]) -> int | None:
    """Record and notify one budget threshold crossing (``alert_raise``); idempotent. Returns the alert id."""
    from governance.services.alert_notify import alert_raise

    alert = alert_raise(payload=payload)
    return None if alert is None else alert.pk


@shared_task(
    name="governance.tasks.flag_notify_task",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def flag_notify_task(flag_id: int) -> int:
    """E-mail a newly raised flag to its team's managers and the person flagged (``flag_notify``).

    Once per flag (a redelivery sends nothing); a flag deleted meanwhile is skipped. Returns e-mails sent.
    """
    from governance.models import Flag
    from governance.services.flag_notify import flag_notify

    flag = Flag.objects.select_related("user", "team").filter(pk=flag_id).first()
    return 0 if flag is None else flag_notify(flag=flag)
