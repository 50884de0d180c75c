"""The one load generator of the benchmark: a small HTTP/1.1 keep-alive client on asyncio.

It is deliberately thin (raw streams, no HTTP library) so its own cost per request is small and the
same for every target: the direct upstream, the bare forwarder and Tokenwise are all driven by exactly
this code. For each request it records the status, the time to the first body byte (for a stream: the
first server-sent event) and the time to the last byte.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import socket
import time
from collections.abc import Sequence

COMPLETED: collections.Counter = collections.Counter()  # responses received, per target name


@dataclasses.dataclass(slots=True)
class Sample:
    status: int
    ttfb_s: float  # request sent -> first body byte
    total_s: float  # request sent -> last body byte
    body_bytes: int
    error: bytes = b""  # the start of the body of a non-200 answer, for diagnosis


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """Where to send requests, and the exact bytes of one request (built once)."""

    name: str
    host: str
    port: int
    payload: bytes


def build_request(*, host: str, port: int, path: str, body: dict, api_key: str | None = None) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Accept: */*",
        f"Content-Length: {len(data)}",
    ]
    if api_key:
        head.append(f"Authorization: Bearer {api_key}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def chat_body(*, stream: bool, max_tokens: int = 64, words: int = 60) -> dict:
    """A realistic small chat call: a system and a user message, a bounded answer."""
    prompt = " ".join(f"word{i % 37}" for i in range(words))
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": max_tokens,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for the benchmark."},
            {"role": "user", "content": f"Summarise this: {prompt}"},
        ],
    }
    if stream:
        body["stream"] = True
    return body


def messages_body(*, stream: bool, max_tokens: int = 64, words: int = 60) -> dict:
    """The same call in Anthropic's Messages API (what Claude Code and the anthropic SDKs send)."""
    prompt = " ".join(f"word{i % 37}" for i in range(words))
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": max_tokens,
        "system": [{"type": "text", "text": "You are a helpful assistant for the benchmark."}],
        "messages": [{"role": "user", "content": f"Summarise this: {prompt}"}],
    }
    if stream:
        body["stream"] = True
    return body


class Connection:
    """One keep-alive connection; reopened transparently when the server closes it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.target.host, self.target.port, limit=1 << 20)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self) -> Sample:
        if self.writer is None:
            await self._open()
        started = time.perf_counter()
        self.writer.write(self.target.payload)
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if b":" in line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip().lower()
        ttfb = None
        size = 0
        error = b""
        if headers.get(b"transfer-encoding") == b"chunked":
            while True:
                line = await reader.readuntil(b"\r\n")
                length = int(line.split(b";", 1)[0], 16)
                if length == 0:
                    await reader.readuntil(b"\r\n")
                    break
                data = await reader.readexactly(length + 2)
                if status != 200 and len(error) < 300:
                    error += data[:300]
                if ttfb is None:
                    ttfb = time.perf_counter() - started
                size += length
        else:
            length = int(headers.get(b"content-length", b"0"))
            if length:
                data = await reader.readexactly(length)
                if status != 200:
                    error = data[:300]
            size = length
        total = time.perf_counter() - started
        if headers.get(b"connection") == b"close":
            self.close()
        COMPLETED[self.target.name] += 1
        return Sample(
            status=status, ttfb_s=total if ttfb is None else ttfb, total_s=total, body_bytes=size, error=error
        )


async def run_count(target: Target, *, requests: int, concurrency: int) -> list[Sample]:
    """Send ``requests`` requests over ``concurrency`` connections; every sample, in completion order."""
    samples: list[Sample] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        connection = Connection(target)
        try:
            while remaining > 0:
                remaining -= 1
                samples.append(await connection.request())
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


async def run_duration(
    target: Target, *, seconds: float, concurrency: int, warmup_s: float = 1.0
) -> tuple[float, list[Sample]]:
    """Keep ``concurrency`` requests in flight for ``warmup_s + seconds``; (requests/s, samples) after warm-up."""
    samples: list[Sample] = []
    started = time.perf_counter()
    measure_from = started + warmup_s
    stop_at = measure_from + seconds

    async def worker() -> None:
        connection = Connection(target)
        try:
            while time.perf_counter() < stop_at:
                sample = await connection.request()
                if time.perf_counter() >= measure_from:
                    samples.append(sample)
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - measure_from
    return len(samples) / elapsed, samples


async def hold_streams(target: Target, *, streams: int) -> list[Sample]:
    """Open ``streams`` streaming requests at once (one connection each); every sample."""
    connections = [Connection(target) for _ in range(streams)]
    try:
        return list(await asyncio.gather(*(c.request() for c in connections)))
    finally:
        for connection in connections:
            connection.close()


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]
