"""Reads for usage-chasing detection: the detectors' inputs, their thresholds, and flags as records.

``detection_inputs`` turns one window of the ledger into the plain records the pure detectors read
(``governance.detectors.base``). It is built for a million events (figures in docs/performance.md): one
ORM ``values_list`` query, its rows streamed from PostgreSQL in binary (no model instances, no per-row
Python parsing) person by person, the served model, cost and fingerprints shaped in SQL, and one
``EventRecord`` built per row with the garbage collector paused. Value signals, announced targets and
the period ends inside the window come from a handful of small queries.

``detection_thresholds`` resolves each team's detector thresholds from policy; ``flag_records`` is the
``export_flags`` format.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import starmap
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F, FloatField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from governance.detectors import EventRecord, OutcomeRecord, Target, Thresholds, ValueSignals
from governance.models import Flag, Policy, UsageTarget
from governance.selectors.value_sources import outcomes_trusted
from usage.selectors import feedback_all, feedback_normalised_score, outcome_kinds_all, usage_events_all

logger = logging.getLogger(__name__)

EVENT_CHUNK_SIZE = 20_000

# The order of EventRecord's fields: each names a UsageEvent column or an annotation below.
EVENT_COLUMNS = (
    "request_id",
    "created_at",
    "user_id",
    "team_id",
    "detection_model",
    "endpoint",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "detection_cost",
    "max_tokens",
    "stream",
    "client_disconnected",
    "prompt_hash",
    "detection_prompt_simhash",
    "detection_output_simhash",
)


def _event_record_factory() -> Callable[..., EventRecord]:
    """A fast ``EventRecord(*row)``.

    A frozen dataclass sets each field through ``object.__setattr__`` in ``__init__``, which makes it
    about four times slower to build than a plain slotted class - seconds over a million rows. So the
    row is built as an unfrozen twin with the same slots, then given EventRecord's class (same memory
    layout; the result is an ordinary, frozen EventRecord). Falls back to the constructor if
    EventRecord ever stops being a slotted dataclass.
    """
    names = tuple(f.name for f in dataclasses.fields(EventRecord))
    if getattr(EventRecord, "__slots__", None) != names:
        return EventRecord
    twin = dataclasses.make_dataclass("EventRecordRow", names, slots=True, eq=False, repr=False)

    def make(*row: Any) -> EventRecord:
        record = twin(*row)
        record.__class__ = EventRecord
        return record

    return make


_make_event_record = _event_record_factory()


def _event_rows(queryset: QuerySet, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    """The rows of a ``values_list`` queryset, streamed.

    On PostgreSQL: psycopg's ``stream`` in *binary* format, straight from the driver. The server sends
    the rows without waiting for the client to ask for each batch (a server-side cursor's FETCHes would
    leave it idle in between), and binary timestamps skip Django's text time-zone loader, which parses
    each one in Python: together about three times faster over a million rows. Types come out as
    Django's would: aware datetimes in the session's time zone (UTC), ints, floats, str, bool, None.
    Elsewhere: ``queryset.iterator``.
    """
    if connection.vendor != "postgresql":
        yield from queryset.iterator(chunk_size=chunk_size)
        return
    import psycopg  # only on PostgreSQL (the embedded quick start runs on SQLite without it)

    sql, params = queryset.query.sql_with_params()
    connection.ensure_connection()
    # Django's cursors bind parameters client-side, which rules out binary results: use psycopg's own.
    with psycopg.Cursor(connection.connection) as cursor:
        yield from cursor.stream(sql, params, binary=True, size=chunk_size)


def detection_events(*, start: datetime, end: datetime, chunk_size: int = EVENT_CHUNK_SIZE) -> list[EventRecord]:
    """Every usage event with ``start <= created_at < end`` that has a person and a team, as records.

    Any status (the detectors drop blocked and failed calls themselves); ordered by person (user, team),
    then time, then id. ``model``
    is the served model, else the requested one; cost a float or None (unknown); a missing SimHash is
    0 ("no fingerprint"). One streamed query; datetimes are aware UTC.
    """
    queryset = (
        usage_events_all()
        .filter(created_at__gte=start, created_at__lt=end, user_id__isnull=False, team_id__isnull=False)
        .annotate(
            detection_model=Coalesce(NullIf(F("model_served"), Value("")), F("model_requested")),
            detection_cost=Cast("cost_usd", FloatField()),
            detection_prompt_simhash=Coalesce(F("prompt_simhash"), Value(0)),
            detection_output_simhash=Coalesce(F("output_simhash"), Value(0)),
        )
        # Person by person: the records of one person are then built next to each other in memory, and
        # the detectors, which walk the calls person by person, run about a third faster.
        .order_by("user_id", "team_id", "created_at", "pk")
        .values_list(*EVENT_COLUMNS)
    )
    with _gc_paused():
        return list(starmap(_make_event_record, _event_rows(queryset, chunk_size)))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a million new records would otherwise trigger dozens of full
    collections, each walking every record built so far (most of the build time). Records hold no
    cycles, so nothing is missed; the collector is back on (if it was) when the block ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def feedback_scores(*, since: datetime) -> dict[str, float]:
    """request_id -> mean normalised score (-1.0 .. +1.0) of the ratings given at or after ``since``.

    Normalised as ``Feedback.normalised_score`` does, in SQL. A call rated by several keys gets the mean.
    """
    normalised = feedback_normalised_score()
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    rows = feedback_all().filter(created_at__gte=since).order_by().values_list("request_id", normalised)
    for request_id, score in rows.iterator(chunk_size=EVENT_CHUNK_SIZE):
        sums[request_id] += score
        counts[request_id] += 1
    return {request_id: sums[request_id] / counts[request_id] for request_id in sums}


def outcome_records(*, start: datetime, end: datetime) -> list[OutcomeRecord]:
    """Outcomes that occurred in ``[start, end)`` from sources admins trust (``outcomes_trusted``), each
    weighted ``value x`` its kind's weight (1 if unset)."""
    kind_weight = outcome_kinds_all().filter(kind=OuterRef("kind")).values("weight")[:1]
    rows = (
        outcomes_trusted()
        .filter(occurred_at__gte=start, occurred_at__lt=end)
        .annotate(detection_weight=Coalesce(Subquery(kind_weight), Value(1), output_field=FloatField()))
        .order_by("occurred_at", "pk")
        .values_list("user_id", "team_id", "occurred_at", "kind", "value", "detection_weight", "request_ids")
    )
    return [
        OutcomeRecord(
            user_id=user_id,
            team_id=team_id,
            occurred_at=occurred_at,
            kind=kind,
            weight=float(value) * float(weight),
            request_ids=tuple(str(r) for r in request_ids) if isinstance(request_ids, list) else (),
        )
        for user_id, team_id, occurred_at, kind, value, weight, request_ids in rows.iterator()
    ]


