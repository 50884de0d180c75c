"""The embedded counters are the Redis scripts' twin: on any sequence of admissions, settlements and
waits, ``LocalCounters`` and ``lua/admit.lua`` + ``lua/settle.lua`` give the same decisions, the same
alerts and end with the same counters.

Property-based (Hypothesis): random limits, thresholds, modes, amounts, deadlines that pass (releasing
reservations a dead process left), settlements larger or smaller than what was held. The scripts run on
the real Redis with the arguments the hot path sends (``_admit_keys_args``/``_settle_keys_args``) and
their replies are read by the same functions (``_admit_result``/``settle_reply``).
"""

from __future__ import annotations

import asyncio
import math
from datetime import date

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from core.redis import get_sync_redis
from governance.enforcement.counters import (
    BudgetCheck,
    LocalCounters,
    Plan,
    RateCheck,
    RedisCounters,
    _admit_keys_args,
    _admit_result,
    _settle_keys_args,
    lua_source,
)
from governance.periods import Period

START = 1_741_773_600.0  # 2025-03-12 10:00 UTC
PERIOD = Period(
    start=date(2025, 3, 12), end=date(2025, 3, 12), kind="day", starts_at=START - 36_000, ends_at=START + 50_400
)
BUDGET_KEYS = ["tw:{t1}:b:t1:tokens:d2025-03-12", "tw:{t1}:b:u1.7:usd:d2025-03-12"]
RATE_KEYS = [("tw:{t1}:r:t1:requests", "requests"), ("tw:{t1}:r:u1.7:tokens", "tokens")]

# Limits are multiples of 60 and time moves in whole seconds: bucket levels stay whole numbers, so the
# two sides compare exactly (Redis keeps a level as Lua's 14-digit text; Python keeps a float).
limits = st.integers(min_value=1, max_value=40).map(lambda n: n * 60)
budget_setup = st.tuples(
    st.integers(min_value=1, max_value=5_000), st.sets(st.sampled_from([50, 80, 100])).map(lambda s: tuple(sorted(s)))
)
call = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["block", "warn", "downgrade"]),
        "rates": st.sets(st.integers(min_value=0, max_value=1)),
        "budgets": st.sets(st.integers(min_value=0, max_value=1)),
        "amount": st.integers(min_value=0, max_value=1_500),
        "downgraded_share": st.floats(min_value=0, max_value=1),
        "lifetime_s": st.integers(min_value=1, max_value=300),
    }
)
step = st.one_of(
    st.tuples(st.just("admit"), call),
    st.tuples(
        st.just("settle"),
        st.integers(min_value=0, max_value=63),
        st.integers(min_value=0, max_value=2_000),
        st.integers(min_value=0, max_value=2_000),
    ),
    st.tuples(st.just("wait"), st.integers(min_value=0, max_value=200)),
)


def _plan(n: int, now: float, spec: dict, rate_limits: list[int], budgets: list[tuple[int, tuple]]) -> Plan:
    amount = spec["amount"]
    rates = [
        RateCheck(
            key=RATE_KEYS[i][0],
            kind=RATE_KEYS[i][1],
            limit=rate_limits[i],
            amount=1 if RATE_KEYS[i][1] == "requests" else amount,
            scope="team",
        )
        for i in sorted(spec["rates"])
    ]
    checks = [
        BudgetCheck(
            key=BUDGET_KEYS[i],
            unit="tokens" if i == 0 else "usd",
            limit=budgets[i][0],
            amount=amount,
            amount_if_downgraded=int(amount * spec["downgraded_share"]),
            thresholds=budgets[i][1],
            scope="team" if i == 0 else "user",
            team_id=1,
            user_id=None if i == 0 else 7,
            period=PERIOD,
        )
        for i in sorted(spec["budgets"])
    ]
    return Plan(
        rid=f"req-{n}",
        team_id=1,
        now=now,
        deadline=now + spec["lifetime_s"],
        mode=spec["mode"],
        rates=rates,
        budgets=checks,
    )


