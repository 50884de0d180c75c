"""Budget burn-down and its straight-line forecast (a pure function)."""

from datetime import date
from decimal import Decimal

from hypothesis import given, strategies as st

from governance.periods import Period, budget_period
from governance.selectors.budgets import budget_burn

NOVEMBER = Period(start=date(2026, 11, 1), end=date(2026, 11, 30))


def test_forecasts_the_average_daily_rate_to_the_period_end():
    daily = {date(2026, 11, 1): Decimal("10"), date(2026, 11, 5): Decimal("20")}

    burn = budget_burn(
        unit="usd", period_name="month", period=NOVEMBER, limit=Decimal("200"), daily=daily, today=date(2026, 11, 10)
    )

    assert (burn.spent, burn.left) == (Decimal("30"), Decimal("170"))
    assert burn.forecast_at_end == Decimal("90")  # 3 a day for 30 days
    assert burn.run_out_on is None
    assert [point.actual for point in burn.points[:10]][-1] == Decimal("30")
    assert burn.points[9].forecast == Decimal("30")  # today joins the two lines
    assert (burn.points[10].actual, burn.points[10].forecast) == (None, Decimal("33"))
    assert burn.points[-1].forecast == Decimal("90")


def test_gives_the_day_the_budget_would_run_out():
    daily = {date(2026, 11, day): Decimal("10") for day in range(1, 11)}

    burn = budget_burn(
        unit="usd", period_name="month", period=NOVEMBER, limit=Decimal("150"), daily=daily, today=date(2026, 11, 10)
    )

    assert burn.forecast_at_end == Decimal("300")
    assert burn.run_out_on == date(2026, 11, 15)
    assert burn.is_over is False


def test_a_huge_budget_spent_slowly_has_no_run_out_day():
    # The straight line crosses the limit millions of years out: past what a date can hold.
    burn = budget_burn(
        unit="tokens",
        period_name="month",
        period=NOVEMBER,
        limit=10**15,
        daily={date(2026, 11, 1): 1},
        today=date(2026, 11, 10),
    )

    assert (burn.spent, burn.run_out_on) == (1, None)


@given(
    limit=st.integers(min_value=0, max_value=10**18),
    spends=st.dictionaries(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=10**12)),
    today=st.dates(min_value=date(2026, 10, 1), max_value=date(2027, 1, 31)),
)
def test_run_out_day_is_within_the_period_whatever_the_amounts(limit, spends, today):
    daily = {date(2026, 11, day): amount for day, amount in spends.items()}

    burn = budget_burn(unit="tokens", period_name="month", period=NOVEMBER, limit=limit, daily=daily, today=today)

    assert burn.run_out_on is None or NOVEMBER.start <= burn.run_out_on <= NOVEMBER.end


def test_gives_the_day_an_exhausted_budget_ran_out():
    daily = {date(2026, 11, 2): 600, date(2026, 11, 3): 600}

    burn = budget_burn(
        unit="tokens", period_name="month", period=NOVEMBER, limit=1000, daily=daily, today=date(2026, 11, 4)
    )

    assert (burn.spent, burn.left, burn.is_over) == (1200, 0, True)
    assert burn.run_out_on == date(2026, 11, 3)
    assert burn.forecast_at_end == 9000


def test_a_finished_period_forecasts_what_was_spent():
    burn = budget_burn(
        unit="usd",
        period_name="month",
        period=NOVEMBER,
        limit=Decimal("5"),
        daily={date(2026, 11, 20): Decimal("1.25")},
        today=date(2026, 12, 3),
    )

    assert (burn.spent, burn.forecast_at_end, burn.run_out_on) == (Decimal("1.25"), Decimal("1.25"), None)
    assert all(point.forecast is None for point in burn.points)


def test_a_future_period_has_spent_nothing():
    burn = budget_burn(
        unit="usd", period_name="month", period=NOVEMBER, limit=Decimal("5"), daily={}, today=date(2026, 10, 20)
    )

    assert (burn.spent, burn.forecast_at_end, burn.run_out_on) == (Decimal("0"), Decimal("0"), None)


def test_budget_periods():
    wednesday = date(2026, 11, 18)

    assert budget_period(name="day", anchor=wednesday) == Period(start=wednesday, end=wednesday)
    assert budget_period(name="week", anchor=wednesday) == Period(start=date(2026, 11, 16), end=date(2026, 11, 22))
    assert budget_period(name="month", anchor=wednesday) == NOVEMBER
