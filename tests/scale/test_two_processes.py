"""Scale-out: two proxy processes and two Celery workers on one Redis and one PostgreSQL stay exact.

The production layout in miniature (docs/scaling.md): two independent uvicorn processes serve calls for
the same people at the same time; two Celery worker processes drain the one ledger stream (one consumer
group) into the database. Afterwards:

* the ledger holds exactly one event per answered call - the very request ids the callers got back,
  none missing, none twice - and both workers wrote some of them;
* a token budget shared by both processes was never overspent, and its Redis counter equals the ledger;
* a requests-per-minute limit shared by both processes admitted no more than the limit allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from core.redis import get_sync_redis
from governance.enforcement.counters import budget_key
from governance.models import Membership
from governance.periods import period_of
from governance.services.keys import key_create
from governance.services.policies import policy_set
from tests.conftest import celery_worker_argv, free_port
from tests.factories import TeamFactory, UserFactory
from usage.ledger.stream import GROUP
from usage.models import UsageEvent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BASE_DIR = Path(settings.BASE_DIR)
CALLS = 160  # per scenario, half to each proxy, all in flight at once
BUDGET = 1_500  # tokens per day: less than the burst uses, so calls are refused however much they overlap
RPM = 30
HELLO = [{"role": "user", "content": "hello there"}]


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _env(upstream, queue: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "sk-upstream-secret",
        "TOKENWISE_DEMO_UPSTREAM": "0",
        "TOKENWISE_LEDGER_STREAM": settings.TOKENWISE_LEDGER_STREAM,
        "TOKENWISE_LEDGER_SPOOL_DIR": settings.TOKENWISE_LEDGER_SPOOL_DIR,
        "TOKENWISE_TIME_ZONE": settings.TIME_ZONE,
        "LOG_LEVEL": "INFO",
        # Small batches, so both workers take turns on the same stream rather than one taking it all.
        "TOKENWISE_LEDGER_BATCH_SIZE": "10",
    }


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def proxies_and_workers(env: dict[str, str], *, folder: Path, queue: str, name: str):
    """Two proxies (uvicorn) and two Celery workers (consuming ``queue``), separate processes with
    ``env``, logging to ``folder``: yields (the proxies' URLs, the workers' log files) once all are ready."""
    processes: list[subprocess.Popen] = []
    proxies, worker_logs = [], []
    try:
        for n in range(2):
            port = free_port()
            with open(folder / f"proxy-{n}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "uvicorn",
                            "config.asgi:application",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(port),
                            "--log-level",
                            "warning",
                            "--no-access-log",
                            "--lifespan",
                            "off",
                        ],
                        cwd=BASE_DIR,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            proxies.append(f"http://127.0.0.1:{port}")
        for n in range(2):
            path = folder / f"worker-{n}.log"
            with open(path, "wb") as log:
                processes.append(
                    subprocess.Popen(
                        celery_worker_argv(queue=queue, hostname=f"{name}-{n}@%h"),
                        cwd=BASE_DIR,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            worker_logs.append(path)
        deadline = time.monotonic() + 120
        for url in proxies:
            while True:
                assert all(p.poll() is None for p in processes), "a process exited at start"
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "a proxy did not start"
                    time.sleep(0.1)
        for path in worker_logs:
            while " ready." not in path.read_text():
                assert all(p.poll() is None for p in processes), f"a worker exited:\n{path.read_text()}"
                assert time.monotonic() < deadline, f"a worker did not start:\n{path.read_text()}"
                time.sleep(0.2)
        yield proxies, worker_logs
    finally:
        for process in processes:
            _stop(process)


@pytest.fixture
def cluster(transactional_db, default_prices, upstream, redis_clean, tmp_path, settings):
    """Two proxies (uvicorn) and two Celery workers, all separate processes, sharing Redis and PostgreSQL."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip(
            "SKIPPED: the processes share PostgreSQL and Redis; set DATABASE_URL (PostgreSQL) and "
            "REDIS_URL (as .ci/run does) to run this test"
        )
    redis_keys_token = f"tw-scale-{uuid.uuid4().hex[:12]}"
    settings.TOKENWISE_LEDGER_STREAM = f"{redis_keys_token}:events"
    settings.TOKENWISE_LEDGER_SPOOL_DIR = str(tmp_path / "spool")
    queue = f"{redis_keys_token}-celery"
    with proxies_and_workers(_env(upstream, queue), folder=tmp_path, queue=queue, name=redis_keys_token) as (
        proxies,
        worker_logs,
    ):
        yield {"proxies": proxies, "queue": queue, "worker_logs": worker_logs}


def _person(team_slug: str) -> tuple[object, str]:
    team = TeamFactory(slug=team_slug)
    user = UserFactory(email=f"{team_slug}@example.com")
    Membership.objects.create(user=user, team=team, role=Membership.Role.MEMBER)
    _, secret = key_create(user=user, team=team, name="scale")
    return team, secret


