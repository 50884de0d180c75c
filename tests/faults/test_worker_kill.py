"""A Celery worker is SIGKILLed in the middle of a ledger batch; another worker takes its entries over.

The killed worker read a batch from the stream (its entries are pending with its consumer) and died
before acknowledging it - perhaps after committing it. The second worker reclaims the entries once
idle (``TOKENWISE_LEDGER_CLAIM_IDLE_MS``); ingest is idempotent on the request id, so nothing is lost
and nothing is counted twice.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import assert_budgets_settled, assert_ledger_matches
from tests.faults.harness import Load, wait_until
from usage.ledger.stream import GROUP

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _pending_of(client, consumer_prefix: str) -> int:
    try:
        consumers = client.xinfo_consumers("tokenwise:events", GROUP)
    except Exception:  # noqa: BLE001 - the group does not exist before the first read
        return 0
    return sum(c["pending"] for c in consumers if c["name"].decode().endswith(f"-{consumer_prefix}"))


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(stack, employee_key, team_budget):
    proxy = stack.proxy()
    load = Load(base_url=proxy.url, api_key=employee_key[1]).start()
    load.wait_for(400)  # a backlog, so the first worker reads full batches
    redis_client = stack.redis.client()
    victim = stack.worker("victim", TOKENWISE_LEDGER_BATCH_SIZE="50")

    wait_until(
        lambda: _pending_of(redis_client, str(victim.pid)) > 0, timeout_s=30, what="a batch in flight", interval_s=0.001
    )
    victim.kill()
    orphaned = _pending_of(redis_client, str(victim.pid))
    rescuer = stack.worker("rescuer")
    load.wait_for(200)
    answers = load.stop()
    wait_until(
        lambda: _pending_of(redis_client, str(victim.pid)) == 0,
        timeout_s=30,
        what="the rescuer to take the orphaned entries over",
    )
    wait_until(lambda: redis_client.xlen("tokenwise:events") == 0, timeout_s=30, what="the rescuer to drain")
    rescuer.stop()
    stack.drain()

    assert orphaned > 0
    figures = assert_ledger_matches(answers, stack)
    figures.update(assert_budgets_settled(stack, team_id=team_budget.team_id))
    assert figures["outcomes"] == {"200": len(answers)}
    print(f"\nworker killed mid-batch: {orphaned} entries were pending with it; {figures}")
