"""Calendar periods in the organisation's time zone: day, week from Monday, month; DST-length days."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from governance.periods import period_of, periods_at


def at(text: str, tz: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def local(epoch: float, tz: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).isoformat()


def test_day_is_the_local_calendar_day():
    moment = at("2025-03-12 23:30", "Asia/Tokyo")  # 14:30 UTC the same day

    day = period_of("day", at=moment, tz_name="Asia/Tokyo")
    utc_day = period_of("day", at=moment, tz_name="UTC")

    assert (day.id, local(day.starts_at, "Asia/Tokyo"), local(day.ends_at, "Asia/Tokyo")) == (
        "d2025-03-12",
        "2025-03-12T00:00:00+09:00",
        "2025-03-13T00:00:00+09:00",
    )
    assert utc_day.id == "d2025-03-12"
    assert period_of("day", at=at("2025-03-13 08:59", "Asia/Tokyo"), tz_name="UTC").id == "d2025-03-12"


def test_week_starts_on_monday():
    sunday_night = at("2025-03-16 23:59:59", "Europe/Berlin")
    monday = at("2025-03-17 00:00", "Europe/Berlin")

    before = period_of("week", at=sunday_night, tz_name="Europe/Berlin")
    after = period_of("week", at=monday, tz_name="Europe/Berlin")

    assert (before.id, before.start, local(before.ends_at, "Europe/Berlin")) == (
        "w2025-03-10",
        date(2025, 3, 10),
        "2025-03-17T00:00:00+01:00",
    )
    assert (after.id, after.starts_at) == ("w2025-03-17", monday)


def test_month_rolls_over_the_year():
    december = period_of("month", at=at("2025-12-31 23:59", "America/Los_Angeles"), tz_name="America/Los_Angeles")

    assert (
        december.id,
        local(december.starts_at, "America/Los_Angeles"),
        local(december.ends_at, "America/Los_Angeles"),
    ) == (
        "m2025-12",
        "2025-12-01T00:00:00-08:00",
        "2026-01-01T00:00:00-08:00",
    )


def test_daylight_saving_days_are_23_and_25_hours_long():
    spring = period_of("day", at=at("2025-03-09 12:00", "America/New_York"), tz_name="America/New_York")
    autumn = period_of("day", at=at("2025-11-02 12:00", "America/New_York"), tz_name="America/New_York")
    march = period_of("month", at=at("2025-03-20 12:00", "Europe/Paris"), tz_name="Europe/Paris")

    assert (spring.ends_at - spring.starts_at, autumn.ends_at - autumn.starts_at) == (23 * 3600, 25 * 3600)
    assert march.ends_at - march.starts_at == 31 * 86400 - 3600


def test_period_ids_name_the_first_local_day():
    ids = [
        period_of(kind, at=at("2025-02-14 01:00", "Asia/Kolkata"), tz_name="Asia/Kolkata").id
        for kind in ("day", "week", "month")
    ]

    assert ids == ["d2025-02-14", "w2025-02-10", "m2025-02"]


def test_periods_follow_a_time_zone_change(settings):
    moment = at("2025-03-12 23:30", "UTC")
    settings.TIME_ZONE = "UTC"
    in_utc = periods_at(moment)

    settings.TIME_ZONE = "Asia/Tokyo"
    in_tokyo = periods_at(moment)

    assert [p.id for p in in_utc] == ["d2025-03-12", "w2025-03-10", "m2025-03"]
    assert [p.id for p in in_tokyo] == ["d2025-03-13", "w2025-03-10", "m2025-03"]
