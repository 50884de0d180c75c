"""Value metrics for the reports: outcomes per million tokens, cost per outcome, feedback rate.

``value_signals_for`` reads the value signals (reported outcomes, per-call feedback) and
``value_metrics_compute`` turns them and the usage volume into the metrics. Until the value tables
exist, or when nothing was reported, the signals are empty: metrics are None ("no data"), never a
made-up zero value per token.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

MTOK = 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class ValueSignal:
    """What was reported for one person (or a whole team) in a period."""

    outcomes: float = 0.0  # sum of outcome value x the admin's weight for its kind
    outcome_count: int = 0
    feedback_count: int = 0
    positive_feedback_count: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class ValueSignals:
    """Signals per person (user id; None for calls with no person) and for the whole selection."""

    available: bool  # False while the value tables do not exist
    by_user: dict[int | None, ValueSignal]
    total: ValueSignal


@dataclasses.dataclass(frozen=True, slots=True)
class ValueMetrics:
    """Value of the tokens. Each metric is None when it cannot be computed (no data, or no tokens)."""

    outcomes: float | None
    outcomes_per_mtok: float | None
    cost_per_outcome: Decimal | None
    feedback_rate: float | None  # share of calls that got feedback
    positive_feedback_rate: float | None  # share of feedback that was positive


def value_metrics_compute(*, signal: ValueSignal | None, tokens: int, cost_usd: Decimal,
                          requests: int) -> ValueMetrics:
    """Pure: the metrics of one person or team from their signal and volume.

    No signal (nothing reported) gives all-None metrics. Outcomes per million tokens is None with no
    tokens; cost per outcome is None with no outcomes.
    """
    if signal is None:
        return ValueMetrics(outcomes=None, outcomes_per_mtok=None, cost_per_outcome=None, feedback_rate=None,
                            positive_feedback_rate=None)
    return ValueMetrics(
        outcomes=signal.outcomes,
        outcomes_per_mtok=signal.outcomes * MTOK / tokens if tokens else None,
        cost_per_outcome=(
            (cost_usd / Decimal(str(signal.outcomes))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
            if signal.outcomes else None
        ),
        feedback_rate=signal.feedback_count / requests if requests else None,
        positive_feedback_rate=(
            signal.positive_feedback_count / signal.feedback_count if signal.feedback_count else None
        ),
    )


def value_signals_for(*, start: date, end: date, team_id: int | None = None,
                      user_id: int | None = None) -> ValueSignals:
    """Outcomes and feedback reported for calls/work between ``start`` and ``end`` (days, inclusive).

    Filtered by team and/or person. Returns ``available=False`` and no signals while the value models
    do not exist yet.
    """
    return ValueSignals(available=False, by_user={}, total=ValueSignal())


def feedback_available() -> bool:
    """Can people rate their calls yet (does the feedback table exist)?"""
    return False


def feedback_scores_for(*, request_ids: list[str], user_id: int) -> dict[str, int]:
    """The score ``user_id`` gave each of these calls, by request id (calls not rated are absent)."""
    return {}
