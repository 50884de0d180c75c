"""``python manage.py rebuild_rollups``: recompute the daily rollups from the events."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.ledger.rollups import usage_rollups_rebuild


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not an ISO 8601 date (e.g. 2025-01-31)") from None


class Command(BaseCommand):
    help = (
        "Recompute every daily rollup between two days (inclusive; days in the organisation's time zone) "
        "exactly from the usage events - e.g. after changing TOKENWISE_TIME_ZONE or deleting events."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", metavar="DATE", help="first day (default: the first event)")
        parser.add_argument("--until", metavar="DATE", help="last day (default: the last event)")

    def handle(self, *args, **options) -> None:
        slices = usage_rollups_rebuild(since=_day(options["since"], "--since"), until=_day(options["until"], "--until"))
        if options["verbosity"] > 0:
            self.stdout.write(f"recomputed {slices} rollup slices (day x team)")
