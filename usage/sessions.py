"""Selectors: a person's coding-agent sessions and clients (Claude Code, Codex CLI, SDKs) from the ledger.

A session is the calls that carry one ``session_id`` (``usage.proxy.client_info``). Read from the events
themselves (the daily rollups keep no session), over whole days of the organisation's time zone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from usage.models import UsageEvent

SESSIONS_SHOWN = 20


@dataclasses.dataclass(frozen=True, slots=True)
class AgentActivity:
    sessions: Sequence[
        Mapping[str, Any]
    ]  # per session, most recent first: session_id, client, calls, tokens, cost, first, last, subagent_tokens
    sessions_per_day: Sequence[Mapping[str, Any]]  # day, sessions
    clients: Sequence[Mapping[str, Any]]  # client, calls, tokens, cost


def _events(*, user, start: date, end: date) -> QuerySet[UsageEvent]:
    zone = timezone.get_default_timezone()
    since = timezone.make_aware(datetime.combine(start, time.min), zone)
    until = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), zone)
    return UsageEvent.objects.filter(user=user, created_at__gte=since, created_at__lt=until)


def agent_activity_for_user(*, user, start: date, end: date) -> AgentActivity:
    """Cost per session, sessions per day and tokens by client, for one person's calls in [start, end]."""
    events = _events(user=user, start=start, end=end)
    with_session = events.exclude(session_id="")
    sessions = list(
        with_session.values("session_id")
        .annotate(
            client=Max("client"),
            calls=Count("id"),
            tokens=Sum("total_tokens"),
            cost=Sum("cost_usd"),
            first=Min("created_at"),
            last=Max("created_at"),
            subagent_tokens=Sum("total_tokens", filter=~Q(agent_id="")),
        )
        .order_by("-last")[:SESSIONS_SHOWN]
    )
    per_day = list(
        with_session.annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(sessions=Count("session_id", distinct=True))
        .order_by("day")
    )
    clients = list(
        events.exclude(client="")
        .values("client")
        .annotate(calls=Count("id"), tokens=Sum("total_tokens"), cost=Sum("cost_usd"))
        .order_by("-tokens")
    )
    for row in sessions + clients:
        row["cost"] = row["cost"] or Decimal(0)
    return AgentActivity(sessions=sessions, sessions_per_day=per_day, clients=clients)


def session_calls_for_user(*, user, session_id: str) -> QuerySet[UsageEvent]:
    """One session's calls, in the order they were made."""
    return (
        UsageEvent.objects.filter(user=user, session_id=session_id)
        .defer("prompt_text", "output_text")
        .order_by("created_at", "pk")
    )
