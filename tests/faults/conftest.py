"""Fixtures of the fault-injection suite: a ``Stack`` of breakable services around a real proxy process.

Each scenario gets its own ``redis-server`` and a cuttable forwarder to PostgreSQL; the proxy (uvicorn)
and Celery workers run as child processes pointed at them, with the fake upstream in another child.
The test process itself reads the same test database and, through ``settings`` overrides, the same
private Redis - so ``Stack.drain`` and the ledger checks see exactly what the processes wrote.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from tests.fake_upstream import FakeUpstream
from tests.faults.harness import REPO_ROOT, Answer, CeleryWorker, ProxyProcess, RedisServer, TcpProxy, summarize


@pytest.fixture(scope="module")
def fault_upstream():
    """The demo upstream in a child process (its own interpreter, so load never competes with it)."""
    with FakeUpstream(subprocess=True) as upstream:
        yield upstream


class Stack:
    def __init__(self, *, directory: Path, upstream: FakeUpstream, settings) -> None:
        self.directory = directory
        self.upstream = upstream
        self.settings = settings
        self.redis = RedisServer(directory / "redis").start()
        db = connection.settings_dict
        self.pg = TcpProxy(int(db["PORT"] or 5432), db["HOST"] or "127.0.0.1").start()
        self.spool_dir = directory / "spool"
        self.processes: list = []
        user = db["USER"] or "postgres"
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PROMETHEUS_MULTIPROC"))},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"postgres://{user}{password}@127.0.0.1:{self.pg.port}/{db['NAME']}",
            "REDIS_URL": self.redis.url,
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_API_KEY": "sk-upstream-secret",
            "TOKENWISE_DEMO_UPSTREAM": "false",
            "TOKENWISE_LEDGER_SPOOL_DIR": str(self.spool_dir),
            "TOKENWISE_LEDGER_CLAIM_IDLE_MS": "1500",
            "TOKENWISE_UPSTREAM_READ_TIMEOUT_S": "5",
            "DATABASE_CONNECT_TIMEOUT_S": "2",
        }
        # The test process drains the same private Redis and spool.
        from core.redis import get_sync_redis

        settings.REDIS_URL = self.redis.url
        settings.TOKENWISE_LEDGER_SPOOL_DIR = str(self.spool_dir)
        get_sync_redis.cache_clear()
        upstream.reset()

    def proxy(self, **env: str) -> ProxyProcess:
        process = ProxyProcess({**self.env, **env}, self.directory / "proxy.log").start()
        self.processes.append(process)
        return process

    def worker(self, name: str, **env: str) -> CeleryWorker:
        worker = CeleryWorker({**self.env, **env}, self.directory / "celery", name).start()
        self.processes.append(worker)
        return worker

    def drain(self) -> None:
        """What a worker does, to the end, once the proxies have recorded every call they answered: the
        whole stream (pending entries too), then the spool."""
        for process in self.processes:
            if isinstance(process, ProxyProcess):
                process.wait_recorded()
        from usage.ledger.spool import usage_spool_drain
        from usage.ledger.stream import usage_stream_drain

        while not usage_stream_drain(time_budget_s=30, claim_idle_ms=0).exhausted:
            pass
        usage_spool_drain()

    def close(self) -> None:
        from core.redis import get_sync_redis

        for process in reversed(self.processes):
            process.stop()
        self.pg.stop()
        self.redis.stop()
        get_sync_redis.cache_clear()


@pytest.fixture
def stack(transactional_db, default_prices, fault_upstream, settings, tmp_path, request):
    built = Stack(directory=tmp_path, upstream=fault_upstream, settings=settings)
    yield built
    built.close()
    # Keep the processes' logs where CI keeps its output (pytest's temp dirs are recycled).
    kept = REPO_ROOT / "test-output" / "faults" / request.node.name
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir(parents=True)
    for log in [tmp_path / "proxy.log", *sorted((tmp_path / "celery").glob("*.log"))]:
        if log.exists():
            shutil.copy(log, kept / log.name)


def assert_ledger_matches(answers: list[Answer], stack: Stack) -> dict:
    """The count check every scenario ends with; returns the figures for the report.

    Every call the client saw answered is in the ledger exactly once, with the status the client got;
    nothing else is; nothing is left in the stream, pending, dead-lettered or spooled; the daily rollups
    count every call once.
    """
    from django.db.models import Sum

    from usage.ledger.rollups import usage_rollups_refresh
    from usage.ledger.spool import usage_spool_backlog
    from usage.ledger.stream import usage_stream_backlog
    from usage.models import DailyRollup, UsageEvent

    unanswered = [a for a in answers if a.request_id is None]
    assert unanswered == [], f"calls without any HTTP answer: {summarize(unanswered)}"
    answered = Counter(a.request_id for a in answers)
    assert max(answered.values()) == 1, "a request id was returned twice"
    rows = list(UsageEvent.objects.values_list("request_id", "status"))
    in_ledger = Counter(request_id for request_id, _ in rows)
    assert in_ledger == answered, (
        f"missing from the ledger: {len(answered - in_ledger)}, not answered but recorded: {len(in_ledger - answered)}"
    )
    client_status = {a.request_id: a.status for a in answers}
    assert {request_id: status for request_id, status in rows} == client_status
    assert usage_stream_backlog() == (0, 0)
    assert stack.redis.client().xlen("tokenwise:events:dead") == 0
    assert usage_spool_backlog() == 0
    usage_rollups_refresh()  # reports read the rollups: each call counted there once too
    assert DailyRollup.objects.aggregate(n=Sum("requests"))["n"] == len(rows)
    return {"answered": len(answers), "ledger_rows": len(rows), "outcomes": summarize(answers)}


@pytest.fixture
def team_budget(team):
    """A daily token budget on the team, far above what a scenario uses: every call reserves and settles."""
    from governance.models import Policy

    return Policy.objects.create(scope=Policy.Scope.TEAM, team=team, tokens_per_day=10**9)


def assert_budgets_settled(stack: Stack, *, team_id: int) -> dict:
    """Budgets == settled usage: no reservation left, and the team's token counter holds exactly the
    tokens the ledger recorded for the team (every call settled once, refunds included)."""
    from django.db.models import Sum

    from usage.models import UsageEvent

    client = stack.redis.client()
    assert client.hlen(f"tw:{{t{team_id}}}:resv") == 0, "reservations left unsettled"
    counters = {}
    for key in client.scan_iter(match=f"tw:{{t{team_id}}}:b:t{team_id}:tok:*"):
        used, held = client.hmget(key, "u", "r")
        counters[key.decode()] = (int(used or 0), int(held or 0))
    ledger_tokens = UsageEvent.objects.filter(team_id=team_id).aggregate(n=Sum("total_tokens"))["n"] or 0
    assert len(counters) == 1, counters
    assert list(counters.values()) == [(ledger_tokens, 0)]
    return {"budget_used_tokens": ledger_tokens}
