"""Request shapes that used to overspend a budget: each sent one call at a time and 10 at once, through
the live proxy and the demo upstream. The team's ledger never exceeds its budget, and the counters
equal the ledger with nothing left reserved (Redis pass and embedded pass alike)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from decimal import Decimal

import httpx
import pytest
from django.db.models import Sum

from governance.enforcement.counters import USD_UNITS
from governance.models import ModelRoute, Provider
from tests.usage.proxy.test_policy_enforcement import (  # noqa: F401 (fixtures)
    counter,
    fresh_counters,
    ledger,
    policies,
    private_spool,
    reservations_left,
)
from usage.models import UsageEvent
from usage.proxy.upstream import routes_invalidate

PARALLEL = 10
SEQUENTIAL = 6
HELLO = [{"role": "user", "content": "hello there"}]
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/chart.png", "detail": "low"}}


@dataclasses.dataclass(frozen=True)
class Attack:
    path: str
    body: dict
    budget: str  # the team's budget line of the policy document
    limit: int | Decimal
    unit: str = "tok"
    rules: str = ""  # more lines of the team's policy


ATTACKS = {
    "n=8 with max_tokens=4096": Attack(
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HELLO, "n": 8, "max_tokens": 4096},
        "tokens_per_day: 40000",
        40_000,
    ),
    "n=8 under a policy cap of 500": Attack(
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HELLO, "n": 8},
        "tokens_per_day: 5000",
        5000,
        rules="    max_tokens: 500\n",
    ),
    "completions with 4 prompts and n=8": Attack(
        "/v1/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": ["one", "two", "three", "four"], "n": 8, "max_tokens": 100},
        "tokens_per_day: 4000",
        4000,
    ),
    "1000 image parts with max_tokens=1": Attack(
        "/v1/chat/completions",
        {"model": "gpt-4o", "max_tokens": 1, "messages": [{"role": "user", "content": [IMAGE] * 1000}]},
        "tokens_per_day: 150000",
        150_000,
    ),
    "a prompt of twice chars/4 tokens": Attack(
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "max_tokens": 1, "messages": [{"role": "user", "content": "a " * 1000}]},
        "tokens_per_day: 5000",
        5000,
    ),
    "an alias route to gpt-4o under a USD budget": Attack(
        "/v1/chat/completions",
        {"model": "alias-4o", "messages": HELLO, "max_tokens": 1000},
        "usd_per_day: 0.05",
        Decimal("0.05"),
        unit="usd",
    ),
    "long answers without max_tokens or a cap": Attack(
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HELLO, "fake_fault": "long-stream:10000"},
        "tokens_per_day: 20000",
        20_000,
    ),
}


@pytest.fixture
def alias_route(upstream):
    provider = Provider.objects.create(name="aliases", base_url=upstream.base_url)
    ModelRoute.objects.create(pattern="alias-4o", provider=provider, upstream_model="gpt-4o")
    ModelRoute.objects.create(pattern="mystery", provider=provider, upstream_model="mystery-model")
    routes_invalidate()
    yield
    routes_invalidate()


async def _send(url: str, secret: str, attack: Attack, *, calls: int, parallel: bool) -> list[tuple[int, str]]:
    """(status, error code) of each call: all at once, or one after another."""
    body = dict(attack.body)
    if parallel:  # held a moment upstream, so every call is in flight at the same time
        body["fake_fault"] = ",".join(filter(None, (body.get("fake_fault"), "slow:100")))
    async with httpx.AsyncClient(
        base_url=url,
        timeout=60,
        headers={"Authorization": f"Bearer {secret}"},
        limits=httpx.Limits(max_connections=calls),
    ) as client:

        async def one() -> tuple[int, str]:
            response = await client.post(attack.path, json=body)
            return response.status_code, "" if response.status_code == 200 else response.json()["error"]["code"]

        if parallel:
            return list(await asyncio.gather(*(one() for _ in range(calls))))
        return [await one() for _ in range(calls)]


def _ledger_total(team, attack: Attack, calls: int, ledger) -> int:
    """The team's ledger once every call is in it: tokens, or USD in counter units (each call rounded up
    as its settlement is)."""
    deadline = time.monotonic() + 30
    while True:
        ledger.drain()
        events = UsageEvent.objects.filter(team=team)
        if events.count() >= calls or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert events.count() == calls
    if attack.unit == "tok":
        return events.aggregate(n=Sum("total_tokens"))["n"] or 0
    return sum(math.ceil(cost * USD_UNITS) for cost in events.values_list("cost_usd", flat=True) if cost)


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", f"{PARALLEL}-parallel"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_the_ledger_never_exceeds_the_budget(
    name, parallel, live_proxy, upstream, employee_key, team, policies, ledger, alias_route
):
    attack = ATTACKS[name]
    policies(f"teams:\n  platform:\n    budget: {{{attack.budget}}}\n{attack.rules}")
    _, secret = employee_key
    calls = PARALLEL if parallel else SEQUENTIAL

    answers = asyncio.run(_send(live_proxy.url, secret, attack, calls=calls, parallel=parallel))

    total = _ledger_total(team, attack, calls, ledger)
    limit = int(attack.limit * USD_UNITS) if attack.unit == "usd" else attack.limit
    used, held = counter(team.pk, at=time.time(), unit=attack.unit)
    print(
        f"\n{name}, {'parallel' if parallel else 'sequential'}: ledger {total} of {limit} "
        f"({100 * total / limit:.0f} %), answers {sorted(answers)}"
    )
    assert {status for status, _ in answers} <= {200, 429}
    assert {code for status, code in answers if status == 429} <= {"budget_exceeded"}
    assert (200, "") in answers  # the attack was served ...
    assert total <= limit  # ... and never beyond the budget
    assert (used, held) == (total, 0)
    assert reservations_left() == 0


def test_a_model_without_a_price_is_refused_under_a_usd_budget(
    live_proxy, upstream, employee_key, team, policies, ledger, alias_route
):
    policies("teams:\n  platform:\n    budget: {usd_per_day: 5}\n")
    _, secret = employee_key

    answers = asyncio.run(
        _send(
            live_proxy.url,
            secret,
            Attack("/v1/chat/completions", {"model": "mystery", "messages": HELLO}, "", 0),
            calls=1,
            parallel=False,
        )
    )

    assert answers == [(403, "model_unpriced")]
    assert len(upstream.requests) == 0


def test_a_policy_can_allow_unpriced_models(live_proxy, upstream, employee_key, team, policies, ledger, alias_route):
    policies("teams:\n  platform:\n    budget: {usd_per_day: 5}\n    allow_unpriced_models: true\n")
    _, secret = employee_key

    answers = asyncio.run(
        _send(
            live_proxy.url,
            secret,
            Attack("/v1/chat/completions", {"model": "mystery", "messages": HELLO}, "", 0),
            calls=1,
            parallel=False,
        )
    )

    assert answers == [(404, "model_not_found")]  # admitted and forwarded: the demo upstream has no such model
    assert upstream.requests[-1]["json"]["model"] == "mystery-model"


def test_an_unknown_models_default_output_bound_is_sent_upstream(
    live_proxy, upstream, employee_key, team, policies, ledger, alias_route
):
    policies("teams:\n  platform:\n    budget: {tokens_per_day: 100000}\n")
    _, secret = employee_key

    asyncio.run(
        _send(
            live_proxy.url,
            secret,
            Attack("/v1/chat/completions", {"model": "mystery", "messages": HELLO}, "", 0),
            calls=1,
            parallel=False,
        )
    )

    assert upstream.requests[-1]["json"]["max_tokens"] == 4096  # TOKENWISE_DEFAULT_MAX_OUTPUT_TOKENS: reserved
