"""The upstream client (aiohttp's pooled session): answers, streams, and failures as the proxy's errors."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import free_port
from usage.proxy.errors import ProxyError
from usage.proxy.upstream_http import (
    UPSTREAM_ERRORS,
    broken,
    unreachable,
    upstream_release,
    upstream_session,
    upstream_timeout,
)

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}


def run(exchange):
    """Run ``exchange(session)`` on a fresh event loop, with the pooled session of that loop."""

    async def main():
        session = upstream_session()
        try:
            return await exchange(session)
        finally:
            await session.close()

    return asyncio.run(main())


async def post(session, url: str, *, body: dict = BODY, fault: str | None = None):
    headers = {"content-type": "application/json"} | ({"x-fake-fault": fault} if fault else {})
    try:
        return await session.post(
            url, data=json.dumps(body).encode(), headers=headers, timeout=upstream_timeout(), allow_redirects=False
        )
    except UPSTREAM_ERRORS as exc:
        raise unreachable(exc) from exc


async def read_whole(response) -> bytes:
    try:
        return await response.read()
    except UPSTREAM_ERRORS as exc:
        raise broken(exc) from exc
    finally:
        upstream_release(response)


def test_reads_a_whole_answer_with_its_status_and_headers(fake_upstream):
    async def call(session):
        response = await post(session, f"{fake_upstream.base_url}/chat/completions")
        raw = await read_whole(response)
        return response.status, response.headers["content-type"], json.loads(raw)["usage"]["completion_tokens"]

    assert run(call) == (200, "application/json", 5)


def test_streams_server_sent_events_as_they_arrive(fake_upstream):
    async def call(session):
        response = await post(session, f"{fake_upstream.base_url}/chat/completions", body=dict(BODY, stream=True))
        try:
            return b"".join([chunk async for chunk in response.content.iter_any()])
        finally:
            upstream_release(response)

    text = run(call)

    assert text.startswith(b"data: {") and text.endswith(b"data: [DONE]\n\n")


def test_an_upstream_error_status_is_an_answer_not_an_exception(fake_upstream):
    async def call(session):
        response = await post(session, f"{fake_upstream.base_url}/chat/completions", fault="status:503")
        return response.status, json.loads(await read_whole(response))["error"]["type"]

    assert run(call) == (503, "server_error")


def test_nothing_listening_is_a_connection_error():
    url = f"http://127.0.0.1:{free_port()}/v1/chat/completions"

    with pytest.raises(ProxyError) as caught:
        run(lambda session: post(session, url))

    assert (caught.value.status, caught.value.code) == (502, "upstream_connection_error")


def test_a_dropped_connection_is_a_connection_error(fake_upstream):
    with pytest.raises(ProxyError) as caught:
        run(lambda session: post(session, f"{fake_upstream.base_url}/chat/completions", fault="reset"))

    assert (caught.value.status, caught.value.code) == (502, "upstream_connection_error")


def test_a_body_broken_mid_way_fails_while_reading(fake_upstream):
    async def call(session):
        response = await post(session, f"{fake_upstream.base_url}/chat/completions", fault="truncate")
        return await read_whole(response)

    with pytest.raises(ProxyError) as caught:
        run(call)

    assert (caught.value.status, caught.value.code) == (502, "upstream_connection_error")


def test_silence_past_the_read_timeout_is_a_timeout(fake_upstream, settings):
    settings.TOKENWISE_UPSTREAM_READ_TIMEOUT_S = 0.2

    with pytest.raises(ProxyError) as caught:
        run(lambda session: post(session, f"{fake_upstream.base_url}/chat/completions", fault="slow:2000"))

    assert (caught.value.status, caught.value.code) == (504, "upstream_timeout")
