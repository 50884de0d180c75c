"""Where a call's time goes, step by step, at concurrency 1: Tokenwise's ASGI app driven in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tokenwise_bench REDIS_URL=redis://127.0.0.1:6379/13 \
        .venv/bin/python -m bench.probes.phases [--stream] [--calls 1500]

Starts the fake upstream, then calls ``config.asgi.application`` directly (no HTTP server, no load
generator: what is left is Tokenwise's own path, upstream client included) and prints the median wall
time of each step of the hot path, and the CPU of the work done after the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _environment(upstream_port: int) -> None:
    from bench.harness.stack import tokenwise_env

    os.environ.update(tokenwise_env(upstream_port=upstream_port))


def _timed(stats: dict, module, name: str) -> None:
    """Wrap ``module.name`` (a coroutine function) to record its wall time under ``name``."""
    original = getattr(module, name)

    async def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            stats[name].append(time.perf_counter() - started)

    setattr(module, name, wrapper)


async def _drive(application, *, secret: str, stream: bool, calls: int, stats: dict) -> None:
    from bench.harness.loadgen import chat_body

    body = json.dumps(chat_body(stream=stream)).encode()
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {secret}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]

    async def one() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 5555),
            "server": ("127.0.0.1", 8000),
        }
        received, answered, marks = False, asyncio.Event(), {}
        started = time.perf_counter()

        async def receive():
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"call failed with {message['status']}")
            if message["type"] == "http.response.body":
                marks.setdefault("first", time.perf_counter())
                if not message.get("more_body"):
                    marks["last"] = time.perf_counter()
                    answered.set()

        await application(scope, receive, send)  # returns once the work after the answer is done too
        stats["first body byte"].append(marks["first"] - started)
        stats["answer complete"].append(marks["last"] - started)
        stats["answer + work after it"].append(time.perf_counter() - started)

    for _ in range(200):
        await one()
    stats.clear()
    for _ in range(calls):
        await one()


def timed_steps() -> list[tuple[object, str]]:
    """The hot path's steps this probe times, as (module or class, coroutine function name)."""
    from governance.enforcement import admission
    from usage.proxy import call, views

    steps: list[tuple[object, str]] = [
        (views, name)
        for name in ("proxy_authenticate", "admission_admit", "upstream_for", "send_with_fallback", "answer_whole")
    ]
    return [*steps, (call.Call, "_settle"), (call.Call, "finish"), (admission, "settlement_send")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--calls", type=int, default=1500)
    arguments = parser.parse_args()
    from bench.harness.processes import upstream_service

    logdir = Path(tempfile.mkdtemp(prefix="tokenwise-phases-"))
    with upstream_service(logdir=logdir, env=dict(os.environ)) as upstream:
        _environment(upstream.port)
        import django

        django.setup()
        from bench.harness.org import bench_org_create

        org = bench_org_create(label="phases")
        from config.asgi import application

        stats: dict[str, list[float]] = collections.defaultdict(list)
        for owner, name in timed_steps():
            _timed(stats, owner, name)
        import uvloop

        cpu = time.process_time()
        uvloop.run(_drive(application, secret=org.secret, stream=arguments.stream, calls=arguments.calls, stats=stats))
        cpu = time.process_time() - cpu
    print(
        f"{arguments.calls} {'streamed' if arguments.stream else 'whole'} calls at concurrency 1, "
        f"{cpu / (arguments.calls + 200) * 1000:.2f} ms CPU per call in this process (upstream excluded)"
    )
    labels = {
        "_settle": "settle: usage, cost, settlement queued",
        "finish": "after the answer: record",
        "settlement_send": "settlement_send",
    }
    for name, values in stats.items():
        print(f"  {labels.get(name, name):<42} p50 {statistics.median(values) * 1000:6.3f} ms")


if __name__ == "__main__":
    sys.exit(main())
