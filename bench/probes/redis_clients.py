"""Redis clients compared on the hot path's command: one ``EVALSHA`` of ``lua/admit.lua`` per call.

    .venv/bin/python -m bench.probes.redis_clients [--url redis://127.0.0.1:6379/12] [--calls 5000] [--rounds 3]
        [--concurrency 1] [--only NAME ...]

Every client measured in one run, in alternating rounds (the machine is shared), after a warm-up each:
p50 and p99 wall time per call and the CPU per call, side by side (docs/performance.md):

- ``mux``: the former hand-written multiplexed connection, loaded from the last commit that had
  ``governance/redis_mux.py`` into a temporary file (it is not part of the product);
- ``redis-py client``: redis-py's asyncio client as ``core.redis.get_async_redis`` configures it
  (its blocking connection pool, a checkout and a retry wrapper per command);
- ``redis-py lanes``: ``core.redis.execute``, the hot path's command path (a per-loop stack of
  redis-py connections, each command written whole and its reply read by redis-py's hiredis parser);
- ``coredis`` and ``valkey-glide``: measured when importable. Neither is a requirement; to include
  them, run this module with a scratch virtualenv holding redis, hiredis, uvloop, Django, coredis and
  valkey-glide (``python3 -m venv /tmp/rc && /tmp/rc/bin/pip install -r requirements.txt coredis
  valkey-glide``, then ``/tmp/rc/bin/python -m bench.probes.redis_clients``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parents[2]
SOURCE = (ROOT / "governance/enforcement/lua/admit.lua").read_text()
SHA = hashlib.sha1(SOURCE.encode()).hexdigest()
KEYS = ["tw:{t9}:policy:version", "tw:{t9}:resv", "tw:{t9}:resv:deadlines", "tw:{t9}:r:t9:rpm"]
MUX_PATH = "governance/redis_mux.py"

Call = Callable[[int], Awaitable[object]]


def _args(i: int) -> list:
    now = time.time()
    return [now, f"rid{i}", now + 600, "block", 1, 10**9, 1]


def _settings(url: str) -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            REDIS_URL=url,
            TOKENWISE_REDIS_MODE="standalone",
            TOKENWISE_REDIS_SENTINELS=[],
            TOKENWISE_REDIS_CLUSTER_NODES=[],
        )


def _mux_module():
    """The former multiplexed client, from the parent of the commit that removed it."""
    removed = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--all", "--format=%H", "-1", "--diff-filter=D", "--", MUX_PATH],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{removed}^:{MUX_PATH}"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "redis_mux_former.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("redis_mux_former", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _clients(url: str, stack: contextlib.AsyncExitStack) -> dict[str, Call]:
    import redis

    import core.redis

    clients: dict[str, Call] = {}
    mux = _mux_module().MultiplexedRedis(url)
    clients["multiplexed (former)"] = lambda i: mux.evalsha(SHA, SOURCE, KEYS, _args(i))

    client = core.redis.get_async_redis()
    assert client is not None
    clients[f"redis-py {redis.__version__} client"] = lambda i: client.evalsha(SHA, len(KEYS), *KEYS, *_args(i))
    clients[f"redis-py {redis.__version__} lanes"] = lambda i: core.redis.execute(
        "EVALSHA", SHA, len(KEYS), *KEYS, *_args(i)
    )

    try:
        import coredis
    except ImportError:
        print("coredis: not importable, skipped")
    else:
        co = await stack.enter_async_context(coredis.Redis.from_url(url))
        clients[f"coredis {coredis.__version__}"] = lambda i: co.evalsha(SHA, KEYS, _args(i))

    try:
        import glide
    except ImportError:
        print("valkey-glide: not importable, skipped")
    else:
        from importlib.metadata import version
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        configuration = glide.GlideClientConfiguration(
            [glide.NodeAddress(parts.hostname or "127.0.0.1", parts.port or 6379)],
            database_id=int(parts.path.lstrip("/") or 0),
        )
        gl = await glide.GlideClient.create(configuration)
        stack.push_async_callback(gl.close)
        clients[f"valkey-glide {version('valkey-glide')}"] = lambda i: gl.custom_command(
            ["EVALSHA", SHA, str(len(KEYS)), *KEYS, *map(str, _args(i))]
        )
    return clients


async def _round(call: Call, calls: int, concurrency: int, wall: list[float]) -> float:
    """``calls`` calls, ``concurrency`` at a time; their wall times appended; the CPU they took."""

    async def worker(first: int) -> None:
        for i in range(first, calls, concurrency):
            started = time.perf_counter()
            await call(i)
            wall.append(time.perf_counter() - started)

    cpu = time.process_time()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return time.process_time() - cpu


async def _main(arguments: argparse.Namespace) -> None:
    import redis

    _settings(arguments.url)
    redis.Redis.from_url(arguments.url).script_load(SOURCE)
    async with contextlib.AsyncExitStack() as stack:
        await _measure(arguments, await _clients(arguments.url, stack))


async def _measure(arguments: argparse.Namespace, clients: dict[str, Call]) -> None:
    if arguments.only:
        clients = {name: call for name, call in clients.items() if any(o in name for o in arguments.only)}
    per_round = arguments.calls // arguments.rounds
    walls: dict[str, list[float]] = {name: [] for name in clients}
    cpus = dict.fromkeys(clients, 0.0)
    for call in clients.values():
        await _round(call, 500, arguments.concurrency, [])  # warm-up
    for _ in range(arguments.rounds):
        for name, call in clients.items():
            cpus[name] += await _round(call, per_round, arguments.concurrency, walls[name])
    print(f"one EVALSHA of admit.lua, concurrency {arguments.concurrency}, {per_round * arguments.rounds} calls each")
    print(f"{'client':<34} {'p50 us':>8} {'p99 us':>8} {'CPU us/call':>12}")
    for name, wall in walls.items():
        wall.sort()
        print(
            f"{name:<34} {statistics.median(wall) * 1e6:8.1f} {wall[int(len(wall) * 0.99)] * 1e6:8.1f}"
            f" {cpus[name] / len(wall) * 1e6:12.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--only", nargs="*", help="clients whose name contains one of these")
    uvloop.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
