"""Proxy keys: creation, revocation, and authentication on the hot path.

Revocation bound. Keys are cached in this process (``TOKENWISE_KEY_CACHE_TTL_S``) and in Redis. A
revoked key is refused on every replica within ``TOKENWISE_KEY_CACHE_TTL_S`` of ``key_revoke``
returning, in every interleaving of lookups with the revocation:

- ``key_cache_evict`` (after the revoke commits) bumps the key's **generation** in Redis and deletes its
  shared entry in one script. A lookup reads the generation together with the entry before it reads
  the database, and writes its answer back only if the generation is still the one it read (a
  compare-and-set script) - so a database read taken before the revoke committed is never written
  into the shared cache after the eviction;
- in-process, an eviction counter plays the same part for the local cache, and a local entry expires
  ``TOKENWISE_KEY_CACHE_TTL_S`` after its lookup *started* (not finished), so an answer read before the
  revocation is never kept past the bound however long its lookup took.

Without Redis (embedded mode) there is one process and the local rules alone give the bound. When Redis
is unreachable during the eviction, its entry expires on its own (``_SHARED_TTL_S``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from core.redis import REDIS_ERRORS, get_async_redis, get_sync_redis
from governance.exceptions import AuthenticationFailed, KeyExpired, KeyRevoked
from governance.models import ApiKey, Team
from governance.services.audit import audit_record, audit_snapshot

KEY_PREFIX = "tw-"
_CACHE_KEY = "tw:key:{{{}}}"  # hash-tagged by the key hash: with its generation in one Cluster slot
_GENERATION_KEY = "tw:keygen:{{{}}}"
# Kept far longer than any lookup can take: a lookup compares the generation it read before its
# database read with the one at write-back; an expired generation would compare equal to "never evicted".
_GENERATION_TTL_S = 24 * 3600
_EVICT_SCRIPT = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""
_WRITE_BACK_SCRIPT = """
local generation = redis.call('GET', KEYS[2]) or ''
if generation ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """What the hot path needs to know about a key; cached in-process and in Redis."""

    key_id: int
    key_hash: str
    user_id: int
    team_id: int
    user_email: str
    team_slug: str
    is_service: bool
    expires_at: float | None  # epoch seconds
    revoked: bool


@transaction.atomic
def key_create(
    *,
    user,
    team: Team,
    name: str = "default",
    is_service: bool = False,
    expires_at: datetime | None = None,
    actor=None,
    actor_label: str = "",
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored and never shown again.

    The person must belong to the team (a membership is not created here). Audited.
    """
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        team=team,
        name=name,
        prefix=secret[:10],
        key_hash=key_hash(secret),
        is_service=is_service,
        expires_at=expires_at,
    )
    audit_record(actor=actor, actor_label=actor_label, action="create", instance=key, after=audit_snapshot(key))
    return key, secret


@transaction.atomic
def key_revoke(*, key: ApiKey, actor=None, actor_label: str = "") -> ApiKey:
    """Revoke a key. Idempotent. Every replica stops accepting it within the in-process cache TTL."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        before = audit_snapshot(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="revoke",
            instance=key,
            before=before,
            after=audit_snapshot(key),
        )
    transaction.on_commit(lambda: key_cache_evict(key_hash_value=key.key_hash))
    return key


def key_cache_evict(*, key_hash_value: str) -> None:
    """Drop a key from the shared cache and this process's cache, so the next use reads the database.

    Call it after the change committed. Bumps the key's generation in Redis and deletes its entry
    atomically, and bumps this process's eviction counter, so no lookup that began before the call
    writes its (possibly stale) answer back afterwards (see the module docstring).
    """
    global _local_evictions
    with _local_lock:
        _local_evictions += 1
        _local_cache.pop(key_hash_value, None)
    client = get_sync_redis()
    if client is not None:
        try:
            client.eval(
                _EVICT_SCRIPT,
                2,
                _CACHE_KEY.format(key_hash_value),
                _GENERATION_KEY.format(key_hash_value),
                _GENERATION_TTL_S,
            )
        except REDIS_ERRORS:
            pass  # the shared entry expires on its own within its TTL


# --- Hot path -------------------------------------------------------------------------------------

_local_cache: dict[str, tuple[float, KeyPrincipal | None]] = {}
_local_lock = threading.Lock()  # evictions (request threads) vs write-backs (event loops); never on a hit
_local_evictions = 0
_SHARED_TTL_S = 60


