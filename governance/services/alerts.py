"""Budget alerts: a team or a person reaching a threshold of a budget, notified once per period.

Admission and settlement see a crossing in their script's result (the counter remembers the highest
level already raised this period, so each process sees a crossing once); ``alert_crossings_queue`` hands
it to ``alert_raise_task`` from a worker thread, so the hot path never waits on the broker. The task
calls ``alert_raise`` (``governance.services.alert_notify``): it records the alert (unique per team/person, metric, period, threshold) and
notifies the team's managers - and the person, for a personal budget - by e-mail and, when
``TOKENWISE_ALERT_WEBHOOK_URL`` is set, a Slack-compatible webhook (``{"text": ...}``).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from django.db import connection

logger = logging.getLogger(__name__)


def alert_payload(*, budget, level: int, used: int, exceeded: bool) -> dict[str, Any]:
    """The JSON the task receives for one crossing of a ``BudgetCheck``."""
    return {
        "scope": budget.scope,
        "team_id": budget.team_id,
        "user_id": budget.user_id,
        "metric": budget.unit,
        "period": budget.period.kind,
        "period_start": budget.period.start.isoformat(),
        "period_end": budget.period.ends_at,
        "threshold": level,
        "used": used,
        "limit": budget.limit,
        "exceeded": exceeded,
    }


def _enqueue(payloads: list[dict[str, Any]]) -> None:
    from governance.notify_tasks import alert_raise_task

    try:
        for payload in payloads:
            alert_raise_task.delay(payload)
    except Exception:  # an alert must never break a call; the crossing is lost, so say so loudly
        logger.exception("could not queue budget alerts %s", payloads)
    finally:
        connection.close()  # an eager task (embedded mode) used this worker thread's own connection


# Crossings are rare: one small thread keeps the broker (or, embedded, the eager task) off the event loop.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenwise-alerts")
_pending: set[Future] = set()


def alert_crossings_queue(*, items: list[tuple[Any, int, int, bool]]) -> None:
    """Queue one alert task per (budget, level, used, exceeded) without blocking the caller."""
    payloads = [
        alert_payload(budget=b, level=level, used=used, exceeded=exceeded) for b, level, used, exceeded in items
    ]
    future = _executor.submit(_enqueue, payloads)
    _pending.add(future)
    future.add_done_callback(_pending.discard)


def alerts_queued_wait(timeout_s: float = 30.0) -> None:
    """Block until the alerts handed over so far are queued (or, eager, raised). For shutdown and tests."""
    wait(list(_pending), timeout=timeout_s)
