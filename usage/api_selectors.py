"""What an API caller may read of the ledger: usage events and daily rollups, narrowed to their access.

A caller reads the rows of the teams they read team-wide (``Access.team_ids_for(read_reports)``) and,
for a person, their own rows in any team. A manager never sees what a member of their team did in
another team.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from governance.api_permissions import READ, Access
from usage.models import DailyRollup, Feedback, Outcome, OutcomeKind, UsageEvent
from usage.value import CallOwner, call_owner_from_db

GROUPS = ("day", "team", "user", "model")
_GROUP_FIELDS = {"day": "day", "team": "team_id", "user": "user_id", "model": "model"}
ROLLUP_SUMS = {
    "requests": Sum("requests"),
    "errors": Sum("errors"),
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "cached_tokens": Sum("cached_tokens"),
    "reasoning_tokens": Sum("reasoning_tokens"),
    "total_tokens": Sum("total_tokens"),
    "cost_usd": Sum("cost_usd"),
    "unpriced_requests": Sum("unpriced_requests"),
}


def _visible(access: Access) -> Q | None:
    """None: every row; else the rows this caller may read (possibly none)."""
    teams = access.team_ids_for(READ)
    if teams is None:
        return None
    condition = Q(team_id__in=teams)
    if access.person_id is not None and access.has(READ):
        condition |= Q(user_id=access.person_id)
    return condition


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def usage_events_visible(
    *,
    access: Access,
    team_id: int | None = None,
    user_id: int | None = None,
    model: str | None = None,
    start: date | None = None,
    end: date | None = None,
    status: int | None = None,
    client: str | None = None,
    session_id: str | None = None,
) -> QuerySet[UsageEvent]:
    """Usage events the caller may read, filtered; days are whole days in the organisation's time zone.

    Prompt and output text are deferred: the API never returns them.
    """
    events = UsageEvent.objects.defer("prompt_text", "output_text")
    condition = _visible(access)
    if condition is not None:
        events = events.filter(condition)
    if team_id is not None:
        events = events.filter(team_id=team_id)
    if user_id is not None:
        events = events.filter(user_id=user_id)
    if model:
        events = events.filter(model_served=model)
    if start is not None:
        events = events.filter(created_at__gte=_day_start(start))
    if end is not None:
        events = events.filter(created_at__lt=_day_start(end + timedelta(days=1)))
    if status is not None:
        events = events.filter(status=status)
    if client:  # a product ("claude-cli") or a product/version ("claude-cli/2.1.332")
        events = events.filter(client=client) if "/" in client else events.filter(client__startswith=client + "/")
    if session_id:
        events = events.filter(session_id=session_id)
    return events


def usage_aggregate(
    *,
    access: Access,
    group_by: list[str],
    team_id: int | None = None,
    user_id: int | None = None,
    model: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> QuerySet | list[dict]:
    """Sums of the daily rollups the caller may read, grouped by any of day, team, user and model.

    Rows are dicts with the group fields (``day``, ``team_id``, ``user_id``, ``model``) and the sums of
    ``ROLLUP_SUMS``, ordered by the group fields; with no group, one row of totals. Raises ValueError for an unknown group.
    """
    unknown = set(group_by) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown groups: {sorted(unknown)}")
    rows = DailyRollup.objects.all()
    condition = _visible(access)
    if condition is not None:
        rows = rows.filter(condition)
    if team_id is not None:
        rows = rows.filter(team_id=team_id)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    if model:
        rows = rows.filter(model=model)
    if start is not None:
        rows = rows.filter(day__gte=start)
    if end is not None:
        rows = rows.filter(day__lte=end)
    fields = [_GROUP_FIELDS[name] for name in GROUPS if name in group_by]
    if not fields:  # no grouping: one row of totals
        return _total(rows)
    return rows.values(*fields).annotate(**ROLLUP_SUMS).order_by(*fields)


def _total(rows: QuerySet) -> list[dict]:
    sums = rows.aggregate(**ROLLUP_SUMS)
    return [{name: value or 0 for name, value in sums.items()}]


def outcomes_visible(*, access: Access) -> QuerySet[Outcome]:
    """Outcomes of the teams the caller reads team-wide, plus (for people) those about themselves."""
    outcomes = Outcome.objects.all()
    condition = _visible(access)
    return outcomes if condition is None else outcomes.filter(condition)


def outcome_kinds_all() -> QuerySet[OutcomeKind]:
    return OutcomeKind.objects.order_by("kind")


def feedback_visible(*, access: Access) -> QuerySet[Feedback]:
    """Feedback in the teams the caller reads team-wide, plus (for people) their own ratings."""
    feedback = Feedback.objects.all()
    condition = _visible(access)
    return feedback if condition is None else feedback.filter(condition)


def usage_event_owner(*, request_id: str) -> CallOwner | None:
    """Who made the call ``request_id`` (person and team), or None when the ledger has no such call."""
    return call_owner_from_db(request_id)


def request_ids_of_other_teams(*, request_ids: list[str], team_id: int) -> list[str]:
    """Those of ``request_ids`` that are recorded calls of another team (unknown ids are not listed:
    the ledger may not have written them yet)."""
    if not request_ids:
        return []
    rows = UsageEvent.objects.filter(request_id__in=request_ids).exclude(team_id=team_id)
    return sorted(rows.values_list("request_id", flat=True))


def outcome_by_external_id(*, external_id: str) -> Outcome | None:
    """The outcome recorded under ``external_id``, whoever reported it (for idempotent retries)."""
    return Outcome.objects.filter(external_id=external_id).first()
