"""Targets 1 and 2 on one running stack: proxy overhead and throughput, then ledger ingest."""

from __future__ import annotations

import asyncio
from pathlib import Path

from asgiref.sync import sync_to_async

from bench.harness.loadgen import COMPLETED
from bench.harness.org import bench_org_create
from bench.harness.stack import stack_start
from bench.probes import ledger_bench, proxy_bench


async def proxy_and_ledger(*, logdir: Path, quick: bool, workers: int, proxy: set[str], ledger: bool) -> None:
    org = await sync_to_async(bench_org_create)()
    stack = stack_start(logdir=logdir, workers=workers)
    try:
        print(
            f"\n## Proxy overhead (fake upstream, bare forwarder, Tokenwise with {workers} uvicorn workers, "
            f"PostgreSQL, Redis, Celery worker + beat)",
            flush=True,
        )
        waited = await asyncio.to_thread(stack.settle)
        print(
            f"  (Celery's jobs due at beat's start - detection, rollups, reconcile - done after {waited:.0f} s; "
            f"measuring from here)",
            flush=True,
        )
        if "latency" in proxy:
            # Small blocks, many rounds: drift on this shared machine (its speed moves by tens of percent
            # within minutes) spreads over every target alike.
            rounds, per_round, warmup = (12, 40, 100) if quick else (40, 50, 300)
            for stream in (False, True):
                samples = await proxy_bench.latency(
                    stack, secret=org.secret, stream=stream, rounds=rounds, per_round=per_round, warmup=warmup
                )
                proxy_bench.latency_report(samples, stream=stream)
            # Anthropic's Messages API (Claude Code's protocol): streams, beside the OpenAI ones.
            samples = await proxy_bench.latency(
                stack,
                secret=org.secret,
                stream=True,
                rounds=rounds,
                per_round=per_round,
                warmup=warmup,
                protocol="messages",
            )
            proxy_bench.latency_report(samples, stream=True, protocol="messages")
        if "throughput" in proxy:
            print("\n## Throughput", flush=True)
            rounds, seconds = (2, 4.0) if quick else (3, 10.0)
            for stream in (False, True):
                await proxy_bench.throughput(stack, secret=org.secret, stream=stream, rounds=rounds, seconds=seconds)
            await proxy_bench.throughput(
                stack, secret=org.secret, stream=True, rounds=rounds, seconds=seconds, protocol="messages"
            )
        if ledger:
            print("\n## Ledger", flush=True)
            await ledger_bench.ledger_exact(org=org, expected=COMPLETED["tokenwise"])
            await ledger_bench.hot_path_without_database(stack, org=org, quick=quick)
            await ledger_bench.ingest_rate(quick=quick)
    finally:
        stack.stop()