class RedisTwin:
    """The scripts, run on the real Redis with the hot path's arguments and reply readers."""

    def __init__(self) -> None:
        self.redis = get_sync_redis()
        self.scripts = {name: self.redis.register_script(lua_source(name)) for name in ("admit", "settle")}
        self.readers = RedisCounters()

    def admit(self, plan: Plan):
        keys, args = _admit_keys_args(plan)
        return _admit_result(self.scripts["admit"](keys=keys, args=args), plan)

    def settle(self, plan: Plan, *, now: float, tokens: int, cost_units: int):
        keys, args = _settle_keys_args(plan, now=now, tokens=tokens, cost_units=cost_units)
        return self.readers.settle_reply(plan, self.scripts["settle"](keys=keys, args=args))

    def state(self) -> dict:
        budgets = {}
        for key in BUDGET_KEYS:
            values = {k.decode(): float(v) for k, v in self.redis.hgetall(key).items()}
            if values:
                budgets[key] = {name: int(values.get(name, 0)) for name in ("u", "r", "a")}
        buckets = {key: float(self.redis.hget(key, "v")) for key, _ in RATE_KEYS if self.redis.exists(key)}
        return {"budgets": budgets, "buckets": buckets, "reservations": self.redis.hlen("tw:{t1}:resv")}


def _local_state(local: LocalCounters) -> dict:
    return {
        "budgets": {
            key: {name: int(counter[name]) for name in ("u", "r", "a")} for key, counter in local.budgets.items()
        },
        "buckets": {key: float(level) for key, (level, _) in local.buckets.items()},
        "reservations": len(local.reservations),
    }


def _same_admission(ours, theirs) -> None:
    assert (ours.status, ours.over, ours.rate_index, ours.alert_level, ours.budgets) == (
        theirs.status,
        theirs.over,
        theirs.rate_index,
        theirs.alert_level,
        theirs.budgets,
    )
    assert math.isclose(ours.retry_after_s, theirs.retry_after_s, rel_tol=1e-9, abs_tol=1e-9)
    assert len(ours.rates) == len(theirs.rates)
    for mine, other in zip(ours.rates, theirs.rates, strict=True):
        assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) for a, b in zip(mine, other, strict=True))


@pytest.fixture
def twin():
    if not settings.REDIS_URL:
        pytest.skip("the Redis scripts need REDIS_URL (the PostgreSQL + Redis pass runs this test)")
    get_sync_redis().flushdb()
    yield RedisTwin()
    get_sync_redis().flushdb()


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rate_limits=st.lists(limits, min_size=2, max_size=2),
    budgets=st.lists(budget_setup, min_size=2, max_size=2),
    steps=st.lists(step, max_size=45),
)
def test_local_counters_decide_and_count_as_the_redis_scripts_do(twin, rate_limits, budgets, steps):
    twin.redis.flushdb()
    local = LocalCounters()
    now = START
    admitted: list[Plan] = []
    for n, (kind, *args) in enumerate(steps):
        if kind == "wait":
            now += args[0]
        elif kind == "admit":
            plan = _plan(n, now, args[0], rate_limits, budgets)
            theirs = twin.admit(plan)
            ours = asyncio.run(local.admit(plan))
            _same_admission(ours, theirs)
            if ours.status == "ok":
                admitted.append(plan)
        elif admitted:  # settle one admitted call (each once, as the proxy does), at any later time
            plan = admitted.pop(args[0] % len(admitted))
            tokens, cost = args[1], args[2]
            theirs = twin.settle(plan, now=now, tokens=tokens, cost_units=cost)
            ours = asyncio.run(local.settle(plan, now=now, tokens=tokens, cost_units=cost))
            assert [(c.budget.key, c.level, c.used) for c in ours] == [(c.budget.key, c.level, c.used) for c in theirs]
        assert _local_state(local) == twin.state()


def test_the_twin_test_sees_a_difference(twin):
    """The comparison is not vacuous: a local counter that forgets its alert level differs at once."""
    local = LocalCounters()
    plan = _plan(
        0,
        START,
        {"mode": "warn", "rates": set(), "budgets": {0}, "amount": 100, "downgraded_share": 0, "lifetime_s": 60},
        [60, 60],
        [(50, (100,)), (50, ())],
    )
    theirs, ours = twin.admit(plan), asyncio.run(local.admit(plan))
    _same_admission(ours, theirs)
    local.budgets[BUDGET_KEYS[0]]["a"] = 0

    assert _local_state(local) != twin.state()
