"""PostgreSQL becomes unreachable for a few seconds while calls keep flowing.

The proxy keeps serving from its caches (keys, policies, routes, prices) and Redis; usage events wait
in the Redis stream (the worker's failed batch stays pending) and reach the database once it is back.
"""

from __future__ import annotations

import time

import httpx
import pytest

from governance.services.route_changes import ROUTES_VERSION_KEY
from tests.faults.conftest import assert_budgets_settled, assert_ledger_matches
from tests.faults.harness import Load, wait_until
from usage.models import UsageEvent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_proxy_serves_through_a_database_outage_and_the_stream_catches_up(stack, employee_key, team_budget):
    proxy = stack.proxy()
    stack.worker("flush")
    load = Load(base_url=proxy.url, api_key=employee_key[1]).start()
    load.wait_for(100)
    redis_client = stack.redis.client()

    stack.pg.cut()
    time.sleep(0.3)  # a COMMIT already on its way may still land
    recorded_at_cut = UsageEvent.objects.count()
    redis_client.incr(ROUTES_VERSION_KEY)  # a route change announced: the proxy's re-read fails, its table stays
    load.wait_for(250)  # spans that re-read, several price refreshes (1 s here) and worker flushes
    backlog_during = redis_client.xlen("tokenwise:events")
    ready_during = httpx.get(f"{proxy.url}/readyz", timeout=10)
    recorded_during = UsageEvent.objects.count()
    stack.pg.restore()
    load.wait_for(100)
    answers = load.stop()
    wait_until(lambda: redis_client.xlen("tokenwise:events") == 0, timeout_s=30, what="the worker to drain the backlog")
    stack.drain()

    assert backlog_during >= 200
    assert recorded_during == recorded_at_cut
    assert ready_during.status_code == 200
    assert ready_during.json()["status"] == "degraded"
    assert ready_during.json()["checks"]["database"]["ok"] is False
    figures = assert_ledger_matches(answers, stack)
    figures.update(assert_budgets_settled(stack, team_id=team_budget.team_id))
    assert figures["outcomes"] == {"200": len(answers)}
    print(f"\ndatabase outage: stream held {backlog_during} events during the outage; {figures}")
