"""Redis clients compared on the hot path's command: one ``EVALSHA`` of ``lua/admit.lua`` at a time.

    .venv/bin/python -m bench.probes.redis_clients redis-py [--url redis://127.0.0.1:6379/12]
    .venv/bin/python -m bench.probes.redis_clients coredis          # with coredis importable
    .venv/bin/python -m bench.probes.redis_clients mux --mux-path <checkout>/governance/redis_mux.py

Prints p50 and p99 wall time and the CPU per call, after a warm-up (docs/performance.md). ``mux`` is the
former hand-written multiplexed connection, loaded from a checkout of a commit that still had it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import statistics
import time
from pathlib import Path

import uvloop

SOURCE = (Path(__file__).resolve().parents[2] / "governance/enforcement/lua/admit.lua").read_text()
SHA = hashlib.sha1(SOURCE.encode()).hexdigest()
KEYS = ["tw:{t9}:policy:version", "tw:{t9}:resv", "tw:{t9}:resv:deadlines", "tw:{t9}:r:t9:rpm"]


def _args(i: int) -> list:
    now = time.time()
    return [now, f"rid{i}", now + 600, "block", 1, 10**9, 1]


async def _timed(name: str, call, calls: int) -> None:
    for i in range(500):
        await call(i)
    wall = []
    cpu = time.process_time()
    for i in range(calls):
        started = time.perf_counter()
        await call(i)
        wall.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu
    print(
        f"{name:<32} p50 {statistics.median(wall) * 1e6:7.1f} us  p99 {sorted(wall)[int(calls * 0.99)] * 1e6:7.1f} us"
        f"  CPU {cpu / calls * 1e6:6.1f} us/call"
    )


async def _main(arguments: argparse.Namespace) -> None:
    import redis

    url, calls = arguments.url, arguments.calls
    redis.Redis.from_url(url).script_load(SOURCE)
    if arguments.client == "mux":
        spec = importlib.util.spec_from_file_location("redis_mux", arguments.mux_path)
        mux = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mux)
        client = mux.MultiplexedRedis(url)
        await _timed("multiplexed (former)", lambda i: client.evalsha(SHA, SOURCE, KEYS, _args(i)), calls)
    elif arguments.client == "redis-py":
        import redis.asyncio as aioredis

        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=2.0,
            health_check_interval=30,
            socket_connect_timeout=2.0,
            socket_timeout=1.0,
        )
        client = aioredis.Redis(connection_pool=pool)
        await _timed(
            f"redis-py {redis.__version__} asyncio", lambda i: client.evalsha(SHA, len(KEYS), *KEYS, *_args(i)), calls
        )
    else:
        import coredis

        client = coredis.Redis.from_url(url)
        async with client:
            await _timed(f"coredis {coredis.__version__}", lambda i: client.evalsha(SHA, KEYS, _args(i)), calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=["redis-py", "coredis", "mux"])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--mux-path", default="")
    uvloop.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
