"""Flags: storing what the detectors find, reviewing it, and one whole detection run (the e-mails about a
new flag: ``governance.services.flag_notify``).

De-duplication. The hourly run looks at a trailing window that moves every hour, so a finding is the
same flag as an earlier one when both are about the same person (user, team) and detector and their
periods overlap:

- an **open** flag is updated in place: new score and evidence, its period extended to the finding's
  end (its start is kept) - one flag, however many runs see the behaviour;
- a **reviewed** flag (acknowledged, dismissed, confirmed) is never reopened nor changed: findings
  overlapping it are dropped. Once the window has moved past its period, a new flag can be raised;
- otherwise a new flag is created, audited, and its e-mails queued (after commit).

Concurrent runs (the beat task and ``detect``) are serialised by a transaction-level advisory lock on
PostgreSQL (SQLite serialises writers anyway).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from governance.detectors import DETECTORS, Finding, Window, group_events, run_all
from governance.exceptions import FlagReplyRefused, SelfReviewRefused
from governance.models import Flag, FlagReply, FlagReview, Team
from governance.selectors.detection import detection_inputs, detection_thresholds
from governance.services.audit import audit_record

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x746B_666C  # "tkfl": the advisory lock of flags_raise
DECIDED_STATES = frozenset({Flag.State.DISMISSED, Flag.State.CONFIRMED})


def _flag_summary(flag: Flag) -> dict[str, Any]:
    """The audit snapshot of a flag: what it is about and its state (not the whole evidence)."""
    return {
        "user_id": flag.user_id,
        "team_id": flag.team_id,
        "detector": flag.detector,
        "score": flag.score,
        "period_start": flag.period_start.isoformat(),
        "period_end": flag.period_end.isoformat(),
        "state": flag.state,
    }


def _lock_flags() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def _same_flag(flag: Flag, finding: Finding) -> bool:
    return flag.period_start < finding.period_end and finding.period_start < flag.period_end


@transaction.atomic
def flags_raise(*, findings: Sequence[Finding]) -> tuple[list[Flag], list[Flag]]:
    """Store findings as flags; return (flags created, open flags updated). See the module docstring.

    Idempotent: the same findings again create and update nothing (an open flag whose score, evidence
    and period end did not change is left alone). New flags are written in one batch, each audited
    (action "raise"), and their e-mails go out after commit (``flag_notify_task``). Several findings
    of one person and detector in one call are taken in period order (the latest wins). Findings about
    a person or team that no longer exists (the ledger keeps ids of deleted ones) are skipped, logged.
    """
    if not findings:
        return [], []
    _lock_flags()
    users = get_user_model().objects.in_bulk({f.user_id for f in findings})
    teams = Team.objects.in_bulk({f.team_id for f in findings})
    gone = [f for f in findings if f.user_id not in users or f.team_id not in teams]
    if gone:
        logger.warning(
            "skipped %d findings about deleted people or teams: %s",
            len(gone),
            sorted({(f.user_id, f.team_id) for f in gone})[:20],
        )
    findings = [f for f in findings if f.user_id in users and f.team_id in teams]
    if not findings:
        return [], []
    keys = {(f.user_id, f.team_id, f.detector) for f in findings}
    existing: dict[tuple[int, int, str], list[Flag]] = {}
    candidates = Flag.objects.filter(
        detector__in={key[2] for key in keys},
        user_id__in={key[0] for key in keys},
        period_start__lt=max(f.period_end for f in findings),
        period_end__gt=min(f.period_start for f in findings),
    ).order_by("period_start", "pk")
    for flag in candidates:
        key = (flag.user_id, flag.team_id, flag.detector)
        if key in keys:
            existing.setdefault(key, []).append(flag)
    new: list[Flag] = []
    updated: dict[int, Flag] = {}
    in_order = sorted(findings, key=lambda f: (f.user_id, f.team_id, f.detector, f.period_start, f.period_end))
    for finding in in_order:
        key = (finding.user_id, finding.team_id, finding.detector)
        same = [flag for flag in existing.get(key, ()) if _same_flag(flag, finding)]
        open_flags = [flag for flag in same if flag.state == Flag.State.OPEN]
        if open_flags and open_flags[-1].pk is None:  # raised earlier in this call: not written yet
            flag = open_flags[-1]
            flag.score, flag.evidence = finding.score, finding.evidence
            flag.period_end = max(flag.period_end, finding.period_end)
        elif open_flags:
            flag = open_flags[-1]
            if _flag_refresh(flag=flag, finding=finding):
                updated[flag.pk] = flag
        elif not same:
            flag = Flag(
                user=users[finding.user_id],
                team=teams[finding.team_id],
                detector=finding.detector,
                score=finding.score,
                period_start=finding.period_start,
                period_end=finding.period_end,
                evidence=finding.evidence,
            )
            existing.setdefault(key, []).append(flag)
            new.append(flag)
    created = Flag.objects.bulk_create(new, batch_size=500)
    for flag in created:
        audit_record(actor_label="detection", action="raise", instance=flag, after=_flag_summary(flag))
        transaction.on_commit(functools.partial(_queue_notification, flag.pk))
    return created, list(updated.values())


def _flag_refresh(*, flag: Flag, finding: Finding) -> bool:
    """Bring an open flag up to date with a newer finding; whether anything changed.

    A conditional update: a review that lands meanwhile wins (the flag is then left as reviewed).
    """
    period_end = max(flag.period_end, finding.period_end)
    if flag.score == finding.score and flag.evidence == finding.evidence and flag.period_end == period_end:
        return False
    now = timezone.now()
    changed = Flag.objects.filter(pk=flag.pk, state=Flag.State.OPEN).update(
        score=finding.score, evidence=finding.evidence, period_end=period_end, updated_at=now
    )
    if changed:
        flag.score, flag.evidence, flag.period_end, flag.updated_at = (finding.score, finding.evidence, period_end, now)
    return bool(changed)


def _queue_notification(flag_id: int) -> None:
    from governance.notify_tasks import flag_notify_task

    try:
        flag_notify_task.delay(flag_id)
    except Exception:
        logger.exception("could not queue the e-mails of flag %s", flag_id)


# --- Review ------------------------------------------------------------------------------------------

_NEXT_STATE: dict[str, str] = {
    FlagReview.Action.ACKNOWLEDGE: Flag.State.ACKNOWLEDGED,
    FlagReview.Action.DISMISS: Flag.State.DISMISSED,
    FlagReview.Action.CONFIRM: Flag.State.CONFIRMED,
}


def flag_next_state(*, state: str, action: str) -> str:
    """The state a flag in ``state`` moves to on ``action``.

    acknowledge: open -> acknowledged (a dismissed or confirmed flag keeps its decision: the
    acknowledgement is only recorded); dismiss -> dismissed and confirm -> confirmed from any state (a
    later decision replaces an earlier one); comment: no change. Raises ValueError for an unknown action.
    """
    if action == FlagReview.Action.COMMENT:
        return state
    if action not in _NEXT_STATE:
        raise ValueError(f"unknown review action {action!r}")
    if action == FlagReview.Action.ACKNOWLEDGE and state in DECIDED_STATES:
        return state
    return _NEXT_STATE[action]


@transaction.atomic
def flag_review(*, flag: Flag, reviewer, action: str, comment: str = "") -> FlagReview:
    """Record one review decision (or a comment) on ``flag`` and move its state (``flag_next_state``).

    Who may review a team's flags is the caller's check (managers of the flag's team, admins). This
    service enforces the rule no interface may skip: nobody reviews a flag raised about themselves -
    ``reviewer`` is the person acting (for a service token, the person who created it), admins
    included - SelfReviewRefused (403) otherwise. Locks the flag row; audited (action = the review
    action, before/after state) in the same transaction. ``flag`` is updated in place. Raises
    ValueError for an unknown action or a comment action without a comment.
    """
    comment = (comment or "").strip()[:2000]
    if action == FlagReview.Action.COMMENT and not comment:
        raise ValueError("a comment review needs a comment")
    locked = Flag.objects.select_for_update().get(pk=flag.pk)
    if getattr(reviewer, "pk", None) is not None and reviewer.pk == locked.user_id:
        raise SelfReviewRefused("Nobody reviews a flag raised about themselves; another manager or an admin does.")
    before = _flag_summary(locked)
    state = flag_next_state(state=locked.state, action=action)
    reviewer_user = reviewer if getattr(reviewer, "is_authenticated", False) else None
    review = FlagReview.objects.create(flag=locked, reviewer=reviewer_user, action=action, comment=comment)
    if state != locked.state:
        locked.state = state
        locked.save(update_fields=["state", "updated_at"])
    audit_record(
        actor=reviewer,
        action=action,
        instance=locked,
        before=before,
        after={**_flag_summary(locked), "comment": comment},
    )
    flag.state, flag.updated_at = locked.state, locked.updated_at
    return review


# --- Reply -------------------------------------------------------------------------------------------


@transaction.atomic
def flag_reply(*, flag: Flag, author, body: str) -> FlagReply:
    """Record the flagged person's reply on their own flag (the team's managers see it on the review page).

    Only the person the flag is about may reply - FlagReplyRefused (403) for anyone else. The body is
    stripped and cut at 2,000 characters; ValueError when it is empty. The flag's state does not change.
    Audited (action "reply", the reply's text) in the same transaction.
    """
    body = (body or "").strip()[:2000]
    if not body:
        raise ValueError("a reply needs some text")
    if getattr(author, "pk", None) is None or author.pk != flag.user_id:
        raise FlagReplyRefused("Only the person a flag is about replies on it.")
    reply = FlagReply.objects.create(flag=flag, author=author, body=body)
    audit_record(
        actor=author,
        action="reply",
        instance=flag,
        before=_flag_summary(flag),
        after={**_flag_summary(flag), "reply": body},
    )
    return reply


# --- One detection run --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DetectionRun:
    """What one run did: its window, input size, findings, flags, problems and timings (seconds)."""

    start: datetime
    end: datetime
    detectors: tuple[str, ...]
    events: int
    people: int
    findings: list[Finding]
    created: list[Flag]
    updated: list[Flag]
    problems: tuple[str, ...]
    load_s: float
    detect_s: float
    store_s: float
    stored: bool = True  # False: a dry run (``store=False``), no flag written

    @property
    def findings_per_detector(self) -> dict[str, int]:
        """Every detector run with its number of findings (zeros included), in ``DETECTORS`` order."""
        counts = Counter(f.detector for f in self.findings)
        return {name: counts.get(name, 0) for name in self.detectors}

    @property
    def unchanged(self) -> int:
        """Findings that neither created nor changed a flag (same as before, or the flag was reviewed)."""
        if not self.stored:
            return 0
        return len(self.findings) - len(self.created) - len(self.updated)

    @property
    def seconds(self) -> float:
        return self.load_s + self.detect_s + self.store_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "events": self.events,
            "people": self.people,
            "findings": len(self.findings),
            "findings_per_detector": self.findings_per_detector,
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "stored": self.stored,
            "problems": list(self.problems),
            "seconds": round(self.seconds, 3),
        }


def detection_run(
    *, start: datetime, end: datetime, only: Collection[str] | None = None, store: bool = True
) -> DetectionRun:
    """Run the detectors over ``[start, end)`` and store the findings as flags (``flags_raise``).

    ``detection_inputs`` loads the window; each team is judged with its own thresholds
    (``detection_thresholds``): one ``run_all`` pass over every event per distinct set of thresholds,
    keeping the findings about the teams it governs, so peer baselines always see the whole
    organisation; the events are grouped by person once, and every pass shares that index. ``only``
    limits the detectors (ValueError for an unknown name); ``store=False`` computes the findings
    without writing flags (evaluation). Raises ValueError for a bad window.
    """
    detectors = tuple(DETECTORS) if only is None else tuple(name for name in DETECTORS if name in set(only))
    unknown = sorted(set(only or ()) - set(DETECTORS))
    if unknown:
        raise ValueError(f"unknown detector(s): {', '.join(unknown)}")
    started = time.perf_counter()
    events, signals = detection_inputs(start=start, end=end)
    loaded = time.perf_counter()
    plan = detection_thresholds()
    window = Window(start=start, end=end)
    team_ids = {event.team_id for event in events}
    grouped = group_events(events, window, min_team_size=plan.default.min_team_size)
    findings: list[Finding] = []
    for thresholds, teams in plan.groups(sorted(team_ids)):
        found = run_all(events, signals, thresholds, window=window, only=detectors, grouped=grouped)
        findings.extend(f for f in found if f.team_id in teams)
    findings.sort(key=lambda f: (f.user_id, f.team_id, f.detector))
    detected = time.perf_counter()
    created, updated = flags_raise(findings=findings) if store else ([], [])
    stored = time.perf_counter()
    people = len({(event.user_id, event.team_id) for event in events})
    return DetectionRun(
        start=start,
        end=end,
        detectors=detectors,
        events=len(events),
        people=people,
        findings=findings,
        created=created,
        updated=updated,
        problems=plan.problems,
        load_s=loaded - started,
        detect_s=detected - loaded,
        store_s=stored - detected,
        stored=store,
    )
