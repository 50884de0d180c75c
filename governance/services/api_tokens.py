"""API tokens (``twa-…``) for the REST API: creation, revocation, authentication.

Tokens are stored only as SHA-256 hashes; the secret is returned once, at creation. They are a separate
kind of credential from proxy keys (``tw-…``): the proxy accepts only proxy keys, ``/api/`` only tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from governance.exceptions import AuthenticationFailed, GovernanceError, KeyExpired, KeyRevoked
from governance.models import ApiToken, Membership, Team
from governance.services.audit import audit_record, audit_snapshot

TOKEN_PREFIX = "twa-"
ALL_SCOPES = frozenset(ApiToken.Scope.values)
SERVICE_SCOPES = ALL_SCOPES - {ApiToken.Scope.ADMIN}
_LAST_USED_GRANULARITY = timedelta(minutes=1)  # at most one write per token per minute


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _scopes_validate(*, user, team: Team | None, scopes: list[str]) -> list[str]:
    wanted = sorted(set(scopes))
    if not wanted:
        raise GovernanceError("A token needs at least one scope.", param="scopes")
    unknown = set(wanted) - ALL_SCOPES
    if unknown:
        raise GovernanceError(f"Unknown scopes: {', '.join(sorted(unknown))}.", param="scopes")
    if ApiToken.Scope.ADMIN in wanted and (team is not None or not user.is_staff):
        raise GovernanceError("Only a staff person's personal token can hold the admin scope.", param="scopes")
    return wanted


@transaction.atomic
def api_token_create(
    *,
    user,
    name: str,
    scopes: list[str],
    team: Team | None = None,
    expires_at: datetime | None = None,
    actor=None,
    actor_label: str = "",
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored and never shown again.

    ``team`` makes it a service token, acting for that team only. Raises GovernanceError (400) for no
    or unknown scopes, the admin scope on a non-staff or service token, an expiry in the past, or a
    service token for a team ``user`` neither manages nor administers. Audited (hash masked).
    """
    wanted = _scopes_validate(user=user, team=team, scopes=scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise GovernanceError("expires_at must be in the future.", param="expires_at")
    if (
        team is not None
        and not user.is_staff
        and not Membership.objects.filter(user=user, team=team, role=Membership.Role.MANAGER).exists()
    ):
        raise GovernanceError("Only the team's managers or an admin can create its service tokens.", param="team")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        team=team,
        name=name,
        prefix=secret[:10],
        token_hash=token_hash(secret),
        scopes=wanted,
        expires_at=expires_at,
    )
    audit_record(actor=actor, actor_label=actor_label, action="create", instance=token, after=audit_snapshot(token))
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor=None, actor_label: str = "") -> ApiToken:
    """Revoke a token. Idempotent; takes effect on the next request (tokens are not cached). Audited."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        before = audit_snapshot(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="revoke",
            instance=token,
            before=before,
            after=audit_snapshot(token),
        )
    return token


def api_token_authenticate(*, secret: str) -> ApiToken:
    """The live token for ``secret`` (with its user and team loaded).

    Raises AuthenticationFailed for a malformed or unknown secret or an inactive user, KeyRevoked,
    KeyExpired. A service token acts with its creator's authority as it is now, checked on every use:
    once its creator is neither an admin (staff) nor a manager of its team any more - demoted, removed
    from the team, deactivated - it is refused (AuthenticationFailed) until they are again. The lookup is by hash and the hash is compared again in constant time. ``last_used_at``
    is advanced at most once a minute, with a conditional UPDATE (no read-modify-write race).
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthenticationFailed("Incorrect API token provided.")
    hash_value = token_hash(secret)
    token = ApiToken.objects.select_related("user", "team").filter(token_hash=hash_value).first()
    if token is None or not hmac.compare_digest(token.token_hash, hash_value):
        raise AuthenticationFailed("Incorrect API token provided.")
    if token.revoked_at is not None:
        raise KeyRevoked("This API token has been revoked.")
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise KeyExpired("This API token has expired.")
    if not token.user.is_active:
        raise AuthenticationFailed("This API token's owner is inactive.")
    if (
        token.team_id is not None
        and not token.user.is_staff
        and not Membership.objects.filter(
            user_id=token.user_id, team_id=token.team_id, role=Membership.Role.MANAGER
        ).exists()
    ):
        raise AuthenticationFailed("This service token's creator no longer manages its team.")
    if token.last_used_at is None or token.last_used_at < now - _LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk, last_used_at=token.last_used_at).update(last_used_at=now)
        token.last_used_at = now
    return token
