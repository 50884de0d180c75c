"""Value metrics for the reports: outcomes per million tokens, cost per outcome, feedback rate.

``value_tallies_for`` counts up the value signals (reported outcomes, per-call feedback) per person and
``value_metrics_compute`` turns a tally and the usage volume into the metrics. A person for whom nothing
was reported has no tally: their metrics are None ("no data"), never a made-up zero value per token.
(The detectors read the same signals uncounted, one record each: ``governance.detectors.ValueSignals``.)
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from governance.selectors.value_sources import outcomes_trusted

MTOK = 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class ValueTally:
    """What was reported for one person (or a whole team) in a period."""

    outcomes: float = 0.0  # sum of outcome value x the admin's weight for its kind
    outcome_count: int = 0
    feedback_count: int = 0  # calls made in the period that got feedback
    positive_feedback_count: int = 0  # of those, calls that got positive feedback


@dataclasses.dataclass(frozen=True, slots=True)
class ValueTallies:
    """Tallies per person (user id; None for calls with no person) and for the whole selection."""

    available: bool  # False while the value tables do not exist
    by_user: dict[int | None, ValueTally]
    total: ValueTally


@dataclasses.dataclass(frozen=True, slots=True)
class ValueMetrics:
    """Value of the tokens. Each metric is None when it cannot be computed (no data, or no tokens)."""

    outcomes: float | None
    outcomes_per_mtok: float | None
    cost_per_outcome: Decimal | None
    feedback_rate: float | None  # share of calls that got feedback
    positive_feedback_rate: float | None  # share of feedback that was positive


def value_metrics_compute(*, tally: ValueTally | None, tokens: int, cost_usd: Decimal, requests: int) -> ValueMetrics:
    """Pure: the metrics of one person or team from their tally and volume.

    No tally (nothing reported) gives all-None metrics. Outcomes per million tokens is None with no
    tokens; cost per outcome is None with no outcomes.
    """
    if tally is None:
        return ValueMetrics(
            outcomes=None,
            outcomes_per_mtok=None,
            cost_per_outcome=None,
            feedback_rate=None,
            positive_feedback_rate=None,
        )
    return ValueMetrics(
        outcomes=tally.outcomes,
        outcomes_per_mtok=tally.outcomes * MTOK / tokens if tokens else None,
        cost_per_outcome=(
            (cost_usd / Decimal(str(tally.outcomes))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
            if tally.outcomes
            else None
        ),
        feedback_rate=tally.feedback_count / requests if requests else None,
        positive_feedback_rate=(tally.positive_feedback_count / tally.feedback_count if tally.feedback_count else None),
    )


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in the organisation's time zone."""
    zone = timezone.get_default_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


def value_tallies_for(
    *, start: date, end: date, team_id: int | None = None, user_id: int | None = None
) -> ValueTallies:
    """Outcomes (by when they occurred) and rated calls (by when the call was made) between ``start`` and ``end``.

    Days are inclusive, in the organisation's time zone; filtered by team and/or person. An outcome
    counts ``value x weight of its kind`` (weight 1 for a kind no admin has weighed); only outcomes
    from sources admins trust count (``outcomes_trusted``). Five queries.
    """
    from usage.selectors import outcome_kinds_all

    since, until = _day_bounds(start, end)
    scope = {}
    if team_id is not None:
        scope["team_id"] = team_id
    if user_id is not None:
        scope["user_id"] = user_id
    weights = {kind: float(weight) for kind, weight in outcome_kinds_all().values_list("kind", "weight")}
    outcomes: dict[int | None, tuple[float, int]] = {}
    rows = (
        outcomes_trusted()
        .filter(occurred_at__gte=since, occurred_at__lt=until, **scope)
        .values("user_id", "kind")
        .annotate(value=Sum("value"), count=Count("id"))
    )
    for row in rows:
        value, count = outcomes.get(row["user_id"], (0.0, 0))
        outcomes[row["user_id"]] = (value + float(row["value"]) * weights.get(row["kind"], 1.0), count + row["count"])
    feedback = _calls_with_feedback(since=since, until=until, scope=scope)
    by_user = {}
    for uid in set(outcomes) | set(feedback):
        value, count = outcomes.get(uid, (0.0, 0))
        given, liked = feedback.get(uid, (0, 0))
        by_user[uid] = ValueTally(
            outcomes=value, outcome_count=count, feedback_count=given, positive_feedback_count=liked
        )
    total = ValueTally(
        outcomes=sum(tally.outcomes for tally in by_user.values()),
        outcome_count=sum(tally.outcome_count for tally in by_user.values()),
        feedback_count=sum(tally.feedback_count for tally in by_user.values()),
        positive_feedback_count=sum(tally.positive_feedback_count for tally in by_user.values()),
    )
    return ValueTallies(available=True, by_user=by_user, total=total)


def _calls_with_feedback(*, since: datetime, until: datetime, scope: dict) -> dict[int | None, tuple[int, int]]:
    """Per call owner: calls made in [since, until) that got any feedback, and those that got positive feedback.

    By the call's time, not the rating's, so a rate (calls rated / calls made) never passes 100%. Only
    feedback given since the window began can rate a call made in it; one query on the ledger's indexes.
    """
    from usage.selectors import feedback_all, feedback_positive_q, usage_events_all

    rated = feedback_all().filter(created_at__gte=since).values("request_id")
    liked = feedback_all().filter(feedback_positive_q(), request_id=OuterRef("request_id"))
    rows = (
        usage_events_all()
        .filter(created_at__gte=since, created_at__lt=until, request_id__in=rated, **scope)
        .values("user_id")
        .annotate(count=Count("id"), positive=Count("id", filter=Q(Exists(liked))))
    )
    return {row["user_id"]: (row["count"], row["positive"]) for row in rows}


def feedback_available() -> bool:
    """Can people rate their calls from the web page?"""
    return True


def feedback_scores_for(*, request_ids: list[str], user_id: int) -> dict[str, int]:
    """The score ``user_id`` gave each of these calls on the web page or with a key (latest wins)."""
    from usage.selectors import feedback_all

    if not request_ids:
        return {}
    rows = (
        feedback_all()
        .filter(request_id__in=request_ids, user_id=user_id)
        .order_by("updated_at", "id")
        .values_list("request_id", "score", "scale")
    )
    scores = {}
    for request_id, score, scale in rows:
        scores[request_id] = (1 if score > 3 else -1 if score < 3 else 0) if scale == "five" else score
    return scores
