"""Reads for the integrations' pages and API: GitHub identities with what waits on them, and the value
signals of a person or team by kind and source (the report panels)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta

from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from governance.models import GithubIdentity
from usage.models import GithubDelivery, Outcome


def github_identities_list(*, mapped: bool | None = None) -> QuerySet[GithubIdentity]:
    """GitHub logins seen or mapped, each with ``waiting`` (its signals not yet recorded for lack of a
    person) and its person loaded; unmapped logins first, the most waiting first. ``mapped`` filters."""
    waiting = (
        GithubDelivery.objects.filter(login=OuterRef("login"), status=GithubDelivery.Status.UNMAPPED)
        .order_by()
        .values("login")
        .annotate(count=Count("pk"))
        .values("count")
    )
    rows = GithubIdentity.objects.select_related("user").annotate(
        waiting=Coalesce(Subquery(waiting, output_field=IntegerField()), 0)
    )
    if mapped is not None:
        rows = rows.filter(user__isnull=not mapped)
    # nulls_first: PostgreSQL sorts NULLs last by default, SQLite first; unmapped logins lead on both.
    return rows.order_by(
        F("user_id").asc(nulls_first=True), "-waiting", F("last_seen_at").desc(nulls_last=True), "login"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class SignalRow:
    """Outcomes of one kind from one source in a period: all of them, and those that count."""

    kind: str
    source: str  # "github", "otlp", "service token", "person", "import", "legacy"
    count: int
    value: float
    counted_count: int
    counted_value: float
    self_reported_count: int  # reported by the very person they are about


def value_signals_by_source(
    *, start: date, end: date, team_id: int | None = None, user_id: int | None = None, team_ids: list[int] | None = None
) -> list[SignalRow]:
    """A person's or a team's outcomes between ``start`` and ``end`` (whole days, inclusive, in the
    organisation's time zone) grouped by kind and source, with the share that counts for value
    (``outcomes_trusted``: trusted sources, no self-reports unless allowed) and how many are
    self-reports. ``team_ids`` narrows to those teams (a manager's view of a person); None: every
    team. One query."""
    from governance.selectors.value_sources import outcomes_trusted_q

    zone = timezone.get_default_timezone()
    since = datetime.combine(start, time.min, tzinfo=zone)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    scope = {
        key: value
        for key, value in (("team_id", team_id), ("user_id", user_id), ("team_id__in", team_ids))
        if value is not None
    }
    counted = outcomes_trusted_q()
    rows = (
        Outcome.objects.filter(occurred_at__gte=since, occurred_at__lt=until, **scope)
        .values("kind", "source_kind", "integration")
        .annotate(
            count=Count("pk"),
            counted_count=Count("pk", filter=counted),
            counted_value=Sum("value", filter=counted),
            total_value=Sum("value"),
            self_reported_count=Count("pk", filter=Q(reported_by=F("user"))),
        )
        .order_by("kind", "source_kind", "integration")
    )
    return [
        SignalRow(
            kind=row["kind"],
            source=row["integration"] or row["source_kind"].replace("_", " "),
            count=row["count"],
            value=float(row["total_value"] or 0),
            counted_count=row["counted_count"],
            counted_value=float(row["counted_value"] or 0),
            self_reported_count=row["self_reported_count"],
        )
        for row in rows
    ]
