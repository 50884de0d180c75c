"""The upstream transport (aiohttp) speaks httpx's vocabulary to the proxy: answers, streams, errors."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.conftest import free_port
from usage.proxy.transport import UpstreamClient, UpstreamRequest

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}


def request_to(
    url: str, *, body: dict | None = BODY, fault: str | None = None, read_timeout_s: float = 10.0
) -> UpstreamRequest:
    headers = {"content-type": "application/json"}
    if fault:
        headers["x-fake-fault"] = fault
    return UpstreamRequest(
        method="POST" if body is not None else "GET",
        url=url,
        headers=headers,
        content=json.dumps(body).encode() if body is not None else None,
        connect_timeout_s=2.0,
        read_timeout_s=read_timeout_s,
    )


def run(coroutine_function):
    async def main():
        client = UpstreamClient()
        try:
            return await coroutine_function(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_reads_a_whole_answer_with_its_status_and_headers(fake_upstream):
    async def call(client):
        response = await client.send(request_to(f"{fake_upstream.base_url}/chat/completions"))
        return response.status_code, response.headers["content-type"], response.json()["usage"]["completion_tokens"]

    status, content_type, completion_tokens = run(call)

    assert (status, content_type, completion_tokens) == (200, "application/json", 5)


def test_streams_server_sent_events_as_they_arrive(fake_upstream):
    async def call(client):
        response = await client.send(
            request_to(f"{fake_upstream.base_url}/chat/completions", body=dict(BODY, stream=True)), stream=True
        )
        chunks = [chunk async for chunk in response.aiter_bytes()]
        await response.aclose()
        return b"".join(chunks)

    text = run(call)

    assert text.startswith(b"data: {") and text.endswith(b"data: [DONE]\n\n")


def test_an_upstream_error_status_is_an_answer_not_an_exception(fake_upstream):
    async def call(client):
        response = await client.send(request_to(f"{fake_upstream.base_url}/chat/completions", fault="status:503"))
        return response.status_code, response.json()["error"]["type"]

    assert run(call) == (503, "server_error")


def test_nothing_listening_is_a_connect_error():
    url = f"http://127.0.0.1:{free_port()}/v1/chat/completions"

    with pytest.raises(httpx.ConnectError):
        run(lambda client: client.send(request_to(url)))


def test_a_dropped_connection_is_a_protocol_error(fake_upstream):
    with pytest.raises(httpx.RemoteProtocolError):
        run(lambda client: client.send(request_to(f"{fake_upstream.base_url}/chat/completions", fault="reset")))


def test_a_stream_broken_mid_way_raises_while_reading(fake_upstream):
    async def call(client):
        response = await client.send(
            request_to(f"{fake_upstream.base_url}/chat/completions", body=dict(BODY, stream=True), fault="truncate"),
            stream=True,
        )
        try:
            async for _ in response.aiter_bytes():
                pass
        finally:
            await response.aclose()

    with pytest.raises(httpx.RemoteProtocolError):
        run(call)


def test_silence_past_the_read_timeout_is_a_read_timeout(fake_upstream):
    request = request_to(f"{fake_upstream.base_url}/chat/completions", fault="slow:2000", read_timeout_s=0.2)

    with pytest.raises(httpx.ReadTimeout):
        run(lambda client: client.send(request))
