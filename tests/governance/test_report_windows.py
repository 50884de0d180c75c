"""Report windows: presets, custom ranges, the previous period, and the card formats."""

from datetime import date
from decimal import Decimal

import pytest

from governance.periods import Period, change_ratio, period_label, period_previous, window_parse, window_preset
from governance.templatetags.tokenwise import change, tokens_short, usd_headline

TODAY = date(2026, 12, 5)


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("7d", date(2026, 11, 29), TODAY),
        ("30d", date(2026, 11, 6), TODAY),
        ("90d", date(2026, 9, 7), TODAY),
        ("month", date(2026, 12, 1), date(2026, 12, 31)),
        ("last-month", date(2026, 11, 1), date(2026, 11, 30)),
    ],
)
def test_presets(name, start, end):
    window = window_preset(name=name, today=TODAY)

    assert (window.period.start, window.period.end, window.preset) == (start, end, name)


def test_default_is_the_last_30_days():
    window = window_parse(window=None, start=None, end=None, today=TODAY)

    assert (window.period, window.label, window.query) == (
        Period(start=date(2026, 11, 6), end=TODAY),
        "Last 30 days",
        "window=30d",
    )


def test_custom_range_wins_over_a_preset():
    window = window_parse(window="7d", start="2026-10-01", end="2026-10-15", today=TODAY)

    assert (window.preset, window.label, window.query) == (
        "custom",
        "1 Oct 2026 – 15 Oct 2026",
        "start=2026-10-01&end=2026-10-15",
    )


@pytest.mark.parametrize(
    ("window", "start", "end", "message"),
    [
        ("fortnight", None, None, "unknown window"),
        (None, "2026-05-01", "2026-04-01", "after the end"),
        (None, "2025-01-01", "2026-06-01", "at most 366 days"),
        (None, "not-a-date", None, "Invalid isoformat"),
    ],
)
def test_refuses_bad_windows(window, start, end, message):
    with pytest.raises(ValueError, match=message):
        window_parse(window=window, start=start, end=end, today=TODAY)


def test_previous_period_has_equal_length_and_ends_the_day_before():
    assert period_previous(Period(start=date(2026, 11, 6), end=TODAY)) == Period(
        start=date(2026, 10, 7), end=date(2026, 11, 5)
    )
    assert period_previous(Period(start=date(2026, 3, 1), end=date(2026, 3, 31))) == Period(
        start=date(2026, 1, 29), end=date(2026, 2, 28)
    )


def test_one_date_format():
    assert period_label(Period(start=date(2026, 11, 6), end=TODAY)) == "6 Nov 2026 – 5 Dec 2026"
    assert period_label(Period(start=TODAY, end=TODAY)) == "5 Dec 2026"
    assert period_label(Period(start=date(2026, 1, 1), end=date(2026, 1, 31))) == "January 2026"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1234.5678"), "$1,234.57"),
        (Decimal("0.004"), "<$0.01"),
        (Decimal("0"), "$0.00"),
        (None, "—"),
    ],
)
def test_headline_dollars_have_two_decimals(value, text):
    assert usd_headline(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (950, "950"),
        (12_345, "12.3K"),
        (1_200_000, "1.2M"),
        (2_000_000, "2M"),
        (3_400_000_000, "3.4B"),
    ],
)
def test_tokens_in_cards_are_abbreviated(value, text):
    assert tokens_short(value) == text


def test_change_against_the_previous_period():
    assert change(Decimal("12"), Decimal("10")) == {"text": "+20%", "kind": "up"}
    assert change(5, 10) == {"text": "-50%", "kind": "down"}
    assert change(5, 0) == {"text": "new this period", "kind": "none"}
    assert change(0, 0) == {"text": "nothing in the previous period", "kind": "none"}
    assert change_ratio(10, None) is None
