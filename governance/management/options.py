"""Option parsers shared by the management commands of both apps."""

from __future__ import annotations

from datetime import date, datetime, time

from django.core.management.base import CommandError
from django.utils import timezone


def parse_moment(value: str, *, option: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is read in the organisation's time zone,
    and a date alone means midnight there. Raises CommandError with the option's name."""
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time.min)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option}: {value!r} is not an ISO 8601 date or date-time "
            "(e.g. 2025-01-31, 2025-01-31T09:00 or 2025-01-31T09:00:00+01:00)"
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment
