"""Report periods: whole days in the organisation's time zone, and budget periods."""

from __future__ import annotations

import calendar
import dataclasses
from datetime import date, timedelta

from django.utils import timezone

MAX_PERIOD_DAYS = 366


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    """A range of whole days in the organisation's time zone, both ends included."""

    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range((self.end - self.start).days + 1)]

    @property
    def label(self) -> str:
        if self.start.day == 1 and self.end == month_end(self.start):
            return self.start.strftime("%B %Y")
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


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


def budget_period(*, name: str, anchor: date) -> Period:
    """The budget period (``day``, ``week`` from Monday, ``month``) that contains ``anchor``."""
    if name == "day":
        return Period(start=anchor, end=anchor)
    if name == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return Period(start=monday, end=monday + timedelta(days=6))
    return Period(start=anchor.replace(day=1), end=month_end(anchor))
