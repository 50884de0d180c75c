"""Budget alerts, the worker's side: ``alert_raise`` records a crossing queued by
``governance.services.alerts`` (through ``alert_raise_task``) and notifies the team's managers - and the
person, for a personal budget - by e-mail and, when ``TOKENWISE_ALERT_WEBHOOK_URL`` is set, a
Slack-compatible webhook (``{"text": ...}``). Apart from the queueing side, so that the task imports
this module and the queueing side imports the task without a cycle.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.enforcement.counters import USD_UNITS
from governance.models import Alert, Team
from governance.selectors.directory import team_manager_emails

logger = logging.getLogger(__name__)


def _amount(metric: str, units: int | Decimal) -> Decimal:
    return Decimal(units) / USD_UNITS if metric == Alert.Metric.USD else Decimal(units)


def _amount_text(metric: str, value: Decimal) -> str:
    return f"${value:.2f}" if metric == Alert.Metric.USD else f"{int(value)} tokens"


def alert_message(alert: Alert, *, resets_at: datetime | None = None) -> tuple[str, str]:
    """(subject, text) of the notification."""
    if alert.scope == Alert.Scope.TEAM:
        who = f"team {alert.team.slug}"
    else:
        assert alert.user is not None  # a person's alert is raised for that person (alert_raise)
        who = f"{alert.user.email} in team {alert.team.slug}"
    adjective = {"day": "daily", "week": "weekly", "month": "monthly"}[alert.period]
    noun = "USD" if alert.metric == Alert.Metric.USD else "token"
    budget = f"{adjective} {noun} budget"
    used, limit = _amount_text(alert.metric, alert.used), _amount_text(alert.metric, alert.limit)
    if alert.is_exceeded:
        subject = f"[Tokenwise] {who}: {budget} exceeded"
        text = f"Budget alert for {who}: the {budget} of {limit} is exceeded (a call did not fit; used so far: {used})."
    else:
        subject = f"[Tokenwise] {who} reached {alert.threshold_percent}% of its {budget}"
        text = f"Budget alert for {who}: {used} used of the {budget} of {limit} ({alert.threshold_percent}%)."
    text += f" Period starting {alert.period_start.isoformat()}"
    text += f", resets at {resets_at.isoformat()}." if resets_at else "."
    return subject, text


def _recipients(alert: Alert) -> list[str]:
    emails = team_manager_emails(team_id=alert.team_id)
    person = alert.user if alert.scope == Alert.Scope.USER else None
    if person is not None and person.is_active and person.email and person.email not in emails:
        emails.append(person.email)
    return emails


def _webhook(text: str) -> str:
    url = settings.TOKENWISE_ALERT_WEBHOOK_URL
    if not url:
        return ""
    try:
        response = httpx.post(url, json={"text": text}, timeout=5.0)
        return str(response.status_code)
    except httpx.HTTPError as exc:
        logger.warning("alert webhook failed: %r", exc)
        return type(exc).__name__[:64]


def alert_raise(*, payload: dict[str, Any]) -> Alert | None:
    """Record one crossing and notify; idempotent (None when it was already raised).

    The row and the notification share one transaction: a crossing seen twice (two processes, a retried
    task) waits on the unique index for the first to commit, then finds it and notifies nobody; a
    failed e-mail rolls the row back so a retry notifies. The webhook never fails the alert.
    """
    team = Team.objects.get(pk=payload["team_id"])
    user = get_user_model().objects.get(pk=payload["user_id"]) if payload["user_id"] else None
    metric = Alert.Metric.USD if payload["metric"] == "usd" else Alert.Metric.TOKENS
    with transaction.atomic():
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    scope=payload["scope"],
                    team=team,
                    user=user,
                    metric=metric,
                    period=payload["period"],
                    period_start=date.fromisoformat(payload["period_start"]),
                    threshold_percent=payload["threshold"],
                    used=_amount(metric, payload["used"]),
                    limit=_amount(metric, payload["limit"]),
                    is_exceeded=payload["exceeded"],
                )
        except IntegrityError:
            return None
        resets_at = datetime.fromtimestamp(payload["period_end"], ZoneInfo(settings.TIME_ZONE))
        subject, text = alert_message(alert, resets_at=resets_at)
        alert.recipients = _recipients(alert)
        if alert.recipients:
            send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, alert.recipients)
        alert.webhook_status = _webhook(text)
        alert.notified_at = timezone.now()
        alert.save(update_fields=["recipients", "webhook_status", "notified_at"])
    return alert
