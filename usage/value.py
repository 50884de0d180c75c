"""Value signals: feedback on calls and outcomes reported by integrations (the writes)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction

from governance.models import ApiToken, Team, ValueSource
from governance.services.audit import audited_upsert
from usage.models import Feedback, Outcome, OutcomeKind, OutcomeRequest, UsageEvent

BINARY_SCORES = (-1, 1)
FIVE_SCORES = (1, 2, 3, 4, 5)


class ValueSignalError(ValueError):
    """Invalid feedback or outcome; the message says what to fix."""


def feedback_scale_for(*, score: object, scale: str | None) -> str:
    """The scale a score is on: ``1``/``-1`` default to thumbs up/down, ``2``..``5`` to stars.

    Raises ValueSignalError for anything else (including booleans and floats).
    """
    if not isinstance(score, int) or isinstance(score, bool):
        raise ValueSignalError("score must be an integer: 1 or -1 (thumbs), or 1..5 (stars)")
    if scale is None:
        scale = Feedback.Scale.BINARY if score in BINARY_SCORES else Feedback.Scale.FIVE
    if scale == Feedback.Scale.BINARY and score in BINARY_SCORES:
        return scale
    if scale == Feedback.Scale.FIVE and score in FIVE_SCORES:
        return scale
    raise ValueSignalError(f"score {score} is not valid on the '{scale}' scale (binary: 1|-1, five: 1..5)")


@dataclass(frozen=True)
class CallOwner:
    user_id: int | None
    team_id: int | None


def feedback_record(
    *,
    request_id: str,
    owner: CallOwner,
    rater_user_id: int,
    rater_team_id: int | None,
    key_id: int | None,
    score: object,
    scale: str | None = None,
    comment: str = "",
) -> Feedback:
    """Record (or replace) the rating of one call by one key (or, from the web page, by one person).

    The rater must be the person who made the call, or rate with a key of the call's team - checked by
    the caller against ``owner``. Idempotent per (request id, key): a repeat replaces score and comment.
    ``score`` is taken as received (a JSON value) and checked here: raises ValueSignalError unless it is
    an integer on its scale (``feedback_scale_for``).
    """
    scale = feedback_scale_for(score=score, scale=scale)
    lookup: dict[str, Any] = (
        {"request_id": request_id, "key_id": key_id}
        if key_id
        else {"request_id": request_id, "user_id": rater_user_id, "key": None}
    )
    defaults = {
        "user_id": rater_user_id,
        "team_id": rater_team_id or owner.team_id,
        "score": score,
        "scale": scale,
        "comment": comment[:2000],
    }
    try:
        feedback, _ = Feedback.objects.update_or_create(**lookup, defaults=defaults)
    except IntegrityError:  # a concurrent first rating won the race: replace it
        feedback = Feedback.objects.get(**lookup)
        Feedback.objects.filter(pk=feedback.pk).update(**defaults)
        feedback.refresh_from_db()
    return feedback


def call_owner_from_db(request_id: str) -> CallOwner | None:
    row = UsageEvent.objects.filter(request_id=request_id).values("user_id", "team_id").first()
    return CallOwner(**row) if row else None


_RECORDED_KINDS = frozenset(
    {ValueSource.INTEGRATION, ValueSource.SERVICE_TOKEN, ValueSource.PERSON, ValueSource.IMPORT}
)


@transaction.atomic
def outcome_record(
    *,
    external_id: str,
    kind: str,
    occurred_at: datetime,
    source_kind: str,
    user=None,
    team: Team | None = None,
    value: Decimal | int | float = 1,
    request_ids: list[str] | tuple[str, ...] = (),
    source: str = "",
    reported_by=None,
    api_token: ApiToken | None = None,
    integration: str = "",
    session_id: str = "",
) -> tuple[Outcome, bool]:
    """Record one outcome with its provenance; returns it and whether it was created.

    Provenance: ``source_kind`` (integration, service_token, person, import), the person whose
    credential reported it (``reported_by``), the token used (``api_token``) and, for an integration,
    its name (``integration``, required then), and the coding agent's session it came from
    (``session_id``, telemetry only). Which provenances count for value is the admins' choice
    (``governance.selectors.value_sources``); who may report what is the interfaces' check.

    Idempotent on ``external_id``: a retry returns the stored outcome unchanged. Needs a person or a
    team (ValueSignalError otherwise). Unknown kinds are accepted (weight 1 until an admin sets one).
    """
    if source_kind not in _RECORDED_KINDS:
        raise ValueSignalError(f"unknown source kind {source_kind!r}")
    integration = (integration or "").strip().lower()[:64]
    if (source_kind == ValueSource.INTEGRATION) != bool(integration):
        raise ValueSignalError("an integration's outcome names its integration, and only it does")
    if user is None and team is None:
        raise ValueSignalError("an outcome needs a user or a team")
    if not external_id or len(external_id) > 200:
        raise ValueSignalError("external_id is required (at most 200 characters)")
    existing = Outcome.objects.filter(external_id=external_id).first()
    if existing is not None:
        return existing, False
    ids = list(dict.fromkeys(str(r) for r in request_ids))[:MAX_LINKED_CALLS]
    try:
        with transaction.atomic():
            outcome = Outcome.objects.create(
                external_id=external_id,
                kind=kind,
                user=user,
                team=team,
                occurred_at=occurred_at,
                value=Decimal(str(value)),
                request_ids=ids,
                source=source[:200],
                source_kind=source_kind,
                reported_by=reported_by,
                api_token=api_token,
                integration=integration,
                session_id=session_id[:128],
            )
    except IntegrityError:
        return Outcome.objects.get(external_id=external_id), False
    OutcomeRequest.objects.bulk_create(OutcomeRequest(outcome=outcome, request_id=r) for r in ids)
    return outcome, True


MAX_LINKED_CALLS = 1000  # per outcome, as ``outcome_record`` keeps them


def session_links_lock(session_ids: Iterable[str]) -> None:
    """Hold the agent sessions' link lock until the transaction ends (PostgreSQL; a no-op elsewhere).

    Calls and outcomes of one session are linked from both sides - the ledger links new calls to the
    session's outcomes, a new outcome links the calls already recorded - each reading what the other
    committed. Two such transactions at once would each miss the other's uncommitted row, and the link
    would be lost; holding this lock from before the read to the commit makes the second one read after
    the first committed. Taken in one order (sorted keys), so two holders never wait on each other.
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"tw-session:{session[:128]}".encode(), digest_size=8).digest(), "big", signed=True
            )
            for session in session_ids
            if session
        }
    )
    if not keys:
        return
    with connection.cursor() as cursor:
        # Volatile functions in the select list run after ORDER BY: the locks are taken in key order.
        cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS t(k) ORDER BY k", [keys])


