"""The upstream HTTP client: one pooled ``aiohttp.ClientSession`` per event loop, used directly.

Why aiohttp: measured on the hot path (docs/performance.md), ``httpx.AsyncClient`` costs several times
aiohttp's CPU per call, more under concurrency (its pool re-checks every connection on each request,
through AnyIO - encode/httpx#3215). It was the largest single cost of a proxied call after Django's
middleware.

The proxy calls ``upstream_session().request(...)`` with ``upstream_timeout()`` and reads aiohttp's
``ClientResponse`` itself: ``read()`` for a whole answer, ``content.iter_any()`` for a stream (bodies
come as they arrive, decoded from gzip/deflate). ``upstream_release`` ends every response: a complete
one returns its connection to the pool, one closed before its end drops it (which cancels a generation
upstream). ``UPSTREAM_ERRORS`` is what a failed exchange raises; ``unreachable`` and ``broken`` turn it
into the proxy's 504 ``upstream_timeout`` / 502 ``upstream_connection_error``.
"""

from __future__ import annotations

import asyncio
import weakref

import aiohttp
from django.conf import settings

from usage.proxy.errors import ProxyError

POOL_SIZE = 2000  # connections per process, all providers together
# Idle pooled connections are closed after this. Shorter than the 5 s of uvicorn-served upstreams (vLLM,
# the demo upstream): reusing a connection the server is closing at that moment fails the call with
# "Server disconnected", and a busy event loop notices the server's close late.
KEEPALIVE_S = 4.0
# A failed exchange: unreachable, refused, reset, malformed, or silent past a timeout (TimeoutError,
# which aiohttp's own timeout errors also are).
UPSTREAM_ERRORS = (aiohttp.ClientError, TimeoutError)

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def upstream_session() -> aiohttp.ClientSession:
    """The pooled session of the running event loop (one per worker process in production)."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(
            limit=POOL_SIZE, limit_per_host=0, keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=300
        )
        session = _sessions[loop] = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            raise_for_status=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        _quiet_at_teardown(loop, session, connector)
    return session


def upstream_timeout() -> aiohttp.ClientTimeout:
    """No overall limit (a stream may last); ``TOKENWISE_UPSTREAM_CONNECT_TIMEOUT_S`` to open a connection
    (plus 10 s to wait for a free one in the pool), ``TOKENWISE_UPSTREAM_READ_TIMEOUT_S`` of silence
    at most between the upstream's bytes."""
    connect_s = settings.TOKENWISE_UPSTREAM_CONNECT_TIMEOUT_S
    return aiohttp.ClientTimeout(
        total=None,
        sock_connect=connect_s,
        connect=connect_s + 10.0,
        sock_read=settings.TOKENWISE_UPSTREAM_READ_TIMEOUT_S,
    )


def upstream_release(response: aiohttp.ClientResponse) -> None:
    """End ``response``: its connection back to the pool when the body was read to its end, else closed."""
    if response.content.at_eof():
        response.release()
    else:
        response.close()


def unreachable(exc: BaseException) -> ProxyError:
    """The proxy's error for an exchange that failed before an answer began."""
    if isinstance(exc, TimeoutError):
        return ProxyError(
            504, "The upstream provider did not answer in time.", code="upstream_timeout", type="server_error"
        )
    return ProxyError(
        502,
        f"Could not reach the upstream provider ({type(exc).__name__}).",
        code="upstream_connection_error",
        type="server_error",
    )


def broken(exc: BaseException) -> ProxyError:
    """The proxy's error for an answer that failed while its body was read whole."""
    if isinstance(exc, TimeoutError):
        return ProxyError(
            504, "The upstream provider did not answer in time.", code="upstream_timeout", type="server_error"
        )
    return ProxyError(
        502,
        "The upstream connection broke before the answer was complete.",
        code="upstream_connection_error",
        type="server_error",
    )


def _quiet_at_teardown(
    loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession, connector: aiohttp.TCPConnector
) -> None:
    """Keep aiohttp's "Unclosed client session / connector" out of the logs when a worker stops.

    Django's ASGI handler has no lifespan shutdown in which to close the pool, so it is collected with
    its event loop; only those two reports, and only about this module's own session, are dropped.
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if context.get("client_session") is session or context.get("connector") is connector:
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
