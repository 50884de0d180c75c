"""``python manage.py export_usage``: the ledger as JSON Lines or CSV on stdout."""

from __future__ import annotations

import csv
import os
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from governance.management.options import parse_moment
from governance.models import Team
from usage.interchange import EXPORT_FIELDS, record_to_csv_row, record_to_json, usage_event_record
from usage.selectors import usage_events_count, usage_events_for_export


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
