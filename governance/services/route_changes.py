"""The version of the routing table: bumped by every committed provider or model-route change.

The provider and route services (``governance.services.providers``) call ``routes_changed`` once their
transaction commits; the proxy's routing table (``usage.proxy.upstream``) is read again when it sees a
new version. The version lives in two places:

- in this process (``routes_version``), read on every call: a change reaches the process that made it
  at once;
- with Redis, in the key ``ROUTES_VERSION_KEY`` (``routes_version_shared``), incremented by every change
  and read by each proxy process at most once per ``usage.proxy.upstream.ROUTES_CHECK_S``: that is how a
  change made in one process (an admin page, a command) reaches the others. Embedded mode (no Redis)
  runs in one process, where the in-process version is enough.

The proxy reads this module, governance never imports the proxy.
"""

from __future__ import annotations

import logging

from core.redis import REDIS_ERRORS, get_async_redis, get_sync_redis

logger = logging.getLogger(__name__)

ROUTES_VERSION_KEY = "tokenwise:routes:version"

_version = 0


def routes_version() -> int:
    """How many provider or route changes this process has committed so far."""
    return _version


def routes_changed() -> None:
    """Record a committed provider or route change (run from ``transaction.on_commit``)."""
    global _version
    _version += 1
    client = get_sync_redis()
    if client is None:
        return
    try:
        client.incr(ROUTES_VERSION_KEY)
    except REDIS_ERRORS as exc:
        # The other processes keep their table until the next change they see.
        logger.warning("route change not published to other processes (Redis unavailable): %s", exc)


async def routes_version_shared() -> int | None:
    """The version all processes share (0 before the first change); None without Redis.

    Raises one of ``core.redis.REDIS_ERRORS`` when Redis cannot answer.
    """
    client = get_async_redis()
    if client is None:
        return None
    return int(await client.get(ROUTES_VERSION_KEY) or 0)
