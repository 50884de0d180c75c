"""Client CPU per upstream call: httpx vs aiohttp (the measurement behind usage/proxy/upstream_http.py).

    .venv/bin/python -m bench.probes.upstream_clients [--calls 2000]

Starts the fake upstream, then sends the same chat call with ``httpx.AsyncClient`` (pooled, streamed
read, as the proxy did), ``httpx2`` (the fork the openai package now uses) and ``aiohttp``, at
concurrency 1 and 50, and prints calls/s and this process's CPU per call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

from bench.harness.loadgen import chat_body
from bench.harness.processes import upstream_service


async def _run(name: str, one, *, concurrency: int, calls: int) -> None:
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"  {name:<8} concurrency {concurrency:<3} {calls / wall:7.0f} calls/s   client CPU {cpu * 1000 / calls:.3f} ms/call",
        flush=True,
    )


async def main(calls: int, port: int) -> None:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    body = json.dumps(chat_body(stream=False)).encode()
    headers = {"content-type": "application/json"}
    clients = {"httpx": httpx.AsyncClient(limits=httpx.Limits(max_connections=2000, max_keepalive_connections=200))}
    try:
        import httpx2

        clients["httpx2"] = httpx2.AsyncClient(
            limits=httpx2.Limits(max_connections=2000, max_keepalive_connections=200)
        )
    except ImportError:
        pass
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2000))

    def httpx_call(client):
        async def one() -> None:
            response = await client.send(client.build_request("POST", url, content=body, headers=headers), stream=True)
            await response.aread()
            await response.aclose()

        return one

    async def aiohttp_call() -> None:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()

    calls_of = {name: httpx_call(client) for name, client in clients.items()}
    calls_of["aiohttp"] = aiohttp_call
    try:
        for name, one in calls_of.items():
            await _run(name, one, concurrency=4, calls=200)  # warm the pool
        for _ in range(2):
            for name, one in calls_of.items():
                for concurrency in (1, 50):
                    await _run(name, one, concurrency=concurrency, calls=calls)
    finally:
        await session.close()
        for client in clients.values():
            await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    arguments = parser.parse_args()
    upstream = upstream_service(
        logdir=Path(tempfile.mkdtemp(prefix="tokenwise-clients-")), env=dict(os.environ)
    ).start()
    try:
        import uvloop

        uvloop.install()
        asyncio.run(main(arguments.calls, upstream.port))
    finally:
        upstream.stop()
