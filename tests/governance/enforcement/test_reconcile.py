"""Counters compared with the ledger and repaired: drift, busy counters, lost counters, held amounts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from core.redis import get_sync_redis
from governance.enforcement.admission import admission_settle
from governance.enforcement.counters import local_counters
from governance.enforcement.reconcile import counters_reconcile
from governance.exceptions import BudgetExceeded
from tests.governance.enforcement.test_admission import admit, day_key
from usage.models import UsageEvent


def ledger_event(principal, *, tokens: int, at: float, cost: str | None = None) -> None:
    UsageEvent.objects.create(
        request_id="req_" + uuid.uuid4().hex,
        created_at=datetime.fromtimestamp(at, UTC),
        team_id=principal.team_id,
        user_id=principal.user_id,
        endpoint="chat.completions",
        status=200,
        total_tokens=tokens,
        cost_usd=None if cost is None else Decimal(cost),
    )


def settled_call(run, principal, clock, tokens: int) -> None:
    run(admission_settle(admit(run, principal), total_tokens=tokens, cost_usd=None))
    ledger_event(principal, tokens=tokens, at=clock.t)


def test_a_quiet_counter_that_drifted_is_set_to_the_ledger(counters, clock, run, alice, team_policy, person_policy):
    team_policy(tokens_per_day=1000, usd_per_month=5)
    person_policy(tokens_per_day=500)
    settled_call(run, alice, clock, 30)
    ledger_event(alice, tokens=20, at=clock.t + 1, cost="0.25")  # a call whose settlement was lost
    clock.move(121)

    report = counters_reconcile()

    assert report.as_dict() == {"checked": 3, "repaired": 3, "deferred": 0, "held_repaired": 0}
    assert counters.budget(day_key(alice, clock)) == {"u": 50, "r": 0}
    assert counters.budget(day_key(alice, clock, person=True)) == {"u": 50, "r": 0}
    assert sorted(r[1:] for r in report.repairs) == [(0, 25_000_000), (30, 50), (30, 50)]


def test_a_busy_counter_is_left_alone_until_quiet(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=1000)
    settled_call(run, alice, clock, 30)
    ledger_event(alice, tokens=20, at=clock.t)

    report = counters_reconcile()

    assert report.as_dict() == {"checked": 1, "repaired": 0, "deferred": 1, "held_repaired": 0}
    assert counters.budget(day_key(alice, clock)) == {"u": 30, "r": 0}


def test_a_counter_in_step_with_the_ledger_is_not_touched(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=1000)
    settled_call(run, alice, clock, 30)
    in_flight = admit(run, alice)
    clock.move(121)

    report = counters_reconcile()

    assert report.as_dict() == {"checked": 1, "repaired": 0, "deferred": 0, "held_repaired": 0}
    assert counters.budget(day_key(alice, clock)) == {"u": 30, "r": 30}
    assert in_flight.reservation is not None


def test_held_amounts_are_recomputed_from_live_reservations(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=1000)
    admit(run, alice)
    key = day_key(alice, clock)
    if counters.name == "redis":
        get_sync_redis().hset(key, "r", 999)
    else:
        local_counters.budgets[key]["r"] = 999

    report = counters_reconcile()

    assert report.held_repaired == 1
    assert counters.budget(key) == {"u": 0, "r": 30}


@pytest.mark.parametrize("counters", ["redis"], indirect=True)
def test_a_counter_redis_lost_is_rebuilt_from_the_ledger_at_once(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=100)
    settled_call(run, alice, clock, 30)
    settled_call(run, alice, clock, 45)
    get_sync_redis().delete(day_key(alice, clock))  # e.g. Redis restarted without persistence

    report = counters_reconcile()
    with pytest.raises(BudgetExceeded):
        admit(run, alice)

    assert report.repaired == 1
    assert counters.budget(day_key(alice, clock)) == {"u": 75, "r": 0}


@pytest.mark.parametrize("counters", ["local"], indirect=True)
def test_embedded_counters_start_from_the_ledger(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=100)
    ledger_event(alice, tokens=75, at=clock.t - 60)  # spent before this process started

    with pytest.raises(BudgetExceeded) as caught:
        admit(run, alice)

    assert "has 25 tokens left" in caught.value.message
    assert counters.budget(day_key(alice, clock)) == {"u": 75, "r": 0}


@pytest.mark.parametrize("counters", ["redis"], indirect=True)
def test_reconcile_command_prints_what_it_repaired(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=100)
    ledger_event(alice, tokens=40, at=clock.t)
    out = StringIO()

    call_command("reconcile_counters", stdout=out)

    assert out.getvalue() == (
        f"repaired {day_key(alice, clock)}: 0 -> 40\n"
        "checked 1 counters: 1 repaired, 0 drifting but busy (deferred), 0 held amounts fixed\n"
    )
