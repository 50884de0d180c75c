"""Periods: ranges of whole days in the organisation's time zone - budget periods and report windows.

One ``Period`` serves both. A budget period is a calendar day, week (starting Monday) or month: it
carries its ``kind``, its instants (epoch seconds, so a day that a daylight-saving change makes 23 or 25
hours long is exactly that long) and an ``id`` named by its first local day (``d2025-03-14``,
``w2025-03-10``, ``m2025-03``) that names its counters. The hot path asks ``periods_at`` on every call:
the answer is memoised until the current day ends, so the steady state costs one comparison.

A report covers any range of days: this month, a preset window (last 7/30/90 days, this month, last
month) or a custom range, each compared with the previous period of equal length.
"""

from __future__ import annotations

import calendar
import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

KINDS = ("day", "week", "month")
_ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}
MAX_PERIOD_DAYS = 366


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    """A range of whole days in the organisation's time zone, ``start`` to ``end``, both included.

    ``period_of`` builds budget periods, which also carry ``kind``, ``starts_at``, ``ends_at`` and ``id``;
    any other range has ``kind`` "" and no instants.
    """

    start: date
    end: date
    kind: str = ""  # "day" | "week" | "month" for a budget period; "" for any other range of days
    starts_at: float = 0.0  # a budget period's first instant, epoch seconds
    ends_at: float = 0.0  # a budget period's end (the next one's start), epoch seconds, exclusive
    id: str = dataclasses.field(init=False, compare=False)  # "d2025-03-14", "w2025-03-10", "m2025-03"; "" for a range

    def __post_init__(self) -> None:  # computed once: every admission builds counter keys from it
        if self.kind == "month":
            object.__setattr__(self, "id", f"m{self.start:%Y-%m}")
        elif self.kind:
            object.__setattr__(self, "id", f"{self.kind[0]}{self.start.isoformat()}")
        else:
            object.__setattr__(self, "id", "")

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range((self.end - self.start).days + 1)]

    @property
    def label(self) -> str:
        if self.start.day == 1 and self.end == month_end(self.start):
            return self.start.strftime("%B %Y")
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"

    @property
    def adjective(self) -> str:
        return _ADJECTIVE[self.kind]

    def end_local(self, tz_name: str | None = None) -> datetime:
        """A budget period's end (= the next period's start) as an aware local datetime."""
        return datetime.fromtimestamp(self.ends_at, ZoneInfo(tz_name or settings.TIME_ZONE))


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _calendar_span(kind: str, day: date) -> tuple[date, date]:
    """The first day of the calendar ``kind`` (day, week from Monday, month) containing ``day``, and the
    first day after it."""
    if kind == "day":
        return day, day + timedelta(days=1)
    if kind == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if kind == "month":
        return day.replace(day=1), month_end(day) + timedelta(days=1)
    raise ValueError(f"unknown period kind {kind!r}")


# --- budget periods -------------------------------------------------------------------------------------


