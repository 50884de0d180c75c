"""Target 5: one Tokenwise process holding 500 concurrent streams stays under 200 MB resident.

One uvicorn process (no workers), the fake upstream pacing its chunks (``--chunk-delay-ms``) so every
stream lasts several seconds, 500 streaming calls opened at once by the load generator. The process's
resident set is sampled every 100 ms; the figure is the peak (``VmHWM``), with the idle size before the
load beside it. All 500 streams must complete, and must all have been open at the same moment (the
first to finish ended after the last one started).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from bench.harness.loadgen import Target, build_request, chat_body, hold_streams, run_count
from bench.harness.processes import rss_kb, upstream_service, uvicorn_service
from bench.harness.report import check
from bench.harness.stack import tokenwise_env

STREAMS = 500
LIMIT_MB = 200.0


async def memory(*, logdir: Path, quick: bool) -> None:
    from asgiref.sync import sync_to_async

    from bench.harness.org import bench_org_create

    streams = STREAMS
    print(f"\n## Memory: one Tokenwise process, {streams} concurrent streams", flush=True)
    org = await sync_to_async(bench_org_create)(label="memory")
    upstream = upstream_service(logdir=logdir, env=dict(os.environ), chunk_delay_ms=40.0).start()
    tokenwise = uvicorn_service(
        "tokenwise-memory",
        "config.asgi:application",
        logdir=logdir,
        env=tokenwise_env(upstream_port=upstream.port),
        workers=1,
    )
    try:
        tokenwise.start()
        pid = tokenwise.proc.pid
        body = chat_body(stream=True, max_tokens=400)  # 400 chunks x 40 ms: each stream lasts about 16 s
        target = Target(
            "tokenwise-memory",
            "127.0.0.1",
            tokenwise.port,
            build_request(
                host="127.0.0.1", port=tokenwise.port, path="/v1/chat/completions", body=body, api_key=org.secret
            ),
        )
        await run_count(target, requests=20, concurrency=4)  # warm: imports, pools, caches
        idle_mb = rss_kb(pid) / 1024
        peak = [0.0]

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], rss_kb(pid) / 1024)
                await asyncio.sleep(0.1)

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        samples = await hold_streams(target, streams=streams)
        elapsed = time.perf_counter() - started
        sampler.cancel()
        high_water_mb = rss_kb(pid, "VmHWM") / 1024
    finally:
        tokenwise.stop()
        upstream.stop()
    ok = sum(s.status == 200 for s in samples)
    for failed in {(s.status, s.error[:200]) for s in samples if s.status != 200}:
        print(f"    failed: {failed[0]} {failed[1].decode(errors='replace')}")
    overlap = min(s.total_s for s in samples) > max(s.ttfb_s for s in samples)
    print(
        f"    {ok}/{streams} streams completed in {elapsed:.1f} s; all open at once: {overlap}; "
        f"RSS idle {idle_mb:.0f} MB, sampled peak {peak[0]:.0f} MB, high-water mark {high_water_mb:.0f} MB"
    )
    check(
        "memory",
        f"one process holding {streams} concurrent streams (peak resident)",
        measured=f"{high_water_mb:.0f} MB (idle {idle_mb:.0f} MB; {ok}/{streams} ok, concurrent: {overlap})",
        limit=f"< {LIMIT_MB:.0f} MB",
        passed=high_water_mb < LIMIT_MB and ok == streams and overlap,
    )
