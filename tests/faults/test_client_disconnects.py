"""Many callers abandon their streams at once: nothing leaks.

Each abandoned stream is recorded once (``client_disconnected``, estimated tokens), its upstream
generation is cancelled (the fake upstream sees every stream end), and its reservation is settled, so
the budget counter ends equal to the ledger's usage with nothing held.
"""

from __future__ import annotations

import threading

import openai
import pytest

from tests.faults.conftest import assert_budgets_settled, assert_ledger_matches
from tests.faults.harness import HELLO, Answer, Load
from usage.models import UsageEvent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _abandon_streams(base_url: str, api_key: str, count: int, answers: list[Answer], lock: threading.Lock) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=15)
    for _ in range(count):
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HELLO,
            stream=True,
            extra_body={"fake_fault": "slow-stream:20,long-stream:300"},
        )
        for index, _chunk in enumerate(stream):
            if index == 2:
                break
        stream.close()  # the caller goes away mid-stream
        with lock:
            answers.append(
                Answer(stream.response.headers["x-request-id"], stream.response.status_code, "", "abandoned")
            )
    client.close()


def test_bulk_disconnects_leak_no_connection_and_no_reservation(stack, employee_key, team_budget):
    proxy = stack.proxy()
    background = Load(base_url=proxy.url, api_key=employee_key[1], threads=2).start()
    abandoned: list[Answer] = []
    lock = threading.Lock()
    callers = [
        threading.Thread(target=_abandon_streams, args=(proxy.url, employee_key[1], 20, abandoned, lock))
        for _ in range(10)
    ]

    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    answers = background.stop() + abandoned
    stats = stack.upstream.wait_for_stats(lambda s: s["in_flight"] == 0, timeout_s=10)
    stack.drain()

    assert len(abandoned) == 200
    assert stats["streams_started"] == stats["streams_completed"] + stats["streams_cancelled"]
    assert stats["streams_cancelled"] == 200
    figures = assert_ledger_matches(answers, stack)
    figures.update(assert_budgets_settled(stack, team_id=team_budget.team_id))
    disconnected = UsageEvent.objects.filter(client_disconnected=True)
    assert sorted(disconnected.values_list("request_id", flat=True)) == sorted(a.request_id for a in abandoned)
    assert not disconnected.filter(is_estimated=False).exists()
    print(f"\nbulk client disconnects: {figures}; upstream stats {stats}")
