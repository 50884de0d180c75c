"""The weekly digest: each manager gets one e-mail summarising last week's report of each of their teams.

Idempotent per (manager, week): a redelivered or repeated task never sends a second e-mail for the same
week (a marker in the shared cache, set only after the send succeeded).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from governance.periods import Period, budget_period
from governance.selectors.directory import managers_active, teams_managed_as_member
from governance.selectors.team import TeamReport, team_report

logger = logging.getLogger(__name__)

_SENT_KEY = "digest-sent:{user_id}:{week}"
_SENT_TTL_S = 14 * 24 * 3600


def digest_week(*, today: date) -> Period:
    """The last full week (Monday to Sunday) before ``today``."""
    this_monday = today - timedelta(days=today.weekday())
    return Period(start=this_monday - timedelta(days=7), end=this_monday - timedelta(days=1))


@dataclasses.dataclass(frozen=True, slots=True)
class DigestTeam:
    report: TeamReport  # last week
    month: TeamReport  # the month so far: its budget burn-down
    previous_cost_usd: Decimal  # the week before, to compare
    url: str

    @property
    def cost_change(self) -> float | None:
        if not self.previous_cost_usd:
            return None
        return float((self.report.totals.cost_usd - self.previous_cost_usd) / self.previous_cost_usd)


@dataclasses.dataclass(frozen=True, slots=True)
class Digest:
    week: Period
    teams: list[DigestTeam]


def digest_build(*, manager, today: date) -> Digest:
    """The digest of every team ``manager`` manages (by membership, not admin rights), for last week."""
    week = digest_week(today=today)
    before = Period(start=week.start - timedelta(days=7), end=week.end - timedelta(days=7))
    month = budget_period(name="month", anchor=today - timedelta(days=1))
    base_url = settings.TOKENWISE_BASE_URL.rstrip("/")
    teams = []
    for team in teams_managed_as_member(user=manager).order_by("slug"):
        report = team_report(team=team, period=week, today=today)
        url = (
            f"{base_url}{reverse('governance:team_report', args=[team.slug])}"
            f"?start={week.start.isoformat()}&end={week.end.isoformat()}"
        )
        teams.append(
            DigestTeam(
                report=report,
                month=team_report(team=team, period=month, today=today),
                previous_cost_usd=team_report(team=team, period=before, today=today).totals.cost_usd,
                url=url,
            )
        )
    return Digest(week=week, teams=teams)


def digest_send(*, manager, today: date | None = None) -> bool:
    """E-mail last week's digest to ``manager``; return whether an e-mail went out.

    Nothing is sent to a person with no e-mail address or no team to manage, nor twice for one week.
    Raises what the mail backend raises (the task retries); the week is marked sent only after success.
    """
    today = today or timezone.localdate()
    if not manager.email:
        return False
    digest = digest_build(manager=manager, today=today)
    if not digest.teams:
        return False
    sent_key = _SENT_KEY.format(user_id=manager.pk, week=digest.week.start.isoformat())
    if cache.get(sent_key):
        return False
    context = {"digest": digest, "manager": manager, "base_url": settings.TOKENWISE_BASE_URL.rstrip("/")}
    subject = f"Tokenwise weekly digest: {digest.week.start:%d %b} – {digest.week.end:%d %b %Y}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("governance/email/weekly_digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[manager.email],
    )
    message.attach_alternative(render_to_string("governance/email/weekly_digest.html", context), "text/html")
    message.send()
    cache.set(sent_key, 1, timeout=_SENT_TTL_S)
    return True


def digests_send_all(*, today: date | None = None) -> int:
    """Send the weekly digest to every manager; return how many e-mails went out.

    One manager's failure is logged and does not stop the others.
    """
    today = today or timezone.localdate()
    sent = 0
    for manager in managers_active():
        try:
            sent += digest_send(manager=manager, today=today)
        except Exception:
            logger.exception("weekly digest to user %s failed", manager.pk)
    return sent
