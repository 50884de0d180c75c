"""Process-wide Redis clients (None in embedded mode, where REDIS_URL is unset).

The async client is bound to the event loop that first used it, so one is kept per loop.
"""

from __future__ import annotations

import asyncio
import functools
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = weakref.WeakKeyDictionary()

ASYNC_POOL_SIZE = 64  # connections per process; a command holds one for a single round trip
ASYNC_POOL_WAIT_S = 2.0  # then ConnectionError: callers fall back as for Redis being down

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def get_async_redis() -> aioredis.Redis | None:
    """The async client for the running loop, or None when Tokenwise runs without Redis."""
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        # A blocking pool: past its size a call waits (briefly) for a free connection. redis-py's
        # default pool holds 100 and raises "Too many connections" at once, which a burst of calls in
        # one process reaches as soon as the upstream client is fast (settlement then fails). A small
        # pool also keeps a burst from opening hundreds of connections at once: on a busy host their
        # handshakes took longer than the former 0.5 s connect timeout (docs/performance.md).
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=ASYNC_POOL_SIZE, timeout=ASYNC_POOL_WAIT_S,
            socket_connect_timeout=2.0, socket_timeout=1.0, health_check_interval=30,
        )
        client = aioredis.Redis(connection_pool=pool)
        _async_clients[loop] = client
    return client


@functools.cache
def get_sync_redis() -> redis.Redis | None:
    """The blocking client for workers and commands, or None without Redis."""
    if not settings.REDIS_URL:
        return None
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1.0, socket_timeout=5.0)
