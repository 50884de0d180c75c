"""GitHub webhooks as value signals: signature check, payload reading, identity mapping.

``POST /integrations/github/webhook`` (``usage/integrations/views.py``) checks ``X-Hub-Signature-256``
with ``github_signature_valid`` and hands the payload to ``github_delivery_receive``:

- ``pull_request`` closed with ``merged: true`` -> ``pr_merged`` for the pull request's author;
- ``pull_request_review`` submitted -> ``pr_reviewed`` for the reviewer (not on their own pull request);
- ``issues`` closed as completed -> ``issue_closed`` for who closed it;
- anything else (``ping``, ``push``, other actions) is acknowledged and adds no signal.

Signals about bots are dropped. A signal's person is the one its login is mapped to
(``GithubIdentity``); until a login is mapped its signals wait on their delivery (``unmapped``) and are
recorded when an admin maps it (``github_identity_map``) or when GitHub vouches for an e-mail of it
that is a person's (``github_identity_auto_match``). Outcomes are idempotent on the GitHub object
(``github:pr_merged:<pull request id>``…), deliveries on ``X-GitHub-Delivery``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from governance.models import GithubIdentity, IntegrationSecret, ValueSource
from governance.services.audit import audit_record, audit_snapshot, audited_upsert
from governance.services.providers import secret_decrypt, secret_encrypt
from usage.integrations.common import integration_kinds_register, team_for_person
from usage.models import GithubDelivery, Outcome
from usage.value import outcome_record

INTEGRATION = "github"
WEBHOOK_ACTOR = "github-webhook"
_SIGNATURE_PREFIX = "sha256="


# --- Signature ------------------------------------------------------------------------------------


def github_webhook_secret() -> str:
    """The webhook secret an admin set ('' when none is set)."""
    row = IntegrationSecret.objects.filter(integration=INTEGRATION).first()
    return secret_decrypt(row.secret_encrypted) if row else ""


@transaction.atomic
def github_webhook_secret_set(*, secret: str, actor=None, actor_label: str = "") -> IntegrationSecret:
    """Store the webhook secret, encrypted (admins; write-only: it is never shown back). Audited with the
    secret masked. An empty secret removes it, so every delivery is refused until a new one is set."""

    def change(row: IntegrationSecret) -> None:
        row.secret_encrypted = secret_encrypt(secret)

    return audited_upsert(
        IntegrationSecret, lookup={"integration": INTEGRATION}, change=change, actor=actor, actor_label=actor_label
    )


def github_signature_valid(*, secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``X-Hub-Signature-256`` is GitHub's HMAC-SHA256 of the raw body under ``secret``.

    False when no secret is set or the header is missing or malformed. Compared in constant time.
    """
    if not secret or not signature or not signature.startswith(_SIGNATURE_PREFIX):
        return False
    expected = _SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))


# --- Reading payloads (pure) ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class GithubSignal:
    """One value signal a payload carries: ``kind`` for the person behind ``login``."""

    kind: str
    login: str  # lower case
    external_id: str
    occurred_at: datetime
    detail: str  # owner/repo#number


@dataclasses.dataclass(frozen=True, slots=True)
class GithubEmail:
    """An e-mail GitHub itself ties to a login (verified on that account)."""

    login: str  # lower case
    email: str


def _is_bot(account: dict | None) -> bool:
    return not account or account.get("type") == "Bot" or str(account.get("login", "")).endswith("[bot]")


def _when(value: object) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed if parsed is not None and parsed.tzinfo is not None else timezone.now()


def _detail(payload: dict, number: object) -> str:
    repository = (payload.get("repository") or {}).get("full_name") or ""
    return f"{repository}#{number}"[:300]


