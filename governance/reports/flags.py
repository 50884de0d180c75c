"""Flags as the pages show them: a team's open flags, a person's own flags, one flag with its history.

Evidence is what the detector stored: a ``summary`` sentence with the numbers, the numbers themselves,
``peer_scope`` and up to five example request ids. The page shows the summary as the headline and the
rest as a list.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from governance.models import Flag, FlagReview, Team
from governance.reports.rollups import person_label

REVIEW_VERBS = {
    FlagReview.Action.ACKNOWLEDGE: "acknowledged",
    FlagReview.Action.DISMISS: "dismissed as legitimate",
    FlagReview.Action.CONFIRM: "confirmed",
    FlagReview.Action.COMMENT: "commented",
}


@dataclasses.dataclass(frozen=True, slots=True)
class FlagEvent:
    """One step of a flag's history: raised, or a review decision with its comment."""

    at: datetime
    actor: str
    action: str
    comment: str


@dataclasses.dataclass(frozen=True, slots=True)
class FlagView:
    id: int
    detector: str
    detector_label: str
    score: float
    user_id: int
    person: str
    team_id: int
    team_slug: str
    status: str
    status_label: str
    raised_at: datetime
    period_start: datetime
    period_end: datetime
    summary: str
    evidence: dict[str, Any]  # everything but the summary
    history: list[FlagEvent]


def detector_label(name: str) -> str:
    """``volume_without_value`` -> ``Volume without value``."""
    return name.replace("_", " ").strip().capitalize()


def _view(flag: Flag) -> FlagView:
    evidence = dict(flag.evidence) if isinstance(flag.evidence, dict) else {"details": flag.evidence}
    summary = str(evidence.pop("summary", ""))
    history = [FlagEvent(at=flag.created_at, actor="Tokenwise", action="raised", comment="")]
    history += [
        FlagEvent(at=review.created_at, actor=person_label(review.reviewer) if review.reviewer else "(removed)",
                  action=REVIEW_VERBS.get(review.action, review.action), comment=review.comment)
        for review in flag.reviews.all()
    ]
    return FlagView(
        id=flag.pk, detector=flag.detector, detector_label=detector_label(flag.detector), score=flag.score,
        user_id=flag.user_id, person=person_label(flag.user), team_id=flag.team_id, team_slug=flag.team.slug,
        status=flag.state, status_label=flag.get_state_display(), raised_at=flag.created_at,
        period_start=flag.period_start, period_end=flag.period_end, summary=summary, evidence=evidence,
        history=history,
    )


def _flags() -> QuerySet[Flag]:
    return Flag.objects.select_related("user", "team").prefetch_related("reviews__reviewer")


def flags_open_for_team(*, team: Team) -> list[FlagView]:
    """The team's flags that still wait for a review, newest first (three queries)."""
    return [_view(flag) for flag in _flags().filter(team=team, state=Flag.State.OPEN).order_by("-created_at", "-id")]


def flags_for_team(*, team: Team, limit: int = 100) -> list[FlagView]:
    """The team's latest flags in any state, newest first."""
    return [_view(flag) for flag in _flags().filter(team=team).order_by("-created_at", "-id")[:limit]]


def flags_for_person(*, user) -> list[FlagView]:
    """Every flag raised about ``user`` (any team, any state), newest first, with the reviews."""
    return [_view(flag) for flag in _flags().filter(user=user).order_by("-created_at", "-id")]


def flag_detail(*, flag_id: int) -> FlagView | None:
    """One flag with its history; None when it does not exist."""
    flag = _flags().filter(pk=flag_id).first()
    return _view(flag) if flag else None
