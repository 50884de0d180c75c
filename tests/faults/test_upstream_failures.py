"""The upstream misbehaves under load: timeouts, resets, 5xx and 429 bursts, truncated streams.

Every caller gets a clean OpenAI-shaped answer (an error status with an ``error`` object, or for a
stream already under way a final ``error`` event), every reservation is settled (refunded down to what
was really used), and a route with a fallback provider serves from it when the primary fails before any
byte was relayed.
"""

from __future__ import annotations

import pytest

from governance.models import ModelRoute, Provider
from tests.faults.conftest import assert_budgets_settled, assert_ledger_matches
from tests.faults.harness import Load
from usage.models import UsageEvent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# "<call>/<fault>" -> (status, code) the caller gets. 5xx and 429 pass through with the upstream's own
# OpenAI-shaped body; a reset, or a non-streamed answer cut half-way, is a 502; a stall a 504; a stream
# cut after some chunks ends with a final error event after its 200.
EXPECTED = {
    f"{kind}{suffix}": outcome
    for kind in ("chat", "stream", "embeddings")
    for suffix, outcome in (
        ("", (200, "")),
        ("/no-usage", (200, "")),
        ("/status:500", (500, "")),
        ("/status:503", (503, "")),
        ("/status:429", (429, "rate_limit_exceeded")),
        ("/reset", (502, "upstream_connection_error")),
        ("/stall", (504, "upstream_timeout")),
        ("/truncate", (200, "upstream_stream_interrupted") if kind == "stream" else (502, "upstream_connection_error")),
    )
}
FAULTS = (
    None,
    {"fake_fault": "status:500"},
    {"fake_fault": "status:503"},
    {"fake_fault": "status:429"},
    {"fake_fault": "reset"},
    {"fake_fault": "stall"},
    {"fake_fault": "truncate"},
    {"fake_fault": "no-usage"},
)


def test_upstream_failures_get_clean_errors_and_refund_reservations(stack, employee_key, team_budget):
    proxy = stack.proxy(TOKENWISE_UPSTREAM_READ_TIMEOUT_S="1")
    load = Load(base_url=proxy.url, api_key=employee_key[1], threads=6, extra_bodies=FAULTS).start()

    load.wait_for(300, timeout_s=40)
    answers = load.stop()
    stack.drain()

    figures = assert_ledger_matches(answers, stack)
    figures.update(assert_budgets_settled(stack, team_id=team_budget.team_id))
    assert [a for a in answers if (a.status >= 400 or a.code) and not a.shaped] == []
    outcomes = {(a.kind, a.status, a.code) for a in answers}
    assert outcomes == {(call, *outcome) for call, outcome in EXPECTED.items()}
    interrupted = UsageEvent.objects.filter(error_code="upstream_stream_interrupted")
    assert interrupted.exists() and not interrupted.filter(is_estimated=False).exists()
    stats = stack.upstream.wait_for_stats(lambda s: s["in_flight"] == 0)
    print(f"\nupstream failures: {figures}; upstream stats {stats}")


def test_route_falls_back_to_its_secondary_provider_before_any_byte(stack, employee_key, team_budget):
    failing = Provider.objects.create(
        name="primary", base_url=stack.upstream.base_url, extra_headers={"x-fake-fault": "status:503"}
    )
    healthy = Provider.objects.create(name="secondary", base_url=stack.upstream.base_url)
    ModelRoute.objects.create(pattern="*", provider=failing, fallback_provider=healthy)
    proxy = stack.proxy()
    load = Load(base_url=proxy.url, api_key=employee_key[1]).start()

    load.wait_for(150)
    answers = load.stop()
    metrics = proxy.metrics()
    stack.drain()

    figures = assert_ledger_matches(answers, stack)
    figures.update(assert_budgets_settled(stack, team_id=team_budget.team_id))
    assert figures["outcomes"] == {"200": len(answers)}
    assert set(UsageEvent.objects.values_list("provider", flat=True)) == {"secondary"}
    assert metrics['tokenwise_upstream_fallbacks_total{fallback="secondary",provider="primary"}'] == len(answers)
    assert len(stack.upstream.requests) == 2 * len(answers)
    print(f"\nfallback provider: {figures}")