def github_signal_read(*, event: str, payload: dict) -> GithubSignal | None:
    """The value signal of one delivery, or None (other events and actions, bots, own-PR reviews)."""
    action = payload.get("action")
    if event == "pull_request" and action == "closed":
        pull = payload.get("pull_request") or {}
        author = pull.get("user")
        if not pull.get("merged") or author is None or _is_bot(author) or not pull.get("id"):
            return None
        return GithubSignal(
            kind="pr_merged",
            login=author["login"].lower(),
            external_id=f"github:pr_merged:{pull['id']}",
            occurred_at=_when(pull.get("merged_at")),
            detail=_detail(payload, pull.get("number")),
        )
    if event == "pull_request_review" and action == "submitted":
        review, pull = payload.get("review") or {}, payload.get("pull_request") or {}
        reviewer, author = review.get("user"), pull.get("user") or {}
        if reviewer is None or _is_bot(reviewer) or not review.get("id"):
            return None
        if reviewer["login"].lower() == str(author.get("login", "")).lower():
            return None  # a comment on one's own pull request reviews nothing
        return GithubSignal(
            kind="pr_reviewed",
            login=reviewer["login"].lower(),
            external_id=f"github:pr_reviewed:{review['id']}",
            occurred_at=_when(review.get("submitted_at")),
            detail=_detail(payload, pull.get("number")),
        )
    if event == "issues" and action == "closed":
        issue, closer = payload.get("issue") or {}, payload.get("sender")
        if (
            issue.get("state_reason") not in (None, "completed")
            or closer is None
            or _is_bot(closer)
            or not issue.get("id")
        ):
            return None  # closed as not planned (or a duplicate) is no result
        return GithubSignal(
            kind="issue_closed",
            login=closer["login"].lower(),
            external_id=f"github:issue_closed:{issue['id']}",
            occurred_at=_when(issue.get("closed_at")),
            detail=_detail(payload, issue.get("number")),
        )
    return None


def _account_emails(account: object) -> list[GithubEmail]:
    if isinstance(account, dict) and account.get("login") and account.get("email") and not _is_bot(account):
        return [GithubEmail(login=str(account["login"]).lower(), email=str(account["email"]))]
    return []


def github_emails_read(*, event: str, payload: dict) -> list[GithubEmail]:
    """E-mails GitHub ties to logins in a payload: a push's commit authors and committers (GitHub sets
    ``username`` only for an e-mail verified on that account), the pusher, and the public e-mail of the
    accounts it names (GitHub allows only a verified one there). Never the e-mail a commit merely claims."""
    found: list[GithubEmail] = []
    if event == "push":
        commits = list(payload.get("commits") or []) + [payload.get("head_commit") or {}]
        for commit in commits:
            for role in ("author", "committer"):
                person = (commit or {}).get(role) or {}
                if person.get("username") and person.get("email"):
                    found.append(GithubEmail(login=str(person["username"]).lower(), email=str(person["email"])))
        pusher = payload.get("pusher") or {}
        if pusher.get("name") and pusher.get("email"):
            found.append(GithubEmail(login=str(pusher["name"]).lower(), email=str(pusher["email"])))
    found += _account_emails(payload.get("sender"))
    for holder in ("pull_request", "review", "issue"):
        found += _account_emails((payload.get(holder) or {}).get("user"))
    return list(dict.fromkeys(found))


# --- Deliveries ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryResult:
    status: str  # recorded, unmapped, ignored, duplicate
    kind: str = ""
    outcome_id: int | None = None


def _identity_touch(login: str) -> GithubIdentity:
    now = timezone.now()
    identity, _ = GithubIdentity.objects.get_or_create(login=login, defaults={"first_seen_at": now})
    GithubIdentity.objects.filter(pk=identity.pk).update(events_seen=F("events_seen") + 1, last_seen_at=now)
    identity.refresh_from_db()
    return identity


def _signal_record(*, delivery: GithubDelivery, user) -> Outcome:
    assert delivery.occurred_at is not None  # set on every delivery with a signal, the only ones recorded
    integration_kinds_register({delivery.kind})
    outcome, _ = outcome_record(
        external_id=delivery.external_id,
        kind=delivery.kind,
        occurred_at=delivery.occurred_at,
        source_kind=ValueSource.INTEGRATION,
        integration=INTEGRATION,
        user=user,
        team=team_for_person(user_id=user.pk),
        source=f"github:{delivery.detail}"[:200],
    )
    GithubDelivery.objects.filter(pk=delivery.pk).update(status=GithubDelivery.Status.RECORDED, outcome=outcome)
    return outcome


def _pending_record(identity: GithubIdentity) -> int:
    """Record the signals waiting for this (now mapped) login; returns how many were recorded."""
    waiting = list(
        GithubDelivery.objects.filter(login=identity.login, status=GithubDelivery.Status.UNMAPPED).order_by("pk")
    )
    for delivery in waiting:
        _signal_record(delivery=delivery, user=identity.user)
    return len(waiting)


