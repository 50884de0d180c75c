"""Sign-in throttling: failed attempts counted per (username, client address) in the shared cache.

The username is counted under its normalised identity (``login_identity``: NFKC, then case-folded), at
least as broad as what the database matches case-insensitively - so look-alikes such as ``a2@ſec.test``
(U+017F, which PostgreSQL's UPPER maps to ``S``) or full-width letters share the lockout of ``a2@sec.test``.

After ``TOKENWISE_LOGIN_MAX_FAILURES`` failures the pair is locked out for ``TOKENWISE_LOGIN_LOCKOUT_S``
seconds, counted from the last failure. A successful sign-in clears the counter. Counting per pair
(not per username alone) keeps an attacker from locking a colleague out from another machine.
"""

from __future__ import annotations

import hashlib
import unicodedata

from django.conf import settings
from django.core.cache import cache


def login_identity(username: str) -> str:
    """The identity a sign-in attempt is throttled under: NFKC, case-folded, NFKC again (a fixed point),
    with surrounding white space removed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())
    return folded.strip()


def _key(*, username: str, address: str) -> str:
    identity = login_identity(username)
    digest = hashlib.sha256(f"{identity}\x00{address}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"login-failures:{digest}"


def _max_failures() -> int:
    return getattr(settings, "TOKENWISE_LOGIN_MAX_FAILURES", 5)


def _lockout_s() -> int:
    return getattr(settings, "TOKENWISE_LOGIN_LOCKOUT_S", 900)


def login_is_locked(*, username: str, address: str) -> bool:
    """Has this (username, address) pair failed too often recently?"""
    return (cache.get(_key(username=username, address=address)) or 0) >= _max_failures()


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failed sign-in; return the number of recent failures. Atomic in Redis."""
    key = _key(username=username, address=address)
    cache.add(key, 0, timeout=_lockout_s())
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_lockout_s())
        failures = 1
    cache.touch(key, timeout=_lockout_s())
    return failures


def login_success_record(*, username: str, address: str) -> None:
    """Forget the pair's failures after a successful sign-in."""
    cache.delete(_key(username=username, address=address))


def lockout_seconds() -> int:
    return _lockout_s()
