"""Budgets roll over on the calendar of the organisation's time zone; reservations of dead calls expire."""

from __future__ import annotations

import pytest

from governance.enforcement.admission import admission_settle
from governance.exceptions import BudgetExceeded
from tests.governance.enforcement.test_admission import admit, day_key


def spend(run, principal, tokens: int) -> None:
    run(admission_settle(admit(run, principal, max_tokens=10), total_tokens=tokens, cost_usd=None))


def test_daily_budget_starts_again_at_local_midnight(counters, clock, run, alice, team_policy, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    team_policy(tokens_per_day=50)
    clock.set("2025-03-12 23:59:00", "Asia/Tokyo")
    spend(run, alice, 40)

    with pytest.raises(BudgetExceeded) as caught:
        admit(run, alice)
    clock.set("2025-03-13 00:00:00", "Asia/Tokyo")
    next_day = admit(run, alice)

    assert caught.value.headers["x-tokenwise-budget-reset"] == "2025-03-13T00:00:00+09:00"
    assert caught.value.headers["Retry-After"] == "60"
    assert next_day.reservation is not None
    assert counters.budget(day_key(alice, clock)) == {"u": 0, "r": 30}


def test_weekly_budget_starts_again_on_monday(counters, clock, run, alice, team_policy, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    team_policy(tokens_per_week=50)
    clock.set("2025-03-10 09:00:00", "Europe/Berlin")  # Monday
    spend(run, alice, 40)

    clock.set("2025-03-16 23:59:59", "Europe/Berlin")  # Sunday night
    with pytest.raises(BudgetExceeded) as caught:
        admit(run, alice)
    clock.set("2025-03-17 00:00:00", "Europe/Berlin")
    monday = admit(run, alice)

    assert "weekly token budget of team platform (50 tokens) has 10 tokens left" in caught.value.message
    assert caught.value.headers["x-tokenwise-budget-reset"] == "2025-03-17T00:00:00+01:00"
    assert monday.reservation is not None


def test_monthly_budget_starts_again_on_the_first(counters, clock, run, alice, team_policy, settings):
    settings.TIME_ZONE = "America/Los_Angeles"
    team_policy(tokens_per_month=50)
    clock.set("2025-01-02 09:00:00", "America/Los_Angeles")
    spend(run, alice, 40)

    clock.set("2025-01-31 23:59:59", "America/Los_Angeles")  # 2025-02-01 07:59:59 UTC
    with pytest.raises(BudgetExceeded) as caught:
        admit(run, alice)
    clock.set("2025-02-01 00:00:00", "America/Los_Angeles")
    february = admit(run, alice)

    assert caught.value.headers["x-tokenwise-budget-reset"] == "2025-02-01T00:00:00-08:00"
    assert february.reservation is not None


def test_the_org_time_zone_decides_which_day_a_call_counts_in(counters, clock, run, alice, team_policy, settings):
    team_policy(tokens_per_day=50)
    clock.set("2025-03-12 20:00:00", "UTC")  # 2025-03-13 05:00 in Tokyo
    settings.TIME_ZONE = "UTC"
    spend(run, alice, 40)

    settings.TIME_ZONE = "Asia/Tokyo"
    in_tokyo = admit(run, alice)

    assert in_tokyo.reservation.plan.budgets[0].period.id == "d2025-03-13"


def test_a_reservation_left_by_a_dead_call_expires(counters, clock, run, alice, team_policy, settings):
    settings.TOKENWISE_RESERVATION_TTL_S = 600
    team_policy(tokens_per_day=50)
    crashed = admit(run, alice)  # never settled: its process died

    with pytest.raises(BudgetExceeded):
        admit(run, alice)
    clock.move(601)
    after_expiry = admit(run, alice)

    assert after_expiry.reservation is not None
    assert counters.budget(day_key(alice, clock)) == {"u": 0, "r": 30}
    assert counters.reservations() == 1
    assert crashed.reservation is not None


def test_a_late_settlement_of_an_expired_reservation_counts_only_the_actual_usage(
    counters, clock, run, alice, team_policy, settings
):
    settings.TOKENWISE_RESERVATION_TTL_S = 600
    team_policy(tokens_per_day=100)
    slow = admit(run, alice)
    clock.move(601)
    other = admit(run, alice)  # releases the slow call's reservation

    run(admission_settle(slow, total_tokens=12, cost_usd=None))
    run(admission_settle(other, total_tokens=7, cost_usd=None))

    assert counters.budget(day_key(alice, clock)) == {"u": 19, "r": 0}
    assert counters.reservations() == 0
