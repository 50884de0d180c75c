"""``python manage.py export_usage``: the ledger as JSON Lines or CSV on stdout."""

from __future__ import annotations

import csv
import os
import sys
from datetime import date, datetime, time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from governance.models import Team
from usage.interchange import EXPORT_FIELDS, record_to_csv_row, record_to_json, usage_event_record
from usage.selectors import usage_events_count, usage_events_for_export


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


class Command(BaseCommand):
    help = (
        "Print usage events, one per line (jsonl) or row (csv), oldest first, to stdout. "
        "--since is inclusive, --until exclusive; times without an offset are in the organisation's "
        "time zone. A progress bar goes to stderr when it is a terminal (or with --progress)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        parser.add_argument("--team", metavar="SLUG", help="only this team's events")
        parser.add_argument("--since", metavar="ISO", help="from this date or date-time (inclusive)")
        parser.add_argument("--until", metavar="ISO", help="up to this date or date-time (exclusive)")
        parser.add_argument("--progress", action="store_true", help="show a progress bar on stderr")

    def handle(self, *args, **options) -> None:
        since = parse_moment(options["since"], option="--since") if options["since"] else None
        until = parse_moment(options["until"], option="--until") if options["until"] else None
        team = options["team"]
        if team is not None and not Team.objects.filter(slug=team).exists():
            raise CommandError(f"--team: no team with slug {team!r}")
        out = options.get("stdout") or sys.stdout
        err = options.get("stderr") or sys.stderr
        events = usage_events_for_export(team_slug=team, since=since, until=until)
        if options["progress"] or err.isatty():
            total = usage_events_count(team_slug=team, since=since, until=until)
            events = tqdm(events, total=total, unit="event", file=err, desc="export")
        try:
            if options["format"] == "csv":
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(EXPORT_FIELDS)
                for event in events:
                    writer.writerow(record_to_csv_row(usage_event_record(event)))
            else:
                write = out.write
                for event in events:
                    write(record_to_json(usage_event_record(event)) + "\n")
            out.flush()
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
            sys.stdout = open(os.devnull, "w")