async def _burst(proxies: list[str], secret: str, calls: int) -> tuple[list[tuple[int, str, str, int]], float]:
    """``calls`` chat calls all at once, alternating between the proxies: (status, code, request id, proxy)."""
    clients = [
        httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=calls)) for url in proxies
    ]

    async def one(i: int) -> tuple[int, str, str, int]:
        response = await clients[i % 2].post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {secret}"},
            json={"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 5},
        )
        code = "" if response.status_code == 200 else response.json()["error"]["code"]
        return response.status_code, code, response.headers["x-request-id"], i % 2

    started = time.monotonic()
    try:
        answers = await asyncio.gather(*(one(i) for i in range(calls)))
    finally:
        for client in clients:
            await client.aclose()
    return list(answers), time.monotonic() - started


def _drain_with_the_workers(cluster, *, team, expected: int) -> None:
    """Ask both workers to flush (as beat does every second) until the ledger holds ``expected`` events."""
    from config.celery import app

    deadline = time.monotonic() + 120
    while UsageEvent.objects.filter(team=team).count() < expected:
        assert time.monotonic() < deadline, "the workers did not drain the ledger"
        for _ in range(2):
            app.send_task(
                "usage.tasks.usage_events_flush_task", queue=cluster["queue"], expires=60, kwargs={"time_budget_s": 0.5}
            )
        time.sleep(0.5)
    # Then until the stream is empty and nothing is pending: no entry is left that could land late, twice.
    client, stream = get_sync_redis(), settings.TOKENWISE_LEDGER_STREAM
    while client.xlen(stream) or client.xpending(stream, GROUP)["pending"]:
        assert time.monotonic() < deadline, "the workers did not settle the ledger stream"
        app.send_task(
            "usage.tasks.usage_events_flush_task", queue=cluster["queue"], expires=60, kwargs={"time_budget_s": 0.5}
        )
        time.sleep(0.5)


def _call(url: str, secret: str, *, max_tokens: int, proxy: int) -> tuple[int, str, str, int]:
    response = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": max_tokens},
        timeout=60,
    )
    code = "" if response.status_code == 200 else response.json()["error"]["code"]
    return response.status_code, code, response.headers["x-request-id"], proxy


def _flushes_with_inserts(log: Path) -> int:
    """How many flush tasks of this worker wrote at least one event (Celery logs each task's result)."""
    return sum(
        int(n) > 0
        for n in re.findall(r"usage_events_flush_task\[[^\]]+\] succeeded in [0-9.e-]+s: (\d+)", log.read_text())
    )


def test_a_shared_budget_and_the_ledger_stay_exact_across_processes(cluster):
    team, secret = _person("scale-budget")
    policy_set(scope="team", team=team, values={"tokens_per_day": BUDGET})

    answers, _ = asyncio.run(_burst(cluster["proxies"], secret, CALLS))
    _drain_with_the_workers(cluster, team=team, expected=CALLS)

    events = UsageEvent.objects.filter(team=team)
    assert sorted(events.values_list("request_id", flat=True)) == sorted(a[2] for a in answers)
    assert {(a[0], a[1]) for a in answers if a[0] != 200} == {(429, "budget_exceeded")}
    key = budget_key(team_id=team.pk, user_id=None, unit="tok", period=period_of("day", at=time.time()))
    used, held = (int(v or 0) for v in get_sync_redis().hmget(key, "u", "r"))
    assert (used, held) == (events.filter(status=200).aggregate(n=Sum("total_tokens"))["n"], 0)
    assert 0 < used <= BUDGET
    assert all(_flushes_with_inserts(log) > 0 for log in cluster["worker_logs"])  # both workers wrote

    # Which proxy admitted how many calls is a race; that both count against the one budget is not. A call
    # whose worst case is above the room left but within the whole budget is refused by each proxy - and,
    # as the control, admitted for a team that has spent nothing (one such team per proxy): a proxy counting on its own would admit it.
    room = BUDGET - used
    after = [_call(url, secret, max_tokens=room, proxy=n) for n, url in enumerate(cluster["proxies"])]
    assert [(a[0], a[1]) for a in after] == [(429, "budget_exceeded")] * 2
    for n, url in enumerate(cluster["proxies"]):
        fresh_team, fresh_secret = _person(f"scale-budget-control-{n}")
        policy_set(scope="team", team=fresh_team, values={"tokens_per_day": BUDGET})
        assert _call(url, fresh_secret, max_tokens=room, proxy=n)[0] == 200
    _drain_with_the_workers(cluster, team=team, expected=CALLS + 2)
    assert sorted(events.values_list("request_id", flat=True)) == sorted(a[2] for a in answers + after)


def test_a_shared_rate_limit_admits_no_more_than_it_allows_across_processes(cluster):
    team, secret = _person("scale-rate")
    policy_set(scope="team", team=team, values={"requests_per_minute": RPM})

    answers, elapsed = asyncio.run(_burst(cluster["proxies"], secret, CALLS))
    _drain_with_the_workers(cluster, team=team, expected=CALLS)

    admitted = sum(a[0] == 200 for a in answers)
    refilled = int(elapsed * RPM / 60) + 1  # the bucket refills RPM per minute while the burst lasts
    assert RPM <= admitted <= RPM + refilled
    assert {(a[0], a[1]) for a in answers if a[0] != 200} == {(429, "rate_limit_exceeded")}
    assert UsageEvent.objects.filter(team=team).count() == CALLS
    assert UsageEvent.objects.filter(team=team, status=200).count() == admitted
