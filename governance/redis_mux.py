"""The hot path's Redis connection: one multiplexed, auto-pipelined connection per event loop.

Every proxied call makes two Redis round trips (admission; settlement + ledger publication). With
redis-py's asyncio client each command checks a connection out of a pool, wraps its send and its read
in their own timeouts and resumes through several layers of coroutines - about a third of the CPU a
call cost (docs/performance.md). Here all the calls of one worker process share one connection:

- a command (or a group of commands sent together) is encoded and queued. The queue is written at once
  when no answer is pending, else as soon as the pending answers arrive: at most one write per round
  trip whatever the number of concurrent calls, and concurrent calls pipeline without asking;
- replies arrive in order: the protocol parses them with hiredis (the C parser redis-py uses too) and
  resolves the waiting futures first in, first out;
- a timeout or a broken connection fails every command in flight with redis-py's own exceptions
  (``redis.exceptions.TimeoutError`` / ``ConnectionError``), so callers keep their fallbacks unchanged;
  the next command reconnects.

Only the per-call commands use it (Lua admission and settlement, ``XADD``, the call-owner key). Rare
and blocking work (cache fills, workers, commands) keeps redis-py.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import ssl
import weakref
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
import redis.exceptions
from django.conf import settings

CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 1.0

Command = tuple[Any, ...]


def _encode(value: Any) -> bytes:
    kind = type(value)
    if kind is str:  # the usual cases first, by exact type
        return value.encode()
    if kind is bytes:
        return value
    if kind is int or kind is float:
        return repr(value).encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return str(value).encode()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value) if isinstance(value, float) else int(value)).encode()
    raise redis.exceptions.DataError(f"cannot send a {type(value).__name__} to Redis")


def pack(commands: list[Command] | tuple[Command, ...]) -> bytes:
    """The RESP encoding of ``commands`` (each a tuple of arguments), back to back: hiredis's encoder
    (C), or this module's for what it does not take (bytearray; bool and None are refused)."""
    try:
        return b"".join([hiredis.pack_command(command) for command in commands])
    except TypeError:
        return _pack(commands)


def _pack(commands: list[Command] | tuple[Command, ...]) -> bytes:
    out: list[bytes] = []
    append = out.append
    for command in commands:
        append(b"*%d\r\n" % len(command))
        for argument in command:
            data = _encode(argument)
            append(b"$%d\r\n" % len(data))
            append(data)
            append(b"\r\n")
    return b"".join(out)


class _Waiter:
    """The commands of one ``execute`` call: their replies, and the future that receives them."""

    __slots__ = ("future", "remaining", "replies", "deadline")

    def __init__(self, future: asyncio.Future, count: int) -> None:
        self.future, self.remaining, self.replies = future, count, []
        self.deadline = 0.0


