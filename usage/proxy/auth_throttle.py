"""Failed authentications on ``/v1/``, throttled per client address.

A flood of made-up keys must not cost a database read and a ledger row each. Around
``key_authenticate``:

- failures (no key, a malformed key, an unknown key) are counted per client address in fixed windows of
  ``WINDOW_S`` seconds - in Redis when there is one (shared by every replica: ``INCR``), else in this
  process. Past ``TOKENWISE_AUTH_FAILURES_PER_MINUTE`` failures the address gets 429 with
  ``Retry-After`` until the window ends, with no key lookup at all; keys this process has accepted
  recently still pass (colleagues behind the same NAT keep working);
- an unknown key's hash is remembered (``NEGATIVE_TTL_S``): the same unknown key again is refused from
  memory, without a database or Redis lookup. A key's secret is random, so a hash unknown now is not
  the hash of a key created later;
- each failure is counted in ``tokenwise_proxy_auth_failures_total``, each throttled refusal in
  ``tokenwise_proxy_auth_throttled_total``, and an address that reaches the limit leaves one audit log
  entry (``auth_throttled``) per window - not one per attempt, and no ledger row (the ledger records
  calls from known keys).

The client address is ``REMOTE_ADDR`` (the ASGI peer): X-Forwarded-For is whatever the client says
unless a proxy that Tokenwise trusts rewrites it.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest

from core import metrics
from core.redis import REDIS_ERRORS, get_async_redis
from governance.exceptions import AuthenticationFailed, KnownKeyRefused
from governance.services.audit import audit_security_event
from governance.services.keys import KEY_PREFIX, KeyPrincipal, key_authenticate, key_hash
from usage.proxy.errors import ProxyError

WINDOW_S = 60
NEGATIVE_TTL_S = 60.0  # an unknown key's hash, refused from memory
KNOWN_TTL_S = 600.0  # a key accepted here passes a throttled address for this long
_MAX_ENTRIES = 100_000  # per table; past it the table starts over (memory stays bounded under a flood)
_REDIS_KEY = "tw:auth-failures:{}:{}"

_failures: dict[str, tuple[int, int]] = {}  # address -> (window, failures): without Redis
_throttled: dict[str, int] = {}  # address -> the window it is throttled in
_unknown: dict[str, float] = {}  # key hash -> until (time.monotonic())
_known: dict[str, float] = {}  # key hash -> until (time.monotonic())
_events: set[asyncio.Task] = set()  # audit entries being written


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def auth_throttle_reset() -> None:
    """Forget every count and remembered key of this process (tests)."""
    for table in (_failures, _throttled, _unknown, _known):
        table.clear()


def _hash_of(authorization: str | None) -> str | None:
    """The hash ``key_authenticate`` would look up, or None when it would not look anything up."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    secret = authorization[7:].strip()
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    return key_hash(secret)


def _remember(table: dict[str, float], hash_value: str, ttl_s: float) -> None:
    if len(table) >= _MAX_ENTRIES:
        table.clear()
    table[hash_value] = time.monotonic() + ttl_s


def _throttled_error(window: int) -> ProxyError:
    retry_after = max(1, math.ceil((window + 1) * WINDOW_S - time.time()))
    return ProxyError(
        429,
        "Too many failed authentications from your address; retry after the Retry-After seconds.",
        code="too_many_failed_authentications",
        type="rate_limit_error",
        headers={"Retry-After": str(retry_after)},
    )


async def _failures_count(address: str, window: int) -> int:
    """Count one failure of ``address`` in ``window``; the window's failures so far (shared via Redis)."""
    client = get_async_redis()
    if client is not None:
        key = _REDIS_KEY.format(window, address)
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2 * WINDOW_S)
                count, _ = await pipe.execute()
            return int(count)
        except REDIS_ERRORS:
            pass  # counted in this process meanwhile
    previous_window, count = _failures.get(address, (window, 0))
    count = count + 1 if previous_window == window else 1
    if len(_failures) >= _MAX_ENTRIES:
        _failures.clear()
    _failures[address] = (window, count)
    return count


async def _failure(address: str, window: int, exc: AuthenticationFailed) -> None:
    metrics.labelled(metrics.AUTH_FAILURES, exc.code).inc()
    count = await _failures_count(address, window)
    limit = settings.TOKENWISE_AUTH_FAILURES_PER_MINUTE
    if count >= limit:
        _throttled[address] = window
    if count == limit:  # exactly one failure per window reaches the limit: one entry per address and window
        started = datetime.fromtimestamp(window * WINDOW_S, tz=UTC)
        task = asyncio.ensure_future(
            sync_to_async(audit_security_event, thread_sensitive=True)(
                action="auth_throttled",
                subject_type="proxy.client_address",
                subject=address,
                details={
                    "address": address,
                    "failures": count,
                    "window_start": started.isoformat(),
                    "window_s": WINDOW_S,
                },
            )
        )
        _events.add(task)
        task.add_done_callback(_events.discard)


async def proxy_authenticate(request: HttpRequest) -> KeyPrincipal:
    """``key_authenticate`` of the request's ``Authorization``, throttled per client address.

    Raises what ``key_authenticate`` raises, or ProxyError 429 ``too_many_failed_authentications``
    (with ``Retry-After``) while the address is throttled. Revoked and expired keys are known keys:
    refused as before, not counted as guesses.
    """
    address, authorization = client_address(request), request.META.get("HTTP_AUTHORIZATION")
    hash_value = _hash_of(authorization)
    window = int(time.time() // WINDOW_S)
    now = time.monotonic()
    if _throttled.get(address) == window and not (hash_value and _known.get(hash_value, 0.0) > now):
        metrics.AUTH_THROTTLED.inc()
        raise _throttled_error(window)
    try:
        if hash_value is not None and _unknown.get(hash_value, 0.0) > now:
            raise AuthenticationFailed("Incorrect API key provided.")
        principal = await key_authenticate(authorization)
    except KnownKeyRefused:
        raise
    except AuthenticationFailed as exc:
        if hash_value is not None:
            _remember(_unknown, hash_value, NEGATIVE_TTL_S)
        await _failure(address, window, exc)
        raise
    _remember(_known, principal.key_hash, KNOWN_TTL_S)
    return principal
