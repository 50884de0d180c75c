"""Redis crashes and comes back while calls keep flowing through the proxy.

Fail-open (the default): every call is still served; events that cannot reach the stream go straight
to the database, and while PostgreSQL is down as well, to the local spool. Calls admitted by the
process's own counters during the outage reach the shared budget counters through the reconcile task. Fail-closed: calls get a
clean 503 while Redis is down. Either way every answered call is in the ledger exactly once.
"""

from __future__ import annotations

import time

import pytest

from governance.enforcement.reconcile import counters_reconcile
from tests.faults.conftest import assert_budgets_settled, assert_ledger_matches
from tests.faults.harness import Load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_fail_open_serves_through_redis_and_database_outages_and_loses_nothing(stack, employee_key, team_budget):
    # Reservations a crash left in Redis (admitted before it, never settled) expire after 3 s here.
    proxy = stack.proxy(TOKENWISE_REDIS_FAILURE_MODE="open", TOKENWISE_RESERVATION_TTL_S="3")
    stack.worker("flush")
    load = Load(base_url=proxy.url, api_key=employee_key[1]).start()
    load.wait_for(100)

    stack.redis.kill()
    load.wait_for(60)
    stack.pg.cut()  # both stores down: events can only go to the spool
    load.wait_for(40)
    stack.pg.restore()
    load.wait_for(60)
    stack.redis.start()
    load.wait_for(100)
    answers = load.stop()
    published = proxy.metrics()
    stack.drain()
    time.sleep(3)  # the reservation lifetime
    counters_reconcile(quiet_s=0)  # what beat runs every 5 minutes: counters repaired from the ledger

    figures = assert_ledger_matches(answers, stack)
    figures.update(assert_budgets_settled(stack, team_id=team_budget.team_id))
    assert figures["outcomes"] == {"200": len(answers)}
    assert published['tokenwise_ledger_published_total{path="stream"}'] > 0
    assert published['tokenwise_ledger_published_total{path="database"}'] > 0
    assert published['tokenwise_ledger_published_total{path="spool"}'] > 0
    assert sum(v for k, v in published.items() if k.startswith("tokenwise_proxy_requests_total{")) == len(answers)
    paths = {
        path: published[f'tokenwise_ledger_published_total{{path="{path}"}}']
        for path in ("stream", "database", "spool")
    }
    print(f"\nredis outage (fail-open): {figures}; events published by path {paths}")


def test_fail_closed_refuses_cleanly_while_redis_is_down(stack, employee_key):
    proxy = stack.proxy(TOKENWISE_REDIS_FAILURE_MODE="closed")
    load = Load(base_url=proxy.url, api_key=employee_key[1]).start()
    load.wait_for(60)

    stack.redis.kill()
    time.sleep(0.5)
    load.wait_for(60)
    stack.redis.start()
    load.wait_for(60)
    answers = load.stop()
    stack.drain()

    figures = assert_ledger_matches(answers, stack)
    outcomes = figures["outcomes"]
    assert set(outcomes) <= {"200", "503:enforcement_unavailable"}
    assert outcomes["503:enforcement_unavailable"] >= 50
    print(f"\nredis outage (fail-closed): {figures}")
