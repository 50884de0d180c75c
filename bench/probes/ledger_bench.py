"""Target 2: ledger ingest into PostgreSQL, and a hot path that never waits on the database.

* exactness: every call Tokenwise answered during the proxy runs is in the ledger exactly once;
* the hot path with the usage-event table locked (``LOCK TABLE ... ACCESS EXCLUSIVE``, so no write to
  the ledger can happen): calls keep their latency, and the events land once the lock is released;
* ingest rate: events XADDed to the ledger stream the way the proxy publishes them, drained into
  PostgreSQL by the running Celery worker (XREADGROUP, parse, bulk insert, XACK/XDEL), end to end.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import timedelta

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from bench.harness.loadgen import COMPLETED, run_count
from bench.harness.org import BenchOrg
from bench.harness.report import check, ms, stats_ms
from bench.harness.stack import Stack

INGEST_TARGET = 5000  # events/s
LOCK_MIN_S = 3.0  # the ledger table stays locked at least this long: a call waiting on it would show


def _team_events(team_id: int) -> int:
    from usage.models import UsageEvent

    return UsageEvent.objects.filter(team_id=team_id).count()


def _range_events(prefix: str) -> int:
    from usage.models import UsageEvent

    return UsageEvent.objects.filter(request_id__gte=prefix, request_id__lt=prefix + "~").count()


async def _wait_count(count, expected: int, *, timeout_s: float) -> tuple[int, float]:
    """Poll ``count()`` until it reaches ``expected``; (last count, seconds waited)."""
    started = time.perf_counter()
    while True:
        found = await sync_to_async(count)()
        if found >= expected or time.perf_counter() - started > timeout_s:
            return found, time.perf_counter() - started
        await asyncio.sleep(0.1)


async def ledger_exact(*, org: BenchOrg, expected: int) -> None:
    found, waited = await _wait_count(lambda: _team_events(org.team_id), expected, timeout_s=120)
    check(
        "ledger",
        "every proxied call recorded exactly once",
        measured=f"{found} events for {expected} calls (caught up {waited:.1f} s after the last call)",
        limit="equal",
        passed=found == expected if expected else None,
    )  # nothing to compare without the proxy section


def _pg_url() -> str:
    db = settings.DATABASES["default"]
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']} user={db['USER']}"


def _transactions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


async def hot_path_without_database(stack: Stack, *, org: BenchOrg, quick: bool) -> None:
    requests = 300 if quick else 1000
    targets = stack.targets(secret=org.secret, stream=False)
    await run_count(targets["tokenwise"], requests=100, concurrency=4)  # steady state: warm caches and pools
    await asyncio.sleep(1.5)  # let the statistics of earlier transactions be flushed
    before = await sync_to_async(_transactions)()
    locker = await psycopg.AsyncConnection.connect(_pg_url())
    try:
        await locker.execute("LOCK TABLE usage_usageevent IN ACCESS EXCLUSIVE MODE")
        locked_at = time.perf_counter()
        direct, tokenwise = [], []
        for _ in range(4):
            direct += await run_count(targets["direct"], requests=requests // 4, concurrency=1)
            tokenwise += await run_count(targets["tokenwise"], requests=requests // 4, concurrency=1)
        await asyncio.sleep(max(0.0, LOCK_MIN_S - (time.perf_counter() - locked_at)))
        held_s = time.perf_counter() - locked_at
        await asyncio.sleep(1.5)
        during = await sync_to_async(_transactions)() - before
        if any(s.status != 200 for s in tokenwise):
            raise RuntimeError("calls failed while the ledger table was locked")
    finally:
        await locker.rollback()
        await locker.close()
    totals_d, totals_t = [s.total_s for s in direct], [s.total_s for s in tokenwise]
    print(f"    usage-event table locked for {held_s:.1f} s: direct    {stats_ms(totals_d)}")
    print(f"                                      tokenwise {stats_ms(totals_t)}, slowest {ms(max(totals_t))}")
    print(
        f"    database transactions committed while {len(tokenwise)} calls ran: {during} "
        f"(includes the benchmark's own statistics queries)"
    )
    # A call that waited on the ledger table would have waited until the lock was released: seconds.
    check(
        "ledger",
        f"hot path never waits on the database ({len(tokenwise)} calls, ledger table locked {held_s:.0f} s)",
        measured=f"slowest call {ms(max(totals_t))}, p50 {ms(statistics.median(totals_t))}",
        limit="every call far shorter than the lock (< 500 ms)",
        passed=max(totals_t) < 0.5 and held_s >= LOCK_MIN_S,
    )
    expected = COMPLETED["tokenwise"]
    found, waited = await _wait_count(lambda: _team_events(org.team_id), expected, timeout_s=120)
    check(
        "ledger",
        "events queued during the lock written after it",
        measured=f"{found}/{expected} ({waited:.1f} s after release)",
        limit="all",
        passed=found == expected,
    )


def _events(n: int, org: BenchOrg, prefix: str) -> list[str]:
    from usage.ledger.event_record import UsageEventData, utc_now

    now = utc_now()
    out = []
    for i in range(n):
        out.append(
            UsageEventData(
                request_id=f"{prefix}{i:09d}",
                created_at=now - timedelta(milliseconds=n - i),
                endpoint="chat.completions",
                status=200,
                key_id=org.key_id,
                user_id=org.user_id,
                team_id=org.team_id,
                model_requested="gpt-4o-mini",
                model_served="gpt-4o-mini-2024-07-18",
                provider="default",
                stream=i % 2 == 0,
                prompt_tokens=812,
                completion_tokens=211,
                cached_tokens=256,
                total_tokens=1023,
                cost_usd="0.00023220",
                latency_ms=640,
                time_to_first_byte_ms=120,
                max_tokens=1024,
                purpose="bench",
                policy_action="",
                prompt_hash="ab" * 32,
                prompt_simhash=-1234567890123,
                output_simhash=987654321,
            ).to_json()
        )
    return out


async def ingest_rate(*, quick: bool) -> None:
    from bench.harness.org import bench_org_create
    from core.redis import get_async_redis

    n = 30_000 if quick else 100_000
    org = await sync_to_async(bench_org_create)(label="ingest")
    prefix = f"req_bench{uuid.uuid4().hex[:8]}"
    payloads = _events(n, org, prefix)
    client = get_async_redis()
    started = time.perf_counter()
    for start in range(0, n, 5000):
        pipe = client.pipeline(transaction=False)
        for payload in payloads[start : start + 5000]:
            pipe.xadd(settings.TOKENWISE_LEDGER_STREAM, {"e": payload})
        await pipe.execute()
    published = time.perf_counter() - started
    found, _ = await _wait_count(lambda: _range_events(prefix), n, timeout_s=300)
    elapsed = time.perf_counter() - started
    rate = found / elapsed
    print(
        f"    {n} events XADDed in {published:.2f} s ({published / n * 1e6:.0f} us each, pipelined); "
        f"in PostgreSQL after {elapsed:.2f} s"
    )
    check(
        "ledger",
        "ingest into PostgreSQL (stream -> Celery worker -> bulk insert)",
        measured=f"{rate:,.0f} events/s ({found}/{n})",
        limit=f">= {INGEST_TARGET:,} events/s",
        passed=found == n and rate >= INGEST_TARGET,
    )
