"""Tokenwise's one Redis layer: redis-py clients for a standalone Redis, a Redis Cluster or Sentinel.

Every part of Tokenwise - the proxy's hot path, workers, commands - takes its clients from here
(None in embedded mode, where ``REDIS_URL`` is unset). ``TOKENWISE_REDIS_MODE`` chooses the topology:

- ``standalone``: the server ``REDIS_URL`` names;
- ``cluster``: a Redis Cluster; ``REDIS_URL`` names any node, the client discovers the others and
  follows ``MOVED`` / ``ASK`` redirections and failovers;
- ``sentinel``: the primary that ``TOKENWISE_REDIS_SENTINELS`` (``host:port,...``) report for
  ``TOKENWISE_REDIS_SENTINEL_MASTER``; ``REDIS_URL`` gives the database, the credentials and TLS (its
  host is not used). After a failover the clients reconnect to the new primary.

In a Cluster every key that one script or one multi-key command touches must share a hash slot: keys
carry hash tags (``governance.enforcement.counters``, docs/scaling.md).

The async clients are bound to the event loop that first used them, so one is kept per loop.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from django.conf import settings

AsyncRedis = aioredis.Redis | redis.asyncio.cluster.RedisCluster
SyncRedis = redis.Redis | redis.cluster.RedisCluster

ASYNC_POOL_SIZE = 64  # connections per process (per node in a Cluster); a command holds one per round trip
ASYNC_POOL_WAIT_S = 2.0  # then ConnectionError: callers fall back as for Redis being down
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 1.0

# What "Redis cannot serve now" looks like: unreachable, timing out, a Cluster without a primary for a
# slot (a failover under way), or a server that lost its primary role (READONLY: a demoted primary).
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError,
                redis.exceptions.ClusterDownError, redis.exceptions.TryAgainError,
                redis.exceptions.ReadOnlyError, redis.exceptions.SlotNotCoveredError)

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRedis]" = weakref.WeakKeyDictionary()


def sentinel_addresses() -> list[tuple[str, int]]:
    """``TOKENWISE_REDIS_SENTINELS`` as (host, port) pairs."""
    addresses = []
    for item in settings.TOKENWISE_REDIS_SENTINELS:
        host, _, port = item.rpartition(":")
        addresses.append((host or "localhost", int(port or 26379)))
    return addresses


def _url_options(url: str) -> dict[str, Any]:
    """The database, credentials and TLS that a Sentinel-managed connection takes from ``REDIS_URL``."""
    parts = urlsplit(url)
    path = parts.path.lstrip("/")
    options: dict[str, Any] = {"db": int(path) if path else 0}
    if parts.username:
        options["username"] = parts.username
    if parts.password is not None:
        options["password"] = parts.password
    if parts.scheme == "rediss":
        options["ssl"] = True
    return options


def _create_async() -> AsyncRedis:
    mode, url = settings.TOKENWISE_REDIS_MODE, settings.REDIS_URL
    timeouts = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": COMMAND_TIMEOUT_S}
    if mode == "cluster":
        # Redirections and a failover (ClusterDownError, a dead node) are retried here a few times,
        # then raised: callers take their "Redis down" path.
        return redis.asyncio.cluster.RedisCluster.from_url(
            url, max_connections=ASYNC_POOL_SIZE, cluster_error_retry_attempts=2, **timeouts)
    if mode == "sentinel":
        sentinel = redis.asyncio.sentinel.Sentinel(sentinel_addresses(), **timeouts)
        return sentinel.master_for(settings.TOKENWISE_REDIS_SENTINEL_MASTER, health_check_interval=30,
                                   **timeouts, **_url_options(url))
    # A blocking pool: past its size a call waits (briefly) for a free connection. redis-py's default
    # pool raises "Too many connections" at once, which a burst of calls in one process reaches as soon
    # as the upstream is fast; a small pool also keeps a burst from opening hundreds of connections at
    # once (their handshakes are slow on a busy host).
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=ASYNC_POOL_SIZE, timeout=ASYNC_POOL_WAIT_S, health_check_interval=30, **timeouts)
    return aioredis.Redis(connection_pool=pool)


def get_async_redis() -> AsyncRedis | None:
    """The async client for the running loop, or None when Tokenwise runs without Redis."""
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = _create_async()
    return client


@functools.cache
def get_sync_redis() -> SyncRedis | None:
    """The blocking client for workers and commands, or None without Redis."""
    if not settings.REDIS_URL:
        return None
    mode, url = settings.TOKENWISE_REDIS_MODE, settings.REDIS_URL
    timeouts = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": 5.0}
    if mode == "cluster":
        return redis.cluster.RedisCluster.from_url(url, cluster_error_retry_attempts=2, **timeouts)
    if mode == "sentinel":
        sentinel = redis.sentinel.Sentinel(sentinel_addresses(), **timeouts)
        return sentinel.master_for(settings.TOKENWISE_REDIS_SENTINEL_MASTER, **timeouts, **_url_options(url))
    return redis.Redis.from_url(url, **timeouts)