def usage_targets(*, before: datetime) -> list[Target]:
    """Every usage target and review announced before ``before`` (earlier ones may still be in force)."""
    rows = (
        UsageTarget.objects.filter(announced_at__lt=before)
        .order_by("announced_at", "pk")
        .values_list("announced_at", "kind", "team_id", "tokens_per_day")
    )
    return [
        Target(announced_at=at, kind=kind, team_id=team_id, tokens_per_day=tokens) for at, kind, team_id, tokens in rows
    ]


def period_ends(*, start: datetime, end: datetime) -> list[datetime]:
    """Month boundaries (midnight on the 1st, in ``settings.TIME_ZONE``) with ``start < P <= end``, in UTC.

    These are the reporting-period ends the period-end surge detector looks before.
    """
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    local = start.astimezone(zone)
    year, month = local.year, local.month
    ends: list[datetime] = []
    while True:
        month += 1
        if month == 13:
            year, month = year + 1, 1
        boundary = datetime(year, month, 1, tzinfo=zone)
        if boundary > end:
            return ends
        if boundary > start:
            ends.append(boundary.astimezone(UTC))


def detection_signals(*, start: datetime, end: datetime) -> ValueSignals:
    """The value signals, targets and period ends for the window ``[start, end)`` (four small queries).

    Feedback counts whenever it was given after ``start`` (calls are rated after they are made, and a
    late rating of a call in the window still says what it was worth).
    """
    return ValueSignals(
        feedback=feedback_scores(since=start),
        outcomes=outcome_records(start=start, end=end),
        targets=usage_targets(before=end),
        period_ends=period_ends(start=start, end=end),
    )


def detection_inputs(*, start: datetime, end: datetime) -> tuple[list[EventRecord], ValueSignals]:
    """The detectors' input for the half-open window ``[start, end)``: events and value signals.

    Raises ValueError when ``start >= end`` or either is naive.
    """
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("start and end must be timezone-aware")
    if start >= end:
        raise ValueError("start must be before end")
    return detection_events(start=start, end=end), detection_signals(start=start, end=end)