def outcomes_link_session_calls(*, calls: list[tuple[str, str, int, datetime]]) -> int:
    """Link newly recorded calls - (request id, agent session id, person, when) - to the outcomes their
    session already produced; return how many links were made.

    Telemetry can arrive before the calls of its session reach the ledger (with Redis the ledger is
    written by a worker a moment later, and a coding agent sends its last export as it exits), so an
    outcome recorded from a session links the calls recorded by then and the ledger links the rest as
    they arrive: a call made by the same person in the same session, at or before the outcome. Call it
    inside the ledger write's transaction. One query when a batch has agent calls, none otherwise.
    """
    calls = [call for call in calls if call[1]]
    if not calls:
        return 0
    session_links_lock(session for _, session, _, _ in calls)
    outcomes = Outcome.objects.filter(
        session_id__in={session for _, session, _, _ in calls}, user_id__in={user for _, _, user, _ in calls}
    ).only("pk", "session_id", "user_id", "occurred_at", "request_ids")
    links: list[OutcomeRequest] = []
    for outcome in outcomes:
        known = set(outcome.request_ids)
        new = [
            request_id
            for request_id, session, user, at in calls
            if session == outcome.session_id
            and user == outcome.user_id
            and at <= outcome.occurred_at
            and request_id not in known
        ][: max(0, MAX_LINKED_CALLS - len(known))]
        if new:
            Outcome.objects.filter(pk=outcome.pk).update(request_ids=[*outcome.request_ids, *new])
            links += [OutcomeRequest(outcome_id=outcome.pk, request_id=request_id) for request_id in new]
    OutcomeRequest.objects.bulk_create(links, ignore_conflicts=True)
    return len(links)


@transaction.atomic
def outcome_kind_set(
    *, kind: str, weight: Decimal | int | float, description: str = "", actor=None, actor_label: str = ""
) -> OutcomeKind:
    """Set the weight of an outcome kind (admins). Audited."""
    if Decimal(str(weight)) < 0:
        raise ValueSignalError("weight must not be negative")

    def change(item: OutcomeKind) -> None:
        item.weight = Decimal(str(weight))
        item.description = description or item.description

    return audited_upsert(OutcomeKind, lookup={"kind": kind}, change=change, actor=actor, actor_label=actor_label)