@transaction.atomic
def github_delivery_receive(*, delivery_id: str, event: str, payload: dict) -> DeliveryResult:
    """Take one verified delivery: match logins on the e-mails GitHub vouches for, then record its
    value signal for the mapped person, or keep it waiting for its login to be mapped.

    Idempotent on ``delivery_id``: a redelivery answers ``duplicate`` and changes nothing (the unique
    delivery row decides between concurrent copies). The outcome is idempotent on the GitHub object too,
    so the same merge sent by two webhooks (repository and organisation) counts once.
    """
    signal = github_signal_read(event=event, payload=payload)
    try:
        with transaction.atomic():
            delivery = GithubDelivery.objects.create(
                delivery_id=delivery_id[:100],
                event=event[:64],
                action=str(payload.get("action") or "")[:64],
                status=GithubDelivery.Status.IGNORED if signal is None else GithubDelivery.Status.UNMAPPED,
                login=signal.login if signal else "",
                kind=signal.kind if signal else "",
                external_id=signal.external_id if signal else "",
                occurred_at=signal.occurred_at if signal else None,
                detail=signal.detail if signal else "",
            )
    except IntegrityError:
        return DeliveryResult(status="duplicate")
    for claim in github_emails_read(event=event, payload=payload):
        github_identity_auto_match(login=claim.login, email=claim.email)
    if signal is None:
        return DeliveryResult(status=GithubDelivery.Status.IGNORED)
    identity = _identity_touch(signal.login)
    if identity.user is None:
        return DeliveryResult(status=GithubDelivery.Status.UNMAPPED, kind=signal.kind)
    outcome = _signal_record(delivery=delivery, user=identity.user)
    return DeliveryResult(status=GithubDelivery.Status.RECORDED, kind=signal.kind, outcome_id=outcome.pk)


# --- Identities ----------------------------------------------------------------------------------


def github_identity_auto_match(*, login: str, email: str) -> GithubIdentity | None:
    """Map ``login`` to the one active person whose e-mail is ``email`` (case-insensitive), if the login
    is not mapped yet; then record its waiting signals. Audited (actor ``github-webhook``).

    Returns the identity when it was matched now, else None (no such person, several, already mapped).
    An admin's mapping is never overridden.
    """
    people = list(get_user_model().objects.filter(email__iexact=email.strip(), is_active=True)[:2])
    if len(people) != 1 or not email.strip():
        return None
    with transaction.atomic():
        identity, _ = GithubIdentity.objects.get_or_create(
            login=login.lower(), defaults={"first_seen_at": timezone.now()}
        )
        identity = GithubIdentity.objects.select_for_update().get(pk=identity.pk)
        if identity.user_id is not None:
            return None
        before = audit_snapshot(identity)
        identity.user, identity.matched_by = people[0], GithubIdentity.MatchedBy.EMAIL
        identity.matched_email = email.strip()[:254]
        identity.save()
        audit_record(
            actor_label=WEBHOOK_ACTOR, action="update", instance=identity, before=before, after=audit_snapshot(identity)
        )
        _pending_record(identity)
    return identity


@transaction.atomic
def github_identity_map(*, login: str, user, actor=None, actor_label: str = "") -> tuple[GithubIdentity, int]:
    """Map a GitHub login to a person (``user``), or unmap it (``user=None``). Admins. Audited.

    Mapping records the login's waiting signals for that person and returns how many. Unmapping stops
    attributing new signals; outcomes already recorded stay with the person they were recorded for.
    Raises ValueError for an empty or overlong login.
    """
    login = login.strip().lower()
    if not login or len(login) > 100:
        raise ValueError("a GitHub login is 1 to 100 characters")
    identity, created = GithubIdentity.objects.get_or_create(login=login)
    identity = GithubIdentity.objects.select_for_update().get(pk=identity.pk)
    before = None if created else audit_snapshot(identity)
    identity.user = user
    identity.matched_by = GithubIdentity.MatchedBy.ADMIN if user is not None else ""
    identity.matched_email = ""
    identity.save()
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="create" if created else "update",
        instance=identity,
        before=before,
        after=audit_snapshot(identity),
    )
    return identity, (_pending_record(identity) if user is not None else 0)
