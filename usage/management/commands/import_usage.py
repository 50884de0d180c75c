"""``python manage.py import_usage FILE.jsonl``: load usage records (our export format) into the ledger."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.interchange import usage_events_import
from usage.management.jsonl_input import jsonl_source


class Command(BaseCommand):
    help = (
        "Import usage events from JSON Lines (the export_usage format; '-' reads stdin). Idempotent on "
        "request_id. Unknown people and teams are created. 'prompt'/'output' text becomes fingerprints "
        "and is not stored. Bad lines are reported and skipped; the exit status is non-zero if any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.jsonl", help="path, or - for stdin")
        parser.add_argument("--strict", action="store_true", help="stop at the first bad line")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--progress", action="store_true", help="show a progress bar on stderr")

    def handle(self, *args, **options) -> None:
        with jsonl_source(
            options["file"], stderr=options.get("stderr") or sys.stderr, progress=options["progress"], desc="import"
        ) as (source, on_line):
            report = usage_events_import(
                lines=source,
                strict=options["strict"],
                batch_size=max(1, options["batch_size"]),
                on_line=on_line,
            )
        for number, reason in report.bad:
            self.stderr.write(f"line {number}: {reason}")
        self.stdout.write(
            f"imported {report.inserted} new events ({report.valid - report.inserted} already present) "
            f"from {report.lines} lines; {len(report.bad)} bad lines skipped"
        )
        if report.stopped_at is not None:
            raise CommandError(f"stopped at line {report.stopped_at} (--strict)")
        if report.bad:
            raise CommandError(f"{len(report.bad)} bad lines skipped")