def _principal_from_db(hash_value: str) -> KeyPrincipal | None:
    close_old_connections()  # a pool thread: drop a connection an earlier database outage broke
    key = ApiKey.objects.select_related("user", "team").filter(key_hash=hash_value).first()
    if key is None:
        return None
    return KeyPrincipal(
        key_id=key.pk,
        key_hash=key.key_hash,
        user_id=key.user_id,
        team_id=key.team_id,
        user_email=key.user.email,
        team_slug=key.team.slug,
        is_service=key.is_service,
        expires_at=key.expires_at.timestamp() if key.expires_at else None,
        revoked=key.revoked_at is not None,
    )


async def _principal_lookup(hash_value: str) -> KeyPrincipal | None:
    """Redis (shared) cache, else the database; a miss is cached too, briefly.

    The database's answer is written back only if the key was not evicted since the shared entry was
    read (the generation compare-and-set of the module docstring).
    """
    from asgiref.sync import sync_to_async

    client = get_async_redis()
    entry_key, generation_key = _CACHE_KEY.format(hash_value), _GENERATION_KEY.format(hash_value)
    generation: bytes | str = b""
    if client is not None:
        try:
            raw, raw_generation = await client.mget(entry_key, generation_key)
            if raw is not None:
                data = json.loads(raw)
                return KeyPrincipal(**data) if data else None
            generation = raw_generation or b""
        except REDIS_ERRORS:
            client = None  # Redis down: fall through to the database
    principal = await sync_to_async(_principal_from_db, thread_sensitive=False)(hash_value)
    if client is not None:
        try:
            payload = json.dumps(dataclasses.asdict(principal) if principal else None)
            await client.eval(
                _WRITE_BACK_SCRIPT, 2, entry_key, generation_key, generation, payload, _SHARED_TTL_S if principal else 5
            )
        except REDIS_ERRORS:
            pass
    return principal


_refreshing: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future] = {}


async def _principal_refresh(hash_value: str) -> KeyPrincipal | None:
    """Look a key up again once its cache entry expired: one lookup however many of its calls are
    waiting (a busy key's entry expires under dozens of concurrent calls at once)."""
    loop = asyncio.get_running_loop()
    pending = _refreshing.get((loop, hash_value))
    if pending is not None:
        return await asyncio.shield(pending)
    future = _refreshing[loop, hash_value] = loop.create_future()
    cached = _local_cache.get(hash_value)
    started, evictions = time.monotonic(), _local_evictions
    try:
        try:
            principal = await _principal_lookup(hash_value)
        except DatabaseError:
            if cached is None:
                raise
            # Redis and the database both unreachable: keep the last answer (stale-if-error) rather
            # than lock everyone out; revocations wait for the stores to come back.
            principal = cached[1]
        with _local_lock:
            if _local_evictions == evictions:  # else a key was evicted meanwhile: this answer may be stale
                if len(_local_cache) > 100_000:
                    _local_cache.clear()
                _local_cache[hash_value] = (started + settings.TOKENWISE_KEY_CACHE_TTL_S, principal)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved here: the waiters, if any, get it too
        raise
    else:
        future.set_result(principal)
    finally:
        del _refreshing[loop, hash_value]
    return principal


async def key_authenticate(authorization: str | None) -> KeyPrincipal:
    """Resolve ``Authorization: Bearer tw-…`` to a principal.

    Raises AuthenticationFailed (missing/unknown), KeyRevoked or KeyExpired. Steady state: one dict
    lookup; the database is read only on a cache miss.
    """
    if not authorization or not authorization.startswith("Bearer "):
        raise AuthenticationFailed("Missing API key. Send it as 'Authorization: Bearer tw-...'.")
    secret = authorization[7:].strip()
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise AuthenticationFailed("Incorrect API key provided.")
    hash_value = key_hash(secret)
    cached = _local_cache.get(hash_value)
    if cached is not None and cached[0] > time.monotonic():
        principal = cached[1]
    else:
        principal = await _principal_refresh(hash_value)
    # The lookup is by hash; compare again in constant time so timing never depends on the secret.
    if principal is None or not hmac.compare_digest(principal.key_hash, hash_value):
        raise AuthenticationFailed("Incorrect API key provided.")
    if principal.revoked:
        raise KeyRevoked("This API key has been revoked.", principal=principal)
    if principal.expires_at is not None and principal.expires_at <= time.time():
        raise KeyExpired("This API key has expired.", principal=principal)
    return principal