# --- Thresholds per team ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThresholdPlan:
    """The thresholds of each team (teams without any are on ``default``) and policy problems found."""

    default: Thresholds
    by_team: Mapping[int, Thresholds] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def for_team(self, team_id: int) -> Thresholds:
        return self.by_team.get(team_id, self.default)

    def groups(self, team_ids: Iterable[int]) -> list[tuple[Thresholds, set[int]]]:
        """``team_ids`` grouped by the thresholds that govern them (one detection pass per group)."""
        grouped: dict[Thresholds, set[int]] = {}
        for team_id in team_ids:
            grouped.setdefault(self.for_team(team_id), set()).add(team_id)
        return list(grouped.items())


def _policy_overrides(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object of thresholds, got {type(raw).__name__}")
    return raw


def detection_thresholds() -> ThresholdPlan:
    """Each team's detector thresholds: defaults, overridden per key by the organisation policy's
    ``detector_thresholds``, then by the team policy's (person-level policies do not tune detection).

    Never raises for bad policy values: an invalid team setting falls back to the organisation's
    thresholds, an invalid organisation setting to the defaults, and each problem is logged and listed.
    """
    problems: list[str] = []
    org_raw = Policy.objects.filter(scope=Policy.Scope.ORG).values_list("detector_thresholds", flat=True).first()
    try:
        org_overrides = _policy_overrides(org_raw)
        default = Thresholds.from_policy(org_overrides)
    except ValueError as exc:
        problems.append(f"organisation policy: {exc}; using the default thresholds")
        org_overrides, default = {}, Thresholds()
    by_team: dict[int, Thresholds] = {}
    rows = Policy.objects.filter(scope=Policy.Scope.TEAM, detector_thresholds__isnull=False).values_list(
        "team_id", "team__slug", "detector_thresholds"
    )
    for team_id, slug, raw in rows:
        try:
            by_team[team_id] = Thresholds.from_policy({**org_overrides, **_policy_overrides(raw)})
        except ValueError as exc:
            problems.append(f"team {slug} policy: {exc}; using the organisation's thresholds")
    for problem in problems:
        logger.warning("detector thresholds: %s", problem)
    return ThresholdPlan(default=default, by_team=by_team, problems=tuple(problems))


# --- Flags as records (export_flags) -------------------------------------------------------------------

FLAG_EXPORT_FIELDS = (
    "id",
    "user",
    "team",
    "detector",
    "score",
    "period_start",
    "period_end",
    "evidence",
    "state",
    "created_at",
    "updated_at",
    "reviews",
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.get_default_timezone()).isoformat()


def flag_record(flag: Flag) -> dict[str, Any]:
    """A flag as one export record (``FLAG_EXPORT_FIELDS``): ``user`` an e-mail, ``team`` a slug,
    datetimes ISO 8601 in the organisation's time zone, ``reviews`` oldest first.

    Needs ``user``, ``team`` and ``reviews__reviewer`` loaded (``flags_for_export``).
    """
    return {
        "id": flag.pk,
        "user": flag.user.email,
        "team": flag.team.slug,
        "detector": flag.detector,
        "score": flag.score,
        "period_start": _iso(flag.period_start),
        "period_end": _iso(flag.period_end),
        "evidence": flag.evidence,
        "state": flag.state,
        "created_at": _iso(flag.created_at),
        "updated_at": _iso(flag.updated_at),
        "reviews": [
            {
                "action": review.action,
                "comment": review.comment,
                "reviewer": review.reviewer.email if review.reviewer is not None else None,
                "created_at": _iso(review.created_at),
            }
            for review in flag.reviews.all()
        ],
    }


def flags_for_export(
    *, team_slug: str | None = None, state: str | None = None, since: datetime | None = None
) -> QuerySet[Flag]:
    """Flags oldest first (by creation), optionally of one team, in one state, or created since a moment."""
    flags = Flag.objects.select_related("user", "team").prefetch_related("reviews__reviewer")
    filters = Q()
    if team_slug is not None:
        filters &= Q(team__slug=team_slug)
    if state is not None:
        filters &= Q(state=state)
    if since is not None:
        filters &= Q(created_at__gte=since)
    return flags.filter(filters).order_by("created_at", "pk")


def flag_records(**filters: Any) -> Iterator[dict[str, Any]]:
    """``flag_record`` of every flag ``flags_for_export(**filters)`` selects, streamed in chunks."""
    for flag in flags_for_export(**filters).iterator(chunk_size=500):
        yield flag_record(flag)


__all__ = [
    "EVENT_COLUMNS",
    "FLAG_EXPORT_FIELDS",
    "ThresholdPlan",
    "detection_events",
    "detection_inputs",
    "detection_signals",
    "detection_thresholds",
    "feedback_scores",
    "flag_record",
    "flag_records",
    "flags_for_export",
    "outcome_records",
    "period_ends",
    "usage_targets",
]
