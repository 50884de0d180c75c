"""Flags as the pages show them: a team's open flags, a person's own flags, one flag with its history.

Evidence is what the detector stored: a ``summary`` sentence with the numbers, a ``value_summary``
sentence (what the tokens bought against the peers), the numbers themselves, ``peer_scope`` and up to
five example request ids. Pages show the two sentences, what the person can do (``ADVICE``), a chart of
the person against their peers (``flag_chart``) and the example calls - never the raw statistics.
Replies of the person flagged and the managers' reviews form one history, oldest first. Flags of one
person and team whose periods overlap are related and shown together (``flag_groups``).

The chart on a flag (``flag_chart``) shows the person's tokens a day against their team's typical day
over the flag's period. Peers are the other people of the flag's team with a call in the period (the
detectors fall back to the whole organisation for teams under ``min_team_size``; the chart shows the
team, which is what the manager and the person know). A peer's idle day counts as 0 tokens, so the
median is the typical day of the team. Outcome value a day (trusted sources only, ``outcomes_trusted``)
is shown the same way.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import FloatField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, TruncDate

from governance.detectors.stats import median
from governance.models import Flag, FlagReview, Team
from governance.selectors.rollups import person_label
from governance.selectors.value_sources import outcomes_trusted
from usage.selectors import outcome_kinds_all, usage_events_all

ADVICE = {
    "volume_without_value": "Link the work your calls produce (pull requests, tickets, documents) to them, "
    "or use fewer, smaller calls; if the value shows up elsewhere, say where in your reply.",
    "repetition": "Send a prompt again only when it changed; if a tool of yours retries, tell us which.",
    "mechanical_cadence": "If a script or job runs on your key, give it its own key and link what it "
    "produces to its calls; otherwise say in your reply what runs at these times.",
    "padding": "Send the context the question needs and a max_tokens close to the answer you expect.",
    "period_end_surge": "Spread the work over the period, or say in your reply what was due at its end.",
    "unread_output": "Stop a stream only when you have what you need, and rate the answers you use.",
    "self_feeding_loop": "Do not paste answers back in a loop; if an agent does, say which one.",
    "target_hugging": "Use what your work needs: a usage target is not a goal to reach or stay above.",
    "overkill_model": "Use a smaller model for short questions; keep the top tier for hard ones.",
}

REVIEW_VERBS: dict[str, str] = {
    FlagReview.Action.ACKNOWLEDGE: "acknowledged",
    FlagReview.Action.DISMISS: "dismissed as legitimate",
    FlagReview.Action.CONFIRM: "confirmed",
    FlagReview.Action.COMMENT: "commented",
}

MAX_DAYS = 120


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
    value_summary: str = ""
    advice: str = ""
    examples: tuple[str, ...] = ()
    replies: int = 0


def detector_label(name: str) -> str:
    """``volume_without_value`` -> ``Volume without value``."""
    return name.replace("_", " ").strip().capitalize()


def _view(flag: Flag) -> FlagView:
    evidence = dict(flag.evidence) if isinstance(flag.evidence, dict) else {"details": flag.evidence}
    summary = str(evidence.pop("summary", ""))
    history = [FlagEvent(at=flag.created_at, actor="Tokenwise", action="raised", comment="")]
    history += [
        FlagEvent(
            at=review.created_at,
            actor=person_label(review.reviewer) if review.reviewer else "(removed)",
            action=REVIEW_VERBS.get(review.action, review.action),
            comment=review.comment,
        )
        for review in flag.reviews.all()
    ]
    replies = list(flag.replies.all())
    history += [
        FlagEvent(
            at=reply.created_at,
            actor=person_label(reply.author) if reply.author else "(removed)",
            action="replied",
            comment=reply.body,
        )
        for reply in replies
    ]
    history.sort(key=lambda event: event.at)
    listed = evidence.get("examples")
    examples = listed if isinstance(listed, list) else []
    return FlagView(
        id=flag.pk,
        detector=flag.detector,
        detector_label=detector_label(flag.detector),
        score=flag.score,
        user_id=flag.user_id,
        person=person_label(flag.user),
        team_id=flag.team_id,
        team_slug=flag.team.slug,
        status=flag.state,
        status_label=flag.get_state_display(),
        raised_at=flag.created_at,
        period_start=flag.period_start,
        period_end=flag.period_end,
        summary=summary,
        evidence=evidence,
        history=history,
        value_summary=str(evidence.get("value_summary", "")),
        advice=ADVICE.get(flag.detector, ""),
        examples=tuple(str(e) for e in examples),
        replies=len(replies),
    )


def flags_with_team() -> QuerySet[Flag]:
    """Every flag with its team (for a view that checks who may act on it)."""
    return Flag.objects.select_related("team")


def _flags() -> QuerySet[Flag]:
    return Flag.objects.select_related("user", "team").prefetch_related("reviews__reviewer", "replies__author")


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


def flag_groups(flags: list[FlagView]) -> list[list[FlagView]]:
    """``flags`` grouped: one group per person and team whose periods overlap, groups in the order of
    their first flag, flags in each group as given."""
    groups: list[list[FlagView]] = []
    for flag in flags:
        for group in groups:
            first = group[0]
            if (first.user_id, first.team_id) == (flag.user_id, flag.team_id) and any(
                other.period_start < flag.period_end and flag.period_start < other.period_end for other in group
            ):
                group.append(flag)
                break
        else:
            groups.append([flag])
    return groups


def flags_related(*, flag: FlagView) -> list[FlagView]:
    """The other flags of the same person and team whose periods overlap this one's, newest first."""
    return [
        _view(other)
        for other in _flags()
        .filter(
            user_id=flag.user_id,
            team_id=flag.team_id,
            period_start__lt=flag.period_end,
            period_end__gt=flag.period_start,
        )
        .exclude(pk=flag.id)
        .order_by("-created_at", "-id")
    ]