def _midnight(day: date, tz: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def period_of(kind: str, *, at: float, tz_name: str | None = None) -> Period:
    """The budget period of ``kind`` containing the instant ``at`` (epoch seconds)."""
    tz = ZoneInfo(tz_name or settings.TIME_ZONE)
    first, after = _calendar_span(kind, datetime.fromtimestamp(at, tz).date())
    return Period(
        start=first,
        end=after - timedelta(days=1),
        kind=kind,
        starts_at=_midnight(first, tz),
        ends_at=_midnight(after, tz),
    )


_memo: tuple[str, float, float, tuple[Period, Period, Period]] | None = None


def periods_at(at: float) -> tuple[Period, Period, Period]:
    """The (day, week, month) budget periods containing ``at`` in ``settings.TIME_ZONE``; memoised per day."""
    global _memo
    tz_name = settings.TIME_ZONE
    memo = _memo
    if memo is not None and memo[0] == tz_name and memo[1] <= at < memo[2]:
        return memo[3]
    day, week, month = (period_of(kind, at=at, tz_name=tz_name) for kind in KINDS)
    periods = (day, week, month)
    _memo = (tz_name, day.starts_at, day.ends_at, periods)  # a day never spans two weeks or months
    return periods


def budget_period(*, name: str, anchor: date) -> Period:
    """The days of the budget period (``day``, ``week`` from Monday, ``month``) that contains ``anchor``."""
    first, after = _calendar_span(name if name in ("day", "week") else "month", anchor)
    return Period(start=first, end=after - timedelta(days=1))


# --- report periods and windows -------------------------------------------------------------------------

DEFAULT_WINDOW = "30d"
PRESETS = (
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("month", "This month"),
    ("last-month", "Last month"),
)


def period_this_month(*, today: date | None = None) -> Period:
    today = today or timezone.localdate()
    return Period(start=today.replace(day=1), end=month_end(today))


def period_parse(*, start: str | None, end: str | None, today: date | None = None) -> Period:
    """The period asked by ``?start=YYYY-MM-DD&end=YYYY-MM-DD``; this month when neither is given.

    Only ``start``: from it to the end of its month. Only ``end``: from the first of its month.
    Raises ValueError for a malformed date, ``start`` after ``end``, or more than 366 days.
    """
    if start:
        start_day = date.fromisoformat(start)
        end_day = date.fromisoformat(end) if end else month_end(start_day)
    elif end:
        end_day = date.fromisoformat(end)
        start_day = end_day.replace(day=1)
    else:
        return period_this_month(today=today)
    if start_day > end_day:
        raise ValueError("the start date is after the end date")
    if (end_day - start_day).days + 1 > MAX_PERIOD_DAYS:
        raise ValueError(f"a report covers at most {MAX_PERIOD_DAYS} days")
    return Period(start=start_day, end=end_day)


def period_previous(period: Period) -> Period:
    """The period of equal length that ends the day before ``period`` starts."""
    length = (period.end - period.start).days + 1
    end = period.start - timedelta(days=1)
    return Period(start=end - timedelta(days=length - 1), end=end)


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """A report window: its days, the preset it came from (``custom`` for a chosen range), and its label."""

    period: Period
    preset: str
    label: str

    @property
    def previous(self) -> Period:
        return period_previous(self.period)

    @property
    def query(self) -> str:
        """The query string that asks for this window again (``window=30d`` or ``start=&end=``)."""
        if self.preset == "custom":
            return f"start={self.period.start.isoformat()}&end={self.period.end.isoformat()}"
        return f"window={self.preset}"


def window_preset(*, name: str, today: date | None = None) -> Window:
    """A preset window ending today (``7d``, ``30d``, ``90d``), or a calendar month (``month``, ``last-month``).

    Raises ValueError for an unknown preset name.
    """
    today = today or timezone.localdate()
    labels = dict(PRESETS)
    if name in ("7d", "30d", "90d"):
        days = int(name[:-1])
        return Window(period=Period(start=today - timedelta(days=days - 1), end=today), preset=name, label=labels[name])
    if name == "month":
        return Window(
            period=Period(start=today.replace(day=1), end=month_end(today)),
            preset=name,
            label=f"{labels[name]} ({today:%B %Y})",
        )
    if name == "last-month":
        end = today.replace(day=1) - timedelta(days=1)
        return Window(
            period=Period(start=end.replace(day=1), end=end), preset=name, label=f"{labels[name]} ({end:%B %Y})"
        )
    raise ValueError(f"unknown window {name!r}; one of {', '.join(key for key, _ in PRESETS)}")


def window_parse(*, window: str | None, start: str | None, end: str | None, today: date | None = None) -> Window:
    """The window a query string asks for: ``start``/``end`` (a custom range) win over ``window``.

    Nothing asked: the last 30 days. Only ``start``: from it to today (or that one day, when it is in the
    future). Only ``end``: the 30 days up to it. Raises ValueError for a malformed date, an unknown
    preset, ``start`` after ``end``, or a range over 366 days.
    """
    today = today or timezone.localdate()
    if end:
        end_day = date.fromisoformat(end)
    elif start:
        end_day = max(today, date.fromisoformat(start))
    else:
        return window_preset(name=window or DEFAULT_WINDOW, today=today)
    start_day = date.fromisoformat(start) if start else end_day - timedelta(days=29)
    if start_day > end_day:
        raise ValueError("the start date is after the end date")
    if (end_day - start_day).days + 1 > MAX_PERIOD_DAYS:
        raise ValueError(f"a report covers at most {MAX_PERIOD_DAYS} days")
    period = Period(start=start_day, end=end_day)
    return Window(period=period, preset="custom", label=period_label(period))


def period_label(period: Period) -> str:
    """One date format for every page: ``3 Nov 2026 – 2 Dec 2026``, ``5 Dec 2026`` for one day, ``January 2026``
    for a whole calendar month."""
    if period.start.day == 1 and period.end == month_end(period.start):
        return f"{period.start:%B %Y}"
    if period.start == period.end:
        return date_label(period.start)
    return f"{date_label(period.start)} – {date_label(period.end)}"


def date_label(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def change_ratio(current, previous) -> float | None:
    """(current - previous) / previous; None when there was nothing before to compare with."""
    if previous is None or not previous:
        return None
    return (float(current) - float(previous)) / float(previous)
