"""The bare forwarder: the cheapest honest async reverse proxy - raw ASGI on uvicorn, no Django at all.

One pooled aiohttp session per process (the HTTP client Tokenwise forwards with, usage/proxy/upstream_http.py),
the request's body and content type sent to the same path upstream, the answer's status, content type
and bytes passed back: a non-streamed answer whole with its length, a stream (``text/event-stream``)
piece by piece as it arrives. No auth, no policy, no ledger, no framework: the floor of issue 18's
throughput target (docs/performance.md, "The bare-forwarder floor"), so that the comparison is about
everything Tokenwise does above moving the bytes.

    BENCH_UPSTREAM_URL=http://127.0.0.1:9100 uvicorn bench.probes.bare:application --workers 2 --lifespan off
"""

from __future__ import annotations

import asyncio
import os

import aiohttp

UPSTREAM = os.environ.get("BENCH_UPSTREAM_URL", "http://127.0.0.1:9100").rstrip("/")
_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=300.0)
_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None:
        session = _sessions[loop] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=2000, limit_per_host=0, keepalive_timeout=4.0),
            skip_auto_headers=("User-Agent",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
    return session


async def _body(receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    while message.get("more_body", False):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def application(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    content_type = b"application/json"
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
            break
    path = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else "")
    response = await _session().request(
        scope["method"],
        UPSTREAM + path,
        data=await _body(receive),
        headers={"content-type": content_type.decode("latin-1")},
        timeout=_TIMEOUT,
        allow_redirects=False,
    )
    try:
        answer_type = response.headers.get("content-type", "application/json").encode("latin-1")
        if answer_type.startswith(b"text/event-stream"):
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(b"content-type", answer_type), (b"cache-control", b"no-cache")],
                }
            )
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        body = await response.read()
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(b"content-type", answer_type), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
    finally:
        response.release()
