"""Report windows: the presets a page offers (last 7/30/90 days, this month, last month, a custom range)
and the previous period of equal length that every card compares against."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from django.utils import timezone

from governance.reports.periods import MAX_PERIOD_DAYS, Period, month_end

DEFAULT_WINDOW = "30d"
PRESETS = (
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("month", "This month"),
    ("last-month", "Last month"),
)


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


def period_previous(period: Period) -> Period:
    """The period of equal length that ends the day before ``period`` starts."""
    length = (period.end - period.start).days + 1
    end = period.start - timedelta(days=1)
    return Period(start=end - timedelta(days=length - 1), end=end)


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