def flag_chart(*, flag: Flag) -> dict:
    """Chart payload (``static/js/charts.js`` type "peers"): days, the person's tokens and value, and the
    team median of each; at most the last ``MAX_DAYS`` days of the period."""
    start, end = flag.period_start, flag.period_end
    if end - start > timedelta(days=MAX_DAYS):
        start = end - timedelta(days=MAX_DAYS)
    rows = (
        usage_events_all()
        .filter(team_id=flag.team_id, created_at__gte=start, created_at__lt=end, status__lt=400, user_id__isnull=False)
        .annotate(day=TruncDate("created_at"))
        .values("user_id", "day")
        .annotate(tokens=Sum("total_tokens"))
        .order_by()
    )
    tokens: dict[int, dict[date, int]] = defaultdict(dict)
    for row in rows:
        tokens[row["user_id"]][row["day"]] = row["tokens"] or 0
    value: dict[int, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for user_id, day, points in _outcome_rows(flag, start, end):
        value[user_id][day] += float(points or 0)
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    peers = [user_id for user_id in tokens if user_id != flag.user_id]
    mine_tokens, mine_value = tokens.get(flag.user_id, {}), value.get(flag.user_id, {})
    return {
        "type": "peers",
        "labels": [day.isoformat() for day in days],
        "tokens": [mine_tokens.get(day, 0) for day in days],
        "peer_tokens": [median([tokens[p].get(day, 0) for p in peers]) if peers else None for day in days],
        "value": [round(mine_value.get(day, 0.0), 2) for day in days],
        "peer_value": [round(median([value[p].get(day, 0.0) for p in peers]), 2) if peers else None for day in days],
        "peers": len(peers),
    }


def _outcome_rows(flag: Flag, start, end):
    """(user id, day, weighted value) of the team's trusted outcomes in the period, one per outcome."""
    kind_weight = outcome_kinds_all().filter(kind=OuterRef("kind")).values("weight")[:1]
    return (
        outcomes_trusted()
        .filter(team_id=flag.team_id, occurred_at__gte=start, occurred_at__lt=end, user_id__isnull=False)
        .annotate(
            day=TruncDate("occurred_at"),
            points=Cast("value", FloatField()) * Coalesce(Subquery(kind_weight), Value(1), output_field=FloatField()),
        )
        .values_list("user_id", "day", "points")
    )


def chart_rows(chart: dict) -> list[tuple]:
    """The chart's numbers as table rows: (day, tokens, team's typical tokens, value, team's typical value)."""
    return list(
        zip(chart["labels"], chart["tokens"], chart["peer_tokens"], chart["value"], chart["peer_value"], strict=True)
    )
