"""Calendar budget periods - day, week (starting Monday) and month - in the organisation's time zone.

A period is identified by its first local day (``d2025-03-14``, ``w2025-03-10``, ``m2025-03``); its
start and end are instants (epoch seconds), so a day that a daylight-saving change makes 23 or 25 hours
long is exactly that long. The hot path asks ``periods_at`` on every call: the answer is memoised until
the current day ends, so the steady state costs one comparison.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

KINDS = ("day", "week", "month")
_ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    kind: str  # "day" | "week" | "month"
    first_day: date  # local date the period starts on
    start: float  # epoch seconds
    end: float  # epoch seconds, exclusive
    id: str = dataclasses.field(init=False, compare=False)  # "d2025-03-14", "w2025-03-10", "m2025-03"

    def __post_init__(self) -> None:  # computed once: every admission builds counter keys from it
        if self.kind == "month":
            object.__setattr__(self, "id", f"m{self.first_day:%Y-%m}")
        else:
            object.__setattr__(self, "id", f"{self.kind[0]}{self.first_day.isoformat()}")

    @property
    def adjective(self) -> str:
        return _ADJECTIVE[self.kind]

    def end_local(self, tz_name: str | None = None) -> datetime:
        """The end (= the next period's start) as an aware local datetime."""
        return datetime.fromtimestamp(self.end, ZoneInfo(tz_name or settings.TIME_ZONE))


def _midnight(day: date, tz: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _month_after(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def period_of(kind: str, *, at: float, tz_name: str | None = None) -> Period:
    """The period of ``kind`` containing the instant ``at`` (epoch seconds)."""
    tz = ZoneInfo(tz_name or settings.TIME_ZONE)
    today = datetime.fromtimestamp(at, tz).date()
    if kind == "day":
        first, after = today, today + timedelta(days=1)
    elif kind == "week":
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    elif kind == "month":
        first = today.replace(day=1)
        after = _month_after(first)
    else:
        raise ValueError(f"unknown period kind {kind!r}")
    return Period(kind=kind, first_day=first, start=_midnight(first, tz), end=_midnight(after, tz))


def period_from_id(period_id: str, *, tz_name: str | None = None) -> Period:
    """The period named by ``Period.id`` (inverse of ``id``)."""
    kind = {"d": "day", "w": "week", "m": "month"}[period_id[0]]
    text = period_id[1:] + ("-01" if kind == "month" else "")
    first = date.fromisoformat(text)
    tz = ZoneInfo(tz_name or settings.TIME_ZONE)
    return period_of(kind, at=_midnight(first, tz) + 1, tz_name=tz_name)


_memo: tuple[str, float, float, tuple[Period, Period, Period]] | None = None


def periods_at(at: float) -> tuple[Period, Period, Period]:
    """The (day, week, month) periods containing ``at`` in ``settings.TIME_ZONE``; memoised per day."""
    global _memo
    tz_name = settings.TIME_ZONE
    memo = _memo
    if memo is not None and memo[0] == tz_name and memo[1] <= at < memo[2]:
        return memo[3]
    day, week, month = (period_of(kind, at=at, tz_name=tz_name) for kind in KINDS)
    periods = (day, week, month)
    _memo = (tz_name, day.start, day.end, periods)  # a day never spans two weeks or months
    return periods
