"""``python manage.py usage_partitions``: list, create ahead, and (retention) drop monthly partitions."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.ledger.partitions import (
    usage_events_partitioned,
    usage_partitions_drop,
    usage_partitions_ensure,
    usage_partitions_list,
)


def _month(text: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise CommandError(f"expected a month as YYYY-MM, got {text!r}") from None


class Command(BaseCommand):
    help = (
        "PostgreSQL: create the usage-event partitions of the coming months (rows already in the default "
        "partition move into them), list them, or drop whole old months (--drop-before, retention). "
        "Does nothing on SQLite."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ahead", type=int, default=3, help="months after the current one (default 3)")
        parser.add_argument("--since", type=_month, default=None, help="first month to create, YYYY-MM")
        parser.add_argument(
            "--drop-before",
            type=_month,
            default=None,
            help="drop every month before this one (YYYY-MM): the events are deleted",
        )
        parser.add_argument("--list", action="store_true", help="only list the partitions")

    def handle(self, *args, **options) -> None:
        if not usage_events_partitioned():
            self.stdout.write("the usage-event table is not partitioned here (SQLite, or migration 0003 not applied)")
            return
        if not options["list"]:
            created = usage_partitions_ensure(months_ahead=max(0, options["ahead"]), since=options["since"])
            self.stdout.write(f"created {len(created)} partition(s){': ' + ', '.join(created) if created else ''}")
            if options["drop_before"] is not None:
                dropped = usage_partitions_drop(before=options["drop_before"])
                self.stdout.write(f"dropped {len(dropped)} partition(s){': ' + ', '.join(dropped) if dropped else ''}")
        for partition in usage_partitions_list():
            label = partition.month.strftime("%Y-%m") if partition.month else "default"
            self.stdout.write(f"{partition.name:<28} {label:<8} ~{partition.rows_estimate} rows")
