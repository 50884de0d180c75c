"""The upstream HTTP transport: one pooled aiohttp session per event loop, behind httpx's vocabulary.

Why aiohttp: measured on the hot path (docs/performance.md), ``httpx.AsyncClient`` costs about 1 ms of
CPU per call at concurrency 1 and 1-2.5 ms at concurrency 50 (its pool re-checks every connection on
each request, through AnyIO - encode/httpx#3215); aiohttp costs about 0.2-0.3 ms. It was the largest
single cost of a proxied call after Django's middleware.

Why httpx's vocabulary: the proxy (views, relay, fallback) speaks ``response.status_code``,
``response.headers``, ``aread``/``aiter_bytes``/``aclose`` and catches ``httpx.TimeoutException`` /
``httpx.HTTPError``. This module keeps that surface - aiohttp errors are re-raised as the httpx
exception of the same meaning - so the transport can change without touching the proxy's logic.

Pass-through: bodies are read as they arrive (``iter_any``), decoded from gzip/deflate like httpx's
``aiter_bytes``; a response closed before its end closes its connection (which cancels a generation
upstream); a complete one goes back to the pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from multidict import CIMultiDictProxy

POOL_SIZE = 2000  # connections per process, all providers together
# Idle pooled connections are closed after this. Shorter than the 5 s of uvicorn-served upstreams (vLLM,
# the demo upstream): reusing a connection the server is closing at that moment fails the call with
# "Server disconnected", and a busy event loop notices the server's close late.
KEEPALIVE_S = 4.0


@dataclasses.dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    connect_timeout_s: float
    read_timeout_s: float  # the longest wait for the next bytes (as httpx's read timeout)


def _translate(exc: BaseException, *, connecting: bool) -> httpx.HTTPError:
    """The httpx exception with the meaning of an aiohttp (or asyncio timeout) error."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return httpx.ConnectTimeout(message) if connecting else httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ClientConnectionError)):
        return httpx.ConnectError(message) if connecting else httpx.ReadError(message)
    return httpx.TransportError(message)


_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


class UpstreamResponse:
    """An upstream answer, read lazily (``stream=True``) or already read."""

    __slots__ = ("_response", "status_code", "headers", "_content", "_closed")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code: int = response.status
        self.headers: CIMultiDictProxy[str] = response.headers
        self._content: bytes | None = None
        self._closed = False

    async def aread(self) -> bytes:
        if self._content is None:
            try:
                self._content = await self._response.read()
            except _ERRORS as exc:
                await self.aclose()
                raise _translate(exc, connecting=False) from exc
            await self.aclose()
        return self._content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._content is not None:
            if self._content:
                yield self._content
            return
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _ERRORS as exc:
            raise _translate(exc, connecting=False) from exc

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise httpx.ResponseNotRead()
        return self._content

    def json(self) -> Any:
        return json.loads(self.content)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._response.content.at_eof():
            self._response.release()  # complete: the connection goes back to the pool
        else:
            self._response.close()  # abandoned mid-answer: drop the connection (cancels the generation)


class UpstreamClient:
    """The pooled client of one event loop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._connector: aiohttp.TCPConnector | None = None

    def _session_get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._connector = connector = aiohttp.TCPConnector(
                limit=POOL_SIZE, limit_per_host=0, keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                raise_for_status=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def send(self, request: UpstreamRequest, *, stream: bool = False) -> UpstreamResponse:
        """Send ``request``; with ``stream`` the body is left to read, else it is read here.

        Raises httpx.ConnectTimeout / ConnectError before an answer, httpx.ReadTimeout /
        RemoteProtocolError / ReadError while reading one.
        """
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=request.connect_timeout_s,
            connect=request.connect_timeout_s + 10.0,
            sock_read=request.read_timeout_s,
        )
        try:
            raw = await self._session_get().request(
                request.method,
                request.url,
                data=request.content,
                headers=request.headers,
                timeout=timeout,
                allow_redirects=False,
            )
        except _ERRORS as exc:
            connecting = not isinstance(exc, (aiohttp.ServerTimeoutError, aiohttp.ServerDisconnectedError))
            raise _translate(exc, connecting=connecting) from exc
        response = UpstreamResponse(raw)
        if not stream:
            await response.aread()
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, UpstreamClient] = weakref.WeakKeyDictionary()


def upstream_client() -> UpstreamClient:
    """The pooled client of the running event loop (one per worker process in production)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = UpstreamClient()
        _quiet_at_teardown(loop, client)
    return client


def _quiet_at_teardown(loop: asyncio.AbstractEventLoop, client: UpstreamClient) -> None:
    """Keep aiohttp's "Unclosed client session / connector" out of the logs when a worker stops.

    Django's ASGI handler has no lifespan shutdown in which to close the pool, so it is collected with
    its event loop; only those two reports, and only about this module's own session, are dropped.
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        ours = (client._session, client._connector)
        if ours[0] is not None and (context.get("client_session") in ours or context.get("connector") in ours):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
