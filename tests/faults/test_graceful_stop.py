"""A proxy process stopped gracefully (SIGTERM) under load records every call it answered.

Calls are settled before their answer leaves but recorded just after it (fingerprints and the ledger
event run once the response is sent, usage/proxy/asgi.py). uvicorn's graceful stop waits for every
request's ASGI call, so those tails finish before the process exits: nothing answered is missing from
the ledger, and no reservation is left behind.
"""

from __future__ import annotations

import signal

import pytest

from tests.faults.conftest import assert_budgets_settled, assert_ledger_matches
from tests.faults.harness import Load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_a_proxy_stopped_under_load_records_every_call_it_answered(stack, employee_key, team_budget):
    # Calls recorded 0.3 s after their answer (instead of ~1 ms): many answered calls are still
    # unrecorded when the stop comes, and the stop must wait for them.
    proxy = stack.proxy(TOKENWISE_RECORD_DELAY_S="0.3")
    load = Load(base_url=proxy.url, api_key=employee_key[1], threads=8, pause_s=0.0).start()
    load.wait_for(300)

    proxy.process.send_signal(signal.SIGTERM)  # mid-load: calls in flight, tails pending
    # uvicorn shuts down gracefully, then re-raises the signal it caught: the exit status says SIGTERM.
    assert proxy.process.wait(timeout=15) == -signal.SIGTERM
    answers = load.stop()
    worker = stack.worker("after-stop")
    worker.stop()
    stack.drain()

    answered = [answer for answer in answers if answer.request_id is not None]
    refused = len(answers) - len(answered)  # connections refused once the process had stopped listening
    assert len(answered) >= 300
    figures = assert_ledger_matches(answered, stack)
    figures.update(assert_budgets_settled(stack, team_id=team_budget.team_id))
    assert set(figures["outcomes"]) == {"200"}
    print(f"\ngraceful stop under load: {figures}; {refused} calls found the process gone")
