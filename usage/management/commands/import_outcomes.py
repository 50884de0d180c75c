"""``python manage.py import_outcomes FILE.jsonl``: load outcomes reported outside the API, all or nothing."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from usage.management.jsonl_input import jsonl_source
from usage.outcome_import import outcomes_import


class Command(BaseCommand):
    help = (
        "Import outcomes from JSON Lines ('-' reads stdin), one a line with external_id, kind, user "
        "(e-mail, optional), team (slug, optional), occurred_at, value (optional) and request_ids "
        "(optional list). Idempotent on external_id. If any line is bad, every bad line is reported "
        "with its number and nothing is imported. A progress bar goes to stderr when it is a terminal "
        "(or with --progress)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.jsonl", help="path, or - for stdin")
        parser.add_argument("--progress", action="store_true", help="show a progress bar on stderr")

    def handle(self, *args, **options) -> None:
        with jsonl_source(
            options["file"],
            stderr=options.get("stderr") or sys.stderr,
            progress=options["progress"],
            desc="import_outcomes",
        ) as (source, on_line):
            report = outcomes_import(lines=source, on_line=on_line)
        if report.bad:
            for number, reason in report.bad:
                self.stderr.write(f"line {number}: {reason}")
            raise CommandError(f"{len(report.bad)} bad lines of {report.lines}; nothing imported")
        self.stdout.write(
            f"imported {report.created} new outcomes ({report.existing} already present) from {report.lines} lines"
        )