class _Protocol(asyncio.Protocol):
    def __init__(self, timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.timer: asyncio.TimerHandle | None = None  # the oldest unanswered command's deadline
        self.reader = hiredis.Reader(replyError=redis.exceptions.ResponseError,
                                     protocolError=redis.exceptions.ConnectionError)
        self.waiting: collections.deque[_Waiter] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.outgoing: list[bytes] = []  # encoded commands not written yet
        self.queued = 0  # replies the commands in ``outgoing`` will produce
        self.unanswered = 0  # replies still to come for what was written
        self.flush_scheduled = False

    def submit(self, waiter: _Waiter, data: bytes, *, at_once: bool = True) -> None:
        """Queue ``data``: written when nothing is awaiting an answer - at once, or with ``at_once``
        false at the end of this event-loop turn -, else as soon as the answers to what was written
        arrive (then everything queued meanwhile leaves in one write)."""
        loop = asyncio.get_running_loop()
        waiter.deadline = loop.time() + self.timeout_s
        if self.timer is None:
            self.timer = loop.call_at(waiter.deadline, self.expire)
        self.waiting.append(waiter)
        self.outgoing.append(data)
        self.queued += waiter.remaining
        if self.unanswered == 0 and not self.flush_scheduled:
            if at_once:
                self.flush()  # nothing in flight: out now (the caller waits for the answer)
            else:
                self.flush_scheduled = True
                loop.call_soon(self.flush)

    def expire(self) -> None:
        """The deadline watchdog: replies come in order, so the oldest command waiting says it all.

        One timer per connection rather than one per command (``asyncio.timeout`` per command was a
        measurable part of a call's cost)."""
        self.timer = None
        if not self.waiting:
            return
        loop = asyncio.get_running_loop()
        deadline = self.waiting[0].deadline
        if deadline <= loop.time():
            self.fail(redis.exceptions.TimeoutError(f"no reply from Redis within {self.timeout_s} s"))
        else:
            self.timer = loop.call_at(deadline, self.expire)

    def flush(self) -> None:
        self.flush_scheduled = False
        if not self.outgoing or self.lost:
            return
        data, self.outgoing = b"".join(self.outgoing), []
        self.unanswered, self.queued = self.unanswered + self.queued, 0
        self.transport.write(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader, waiting = self.reader, self.waiting
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except redis.exceptions.ConnectionError as exc:
                self.fail(exc)
                return
            if reply is False:
                if self.unanswered == 0 and self.outgoing and not self.flush_scheduled:
                    self.flush_scheduled = True  # after the callers just answered have queued theirs
                    asyncio.get_running_loop().call_soon(self.flush)
                return
            self.unanswered -= 1
            if not waiting:  # a reply nobody asked for: the stream is out of step
                self.fail(redis.exceptions.ConnectionError("unexpected reply from Redis"))
                return
            waiter = waiting[0]
            waiter.replies.append(reply)
            waiter.remaining -= 1
            if waiter.remaining == 0:
                waiting.popleft()
                if not waiter.future.done():
                    waiter.future.set_result(waiter.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(redis.exceptions.ConnectionError(f"Redis closed the connection ({exc or 'EOF'})"))

    def fail(self, exc: Exception) -> None:
        """Fail every command in flight and drop the connection (the next command reconnects)."""
        self.lost = True
        self.outgoing, self.queued, self.unanswered = [], 0, 0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        while self.waiting:
            future = self.waiting.popleft().future
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


class MultiplexedRedis:
    """One connection shared by every caller on one event loop (see the module docstring)."""

    def __init__(self, url: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 command_timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        self.url = url
        self.connect_timeout_s, self.command_timeout_s = connect_timeout_s, command_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future | None = None

    async def execute(self, *commands: Command) -> list[Any]:
        """Send ``commands`` together; their replies in order. Error replies are returned, not raised
        (``redis.exceptions.ResponseError`` instances); connection failures and timeouts raise."""
        if not commands:
            return []
        replies = await (await self.submit(*commands))
        for reply in replies:
            if isinstance(reply, redis.exceptions.ResponseError) and str(reply).startswith(_UNAVAILABLE):
                raise _unavailable(reply)
        return replies

    async def submit(self, *commands: Command, at_once: bool = True) -> asyncio.Future:
        """Queue ``commands`` now; the future of their replies, to await later (see ``execute``).

        With ``at_once`` false they are written at the end of this event-loop turn, after what the
        caller writes elsewhere meanwhile (the proxy queues a call's settlement, then sends its
        answer). Raises ``ConnectionError`` at once when there is no connection to send on."""
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        future = asyncio.get_running_loop().create_future()
        if commands:
            protocol.submit(_Waiter(future, len(commands)), pack(commands), at_once=at_once)
        else:
            future.set_result([])
        return future  # failed by the connection's watchdog after ``command_timeout_s``

    async def send(self, *commands: Command) -> None:
        """Send ``commands`` without waiting for their replies (read and dropped when they come back).

        Redis runs commands in the order they arrive, so a command sent next on this connection sees
        their effect. Fails only when there is no connection to send on.
        """
        if commands:
            (await self.submit(*commands)).add_done_callback(_consume)

    async def evalsha(self, sha: str, source: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script by its SHA-1, loading it on ``NOSCRIPT``; raises its error reply."""
        command = ("EVALSHA", sha, len(keys), *keys, *args)
        reply = (await self.execute(command))[0]
        if isinstance(reply, redis.exceptions.ResponseError) and str(reply).startswith("NOSCRIPT"):
            reply = (await self.execute(("EVAL", source, len(keys), *keys, *args)))[0]
        if isinstance(reply, redis.exceptions.ResponseError):
            raise reply
        return reply

    def abandon(self) -> None:
        """Drop the connection now, from any thread, even after its loop closed."""
        protocol, self._protocol = self._protocol, None
        transport = None if protocol is None else protocol.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        try:
            transport.abort()
        except RuntimeError:  # the loop is closed: end the connection on the socket itself
            if sock is not None:
                with contextlib.suppress(OSError), socket.socket(fileno=os.dup(sock.fileno())) as alias:
                    alias.shutdown(socket.SHUT_RDWR)

    async def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    async def _connect(self) -> _Protocol:
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._open())
        return await asyncio.shield(self._connecting)

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        target = _parse(self.url)
        protocol: _Protocol | None = None

        def make() -> _Protocol:
            return _Protocol(self.command_timeout_s)
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if target["path"]:
                    _, protocol = await loop.create_unix_connection(make, target["path"])
                else:
                    _, protocol = await loop.create_connection(
                        make, target["host"], target["port"], ssl=target["ssl"])
                await _hello(protocol, target)
        except BaseException as exc:
            if protocol is not None:
                protocol.transport.close()  # a handshake that failed or timed out leaves no socket open
            if isinstance(exc, (OSError, TimeoutError)):
                raise redis.exceptions.ConnectionError(
                    f"cannot connect to Redis: {str(exc) or type(exc).__name__}") from None
            raise
        self._protocol = protocol
        return protocol


async def _hello(protocol: _Protocol, target: dict[str, Any]) -> None:
    """Authenticate and select the database, as the URL says."""
    hello: list[Command] = []
    if target["password"] is not None:
        hello.append(("AUTH", target["username"], target["password"]) if target["username"]
                     else ("AUTH", target["password"]))
    if target["db"]:
        hello.append(("SELECT", target["db"]))
    if not hello:
        return
    future = asyncio.get_running_loop().create_future()
    protocol.submit(_Waiter(future, len(hello)), pack(hello))
    for reply in await future:
        if isinstance(reply, redis.exceptions.ResponseError):
            raise redis.exceptions.ConnectionError(f"Redis refused the connection: {reply}")


# Error replies that mean "this Redis cannot serve now" (restarting, a replica after a failover, a
# script running too long), raised as connection errors so callers take their "Redis down" path, as
# redis-py does for LOADING (BusyLoadingError).
_UNAVAILABLE = ("LOADING", "READONLY", "MASTERDOWN", "BUSY ")


def _unavailable(reply: redis.exceptions.ResponseError) -> redis.exceptions.ConnectionError:
    if str(reply).startswith("LOADING"):
        return redis.exceptions.BusyLoadingError(str(reply))
    return redis.exceptions.ConnectionError(f"Redis cannot serve now: {reply}")


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a lost fire-and-forget reply is not an "unhandled" error


def _parse(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    if parts.scheme == "unix":
        db = int(query.get("db", 0))
        return {"path": parts.path, "host": None, "port": None, "ssl": None, "db": db,
                "username": unquote(parts.username) if parts.username else None,
                "password": unquote(parts.password) if parts.password is not None else None}
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"unsupported Redis URL scheme: {parts.scheme!r}")
    path = parts.path.lstrip("/")
    db = int(path) if path else int(query.get("db", 0))
    return {"path": None, "host": parts.hostname or "localhost", "port": parts.port or 6379,
            "ssl": ssl.create_default_context() if parts.scheme == "rediss" else None, "db": db,
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password is not None else None}


_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MultiplexedRedis]" = weakref.WeakKeyDictionary()


def get_multiplexed_redis() -> MultiplexedRedis | None:
    """The running loop's multiplexed connection, or None when Tokenwise runs without Redis."""
    url = settings.REDIS_URL
    if not url:
        return None
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.url != url:
        if client is not None:
            client.abandon()  # the URL changed (tests, a reconfigured process)
        _forget_closed_loops()
        client = _clients[loop] = MultiplexedRedis(url)
    return client


def _forget_closed_loops() -> None:
    """Drop the clients of event loops that are closed (``asyncio.run`` / ``async_to_sync`` in sync
    code make one loop per call; the client refers to its loop, so the weak reference never clears)."""
    for loop in [loop for loop in list(_clients.keys()) if loop.is_closed()]:
        _clients.pop(loop).abandon()
