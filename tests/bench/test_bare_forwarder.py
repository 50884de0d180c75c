"""The benchmark's bare forwarder (bench/probes/bare.py) relays the demo upstream's answers byte for byte.

Tokenwise's throughput is judged as a ratio to it: a floor that dropped or reshaped bytes would make the
ratio meaningless. The forwarder runs as the benchmark runs it (uvicorn, its own process); the demo
upstream runs in this process, behind a tap that keeps every byte it sends.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from bench.harness.loadgen import chat_body, messages_body
from bench.harness.processes import Service, uvicorn_service
from devtools.demo_upstream import make_app
from tests.fake_upstream import FakeUpstream


class TappedUpstream(FakeUpstream):
    """The demo upstream, keeping the body bytes of each answer it sends (``answers``, in order)."""

    answers: list[list[bytes]]  # each answer's pieces, kept before they are sent

    def _start_thread(self) -> None:
        self.app = make_app(chunk_delay_ms=self.chunk_delay_ms)
        self.answers = []
        app = self.app

        async def tapped(scope, receive, send) -> None:
            if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
                return await app(scope, receive, send)
            parts: list[bytes] = []
            self.answers.append(parts)

            async def keep(message) -> None:
                if message["type"] == "http.response.body":
                    parts.append(message.get("body", b""))
                await send(message)

            await app(scope, receive, keep)

        config = uvicorn.Config(
            tapped, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()


@pytest.fixture(scope="module")
def upstream() -> Iterator[TappedUpstream]:
    with TappedUpstream(chunk_delay_ms=2.0) as server:  # pieces apart in time: relayed one by one
        yield server


@pytest.fixture(scope="module")
def bare(upstream: TappedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = dict(os.environ, BENCH_UPSTREAM_URL=upstream.url)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    logdir: Path = tmp_path_factory.mktemp("bare")
    with uvicorn_service("bare", "bench.probes.bare:application", logdir=logdir, env=env, workers=1) as service:
        yield service


def test_relays_a_whole_answer_byte_for_byte(upstream: TappedUpstream, bare: Service) -> None:
    upstream.answers.clear()

    response = httpx.post(
        f"http://127.0.0.1:{bare.port}/v1/chat/completions", json=chat_body(stream=False), timeout=10.0
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    sent = b"".join(upstream.answers[-1])
    assert response.content == sent
    assert int(response.headers["content-length"]) == len(sent)
    assert json.loads(response.content)["object"] == "chat.completion"


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/chat/completions", chat_body(stream=True)), ("/v1/messages", messages_body(stream=True))]
)
def test_relays_a_stream_byte_for_byte_piece_by_piece(
    upstream: TappedUpstream, bare: Service, path: str, body: dict
) -> None:
    upstream.answers.clear()

    with httpx.stream("POST", f"http://127.0.0.1:{bare.port}{path}", json=body, timeout=10.0) as response:
        pieces = list(response.iter_raw())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "content-length" not in response.headers
    assert b"".join(pieces) == b"".join(upstream.answers[-1])
    assert len(pieces) > 1  # relayed as the upstream wrote it, not gathered into one answer
