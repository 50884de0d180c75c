"""Seeding helpers for the page tests: rollups, usage events, flags, outcomes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from governance.models import Flag, Team
from usage.models import DailyRollup, UsageEvent

PASSWORD = "correct horse battery staple"


def rollup_add(
    *,
    day: date,
    user,
    team: Team,
    model: str = "gpt-4o-mini",
    requests: int = 1,
    tokens: int = 1000,
    cost: str = "0.01",
    unpriced: int = 0,
) -> DailyRollup:
    return DailyRollup.objects.create(
        day=day,
        user=user,
        team=team,
        model=model,
        requests=requests,
        prompt_tokens=tokens,
        total_tokens=tokens,
        cost_usd=Decimal(cost),
        unpriced_requests=unpriced,
    )


def event_add(
    *,
    user,
    team: Team,
    request_id: str,
    when: datetime | None = None,
    tokens: int = 100,
    cost: str = "0.001",
    model: str = "gpt-4o-mini",
) -> UsageEvent:
    return UsageEvent.objects.create(
        request_id=request_id,
        created_at=when or timezone.now(),
        user=user,
        team=team,
        endpoint="chat.completions",
        model_requested=model,
        model_served=model,
        status=200,
        prompt_tokens=tokens,
        total_tokens=tokens,
        cost_usd=Decimal(cost),
    )


def flag_add(
    *, user, team: Team, detector: str = "repetition", summary: str = "82% of prompts are near-identical.", **evidence
) -> Flag:
    today = timezone.localdate()
    start = datetime.combine(today - timedelta(days=7), time.min, tzinfo=timezone.get_default_timezone())
    return Flag.objects.create(
        user=user,
        team=team,
        detector=detector,
        score=4.2,
        period_start=start,
        period_end=start + timedelta(days=7),
        evidence={"summary": summary, **evidence},
    )


def sign_in(client, user) -> None:
    client.force_login(user)
