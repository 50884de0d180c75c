"""Tokenwise's one Redis layer: redis-py clients for a standalone Redis, a Redis Cluster or Sentinel.

Every part of Tokenwise - the proxy's hot path, workers, commands - takes its clients from here
(None in embedded mode, where ``REDIS_URL`` is unset). ``TOKENWISE_REDIS_MODE`` chooses the topology:

- ``standalone``: the server ``REDIS_URL`` names;
- ``cluster``: a Redis Cluster; ``REDIS_URL`` names any node, the client discovers the others and
  follows ``MOVED`` / ``ASK`` redirections and failovers; ``TOKENWISE_REDIS_CLUSTER_NODES``
  (``host:port,...``) adds seeds, for a process that starts while the node ``REDIS_URL`` names is down;
- ``sentinel``: the primary that ``TOKENWISE_REDIS_SENTINELS`` (``host:port,...``) report for
  ``TOKENWISE_REDIS_SENTINEL_MASTER``; ``REDIS_URL`` gives the database, the credentials and TLS (its
  host is not used). After a failover the clients reconnect to the new primary.

In a Cluster every key that one script or one multi-key command touches must share a hash slot: keys
carry hash tags (``governance.enforcement.counters``, docs/scaling.md).

The async clients are bound to the event loop that first used them, so one is kept per loop.

The hot path's commands (admission, settlement) go through ``execute`` and ``pipeline``: on a standalone
Redis or behind Sentinel they take a connection from a small per-loop stack (``_Lanes``) and talk to it
directly, without the client's per-command pool checkout, retry wrapper and timeouts around each write;
in a Cluster they go through the Cluster client, which routes them by slot and follows redirections.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import weakref
from typing import Any
from urllib.parse import urlsplit

import hiredis
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
# slot (a failover under way) or with no node the client can reach (RedisClusterException: "Redis Cluster
# cannot be connected" while its nodes are re-discovered), or a server that lost its primary role
# (READONLY: a demoted primary). A key layout error (keys of one script in different slots) is a
# RedisClusterException too: the topology tests would see it as calls refused after a failover.
REDIS_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.RedisClusterException,
)


class _ClosedTransportIsConnectionError:
    """A write on a connection whose peer just went away is a ``ConnectionError``.

    Under uvloop, writing to a transport that the server closed (a node killed in a failover, between
    the connection's handshake and its first command) raises ``RuntimeError``, and a connection that a
    concurrent failure closed meanwhile has no writer left (``AttributeError``); redis-py passes both on.
    Callers expect the connection error that their "Redis down" path handles.
    """

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        try:
            # A mixin: mypy cannot see the redis-py connection class it is mixed into, which has
            # send_packed_command and the private _writer.
            await super().send_packed_command(command, check_health)  # type: ignore[misc]  # mixin
        except (RuntimeError, AttributeError) as exc:
            if isinstance(exc, AttributeError) and self._writer is not None:  # type: ignore[attr-defined]  # mixin
                raise
            raise redis.exceptions.ConnectionError(f"Redis closed the connection ({exc})") from exc


class _Connection(_ClosedTransportIsConnectionError, aioredis.Connection):
    pass


class _SSLConnection(_ClosedTransportIsConnectionError, aioredis.SSLConnection):
    pass


class _SentinelConnection(_ClosedTransportIsConnectionError, redis.asyncio.sentinel.SentinelManagedConnection):
    pass


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRedis] = weakref.WeakKeyDictionary()


def _addresses(items: list[str], default_port: int) -> list[tuple[str, int]]:
    addresses = []
    for item in items:
        host, _, port = item.strip().rpartition(":")
        addresses.append((host or "localhost", int(port or default_port)))
    return addresses


def sentinel_addresses() -> list[tuple[str, int]]:
    """``TOKENWISE_REDIS_SENTINELS`` as (host, port) pairs."""
    return _addresses(settings.TOKENWISE_REDIS_SENTINELS, 26379)


def cluster_seed_addresses() -> list[tuple[str, int]]:
    """``TOKENWISE_REDIS_CLUSTER_NODES`` as (host, port) pairs: seeds besides the node ``REDIS_URL`` names."""
    return _addresses(settings.TOKENWISE_REDIS_CLUSTER_NODES, 6379)


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
    timeouts: dict[str, Any] = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": COMMAND_TIMEOUT_S}
    if mode == "cluster":
        # Redirections and a failover (ClusterDownError, a dead node) are retried here a few times,
        # then raised: callers take their "Redis down" path.
        client = redis.asyncio.cluster.RedisCluster.from_url(
            url,
            startup_nodes=[redis.asyncio.cluster.ClusterNode(host, port) for host, port in cluster_seed_addresses()],
            max_connections=ASYNC_POOL_SIZE,
            cluster_error_retry_attempts=2,
            **timeouts,
        )
        connection_class = _SSLConnection if url.startswith("rediss:") else _Connection
        client.nodes_manager.connection_kwargs["connection_class"] = connection_class  # nodes found later
        for node in client.nodes_manager.startup_nodes.values():
            node.connection_class = connection_class
        return client
    if mode == "sentinel":
        sentinel = redis.asyncio.sentinel.Sentinel(sentinel_addresses(), **timeouts)
        options = _url_options(url)
        if not options.get("ssl"):
            options["connection_class"] = _SentinelConnection
        return sentinel.master_for(
            settings.TOKENWISE_REDIS_SENTINEL_MASTER, health_check_interval=30, **timeouts, **options
        )
    # A blocking pool: past its size a call waits (briefly) for a free connection. redis-py's default
    # pool raises "Too many connections" at once, which a burst of calls in one process reaches as soon
    # as the upstream is fast; a small pool also keeps a burst from opening hundreds of connections at
    # once (their handshakes are slow on a busy host).
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=ASYNC_POOL_SIZE,
        timeout=ASYNC_POOL_WAIT_S,
        health_check_interval=30,
        connection_class=_SSLConnection if url.startswith("rediss:") else _Connection,
        **timeouts,
    )
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


class _Lanes:
    """Connections of one loop for single commands and pipelines, each used by one caller at a time.

    Taken last-in first-out (the most recently used connection is warm), at most ``ASYNC_POOL_SIZE`` at
    once; past that a caller waits up to ``ASYNC_POOL_WAIT_S`` for one, then gets a ``ConnectionError``.
    The connections are the client pool's kind (``_Connection``, or Sentinel's, which asks the sentinels
    for the primary at each connect and takes a ``READONLY`` from a demoted primary as a connection
    error). A command is written whole without waiting for the socket (one small command at a time per
    connection), its reply read with the connection's timeout. A command is never sent twice: a
    connection whose close the loop has seen while it was idle is reconnected before use; one that
    fails in use (including a close that arrived in the same loop iteration) is disconnected and the
    error raised, for the caller's "Redis down" path.
    """

    def __init__(self, pool: aioredis.ConnectionPool) -> None:
        self._pool = pool
        self._idle: list[aioredis.Connection] = []
        self._count = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    async def _take(self) -> aioredis.Connection:
        if self._idle:
            connection = self._idle.pop()
        elif self._count < ASYNC_POOL_SIZE:
            self._count += 1
            connection = self._pool.make_connection()
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(ASYNC_POOL_WAIT_S):
                    connection = await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    self._give(waiter.result())  # handed over just as the wait ended: pass it on
                waiter.cancel()
                if isinstance(exc, TimeoutError):
                    raise redis.exceptions.ConnectionError("No connection available.") from exc
                raise
        reader = connection._reader
        if reader is None or reader.at_eof() or connection._writer.transport.is_closing():  # type: ignore[union-attr]  # set with _reader
            await connection.disconnect(nowait=True)
            try:
                await connection.connect()
            except BaseException:
                self._give(connection)
                raise
        return connection

    def _give(self, connection: aioredis.Connection) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    async def execute(self, args: tuple) -> Any:
        connection = await self._take()
        try:
            connection._writer.write(hiredis.pack_command(args))  # type: ignore[union-attr]  # connected by _take
            return await connection.read_response()
        except redis.exceptions.ResponseError:
            raise  # an error reply: the connection stays in step
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        finally:
            self._give(connection)

    async def pipeline(self, commands: list[tuple]) -> list:
        connection = await self._take()
        try:
            connection._writer.write(b"".join(hiredis.pack_command(c) for c in commands))  # type: ignore[union-attr]  # connected by _take
            replies: list = []
            for _ in commands:
                try:
                    replies.append(await connection.read_response())
                except redis.exceptions.ResponseError as error:
                    replies.append(error)
            return replies
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        finally:
            self._give(connection)


_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lanes] = weakref.WeakKeyDictionary()


def _lanes_or_cluster() -> _Lanes | redis.asyncio.cluster.RedisCluster:
    client = get_async_redis()
    assert client is not None  # the hot path sends commands to Redis only when REDIS_URL is set
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        return client
    loop = asyncio.get_running_loop()
    lanes = _lanes.get(loop)
    if lanes is None:
        lanes = _lanes[loop] = _Lanes(client.connection_pool)
    return lanes


async def execute(*args: Any) -> Any:
    """One command on the hot path; its reply, an error reply raised (``NoScriptError`` ...).

    Raises the connection errors of ``REDIS_ERRORS``; the command may have run when the error is a
    timeout or a connection lost after the write.
    """
    target = _lanes_or_cluster()
    if isinstance(target, _Lanes):
        return await target.execute(args)
    return await target.execute_command(*args)


async def pipeline(commands: list[tuple]) -> list:
    """``commands`` in one round trip (in a Cluster: one per node their keys live on); the replies in
    order, error replies as exception objects. Raises the connection errors of ``REDIS_ERRORS``."""
    target = _lanes_or_cluster()
    if isinstance(target, _Lanes):
        return await target.pipeline(commands)
    pipe = target.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return await pipe.execute(raise_on_error=False)


@functools.cache
def get_sync_redis() -> SyncRedis | None:
    """The blocking client for workers and commands, or None without Redis."""
    if not settings.REDIS_URL:
        return None
    mode, url = settings.TOKENWISE_REDIS_MODE, settings.REDIS_URL
    timeouts = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": 5.0}
    if mode == "cluster":
        seeds = [redis.cluster.ClusterNode(host, port) for host, port in cluster_seed_addresses()]
        return redis.cluster.RedisCluster.from_url(url, startup_nodes=seeds, cluster_error_retry_attempts=2, **timeouts)
    if mode == "sentinel":
        sentinel = redis.sentinel.Sentinel(sentinel_addresses(), **timeouts)
        return sentinel.master_for(settings.TOKENWISE_REDIS_SENTINEL_MASTER, **timeouts, **_url_options(url))
    return redis.Redis.from_url(url, **timeouts)


# --- Writes that must survive a failover ---------------------------------------------------------------

REPLICA_WAIT_MS = 200  # how long a replicated write waits for one replica to acknowledge it


class NotReplicated(redis.exceptions.ConnectionError):
    """Redis took the write but no replica acknowledged it in time: a failover now could lose it."""


_node_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = weakref.WeakKeyDictionary()


async def _node_client(client: redis.asyncio.cluster.RedisCluster, key: str) -> aioredis.Redis:
    """A plain client to the primary that holds ``key`` (``WAIT`` must follow the writes on their
    connection; a Cluster pipeline sends keyless commands to some other node)."""
    if not client.nodes_manager.slots_cache:
        await client.initialize()
    node = client.get_node_from_key(key)
    assert node is not None  # the primary (replica=False); a slot no node covers raises SlotNotCoveredError
    clients = _node_clients.setdefault(asyncio.get_running_loop(), {})
    found = clients.get(node.name)
    if found is None:
        kwargs = {
            name: value
            for name, value in node.connection_kwargs.items()
            if name not in ("connection_class", "max_connections", "host", "port")
        }
        found = clients[node.name] = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool(
                connection_class=node.connection_class,
                max_connections=ASYNC_POOL_SIZE,
                timeout=ASYNC_POOL_WAIT_S,
                host=node.host,
                port=node.port,
                **kwargs,
            )
        )
    return found


async def replicated_pipeline(key: str, commands: list[tuple]) -> list:
    """Run ``commands`` (all on ``key``, or on its hash slot) in one pipeline and, where the topology
    replicates (Cluster, Sentinel), wait until one replica holds them.

    Redis replicates asynchronously: a primary that dies right after answering may take the writes with
    it. The replies come back in order, error replies as exceptions; raises ``NotReplicated`` when no
    replica acknowledged within ``REPLICA_WAIT_MS`` (the writes may have been kept all the same), and the
    connection errors of ``REDIS_ERRORS``.
    """
    mode = settings.TOKENWISE_REDIS_MODE
    client = get_async_redis()
    assert client is not None  # callers publish to Redis only when REDIS_URL is set
    cluster = client if isinstance(client, redis.asyncio.cluster.RedisCluster) else None  # the Cluster mode
    if cluster is not None:
        client = await _node_client(cluster, key)
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    if mode != "standalone":
        pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS)
    try:
        replies = await pipe.execute(raise_on_error=False)
    except REDIS_ERRORS:
        if cluster is not None:
            await _node_clients_forget(cluster)
        raise
    if mode == "standalone":
        return replies
    acknowledged = replies.pop()
    if isinstance(acknowledged, Exception) or acknowledged < 1:
        if cluster is not None:
            await _node_clients_forget(cluster)  # MOVED or READONLY after a failover: the slot moved
        raise NotReplicated(f"no replica acknowledged the write within {REPLICA_WAIT_MS} ms")
    return replies


async def _node_clients_forget(cluster: redis.asyncio.cluster.RedisCluster) -> None:
    """Drop the per-node clients and re-read the Cluster's slot map (a failover moved a slot)."""
    _node_clients.pop(asyncio.get_running_loop(), None)
    try:
        await cluster.nodes_manager.initialize()
    except REDIS_ERRORS:
        pass  # the next call tries again
