"""``python manage.py import_outcomes FILE.jsonl``: load outcomes reported outside the API, all or nothing."""

from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

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
        path = options["file"]
        err = options.get("stderr") or sys.stderr
        try:
            source = sys.stdin.buffer if path == "-" else open(path, "rb")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        bar = None
        if options["progress"] or err.isatty():
            total = None if path == "-" else os.path.getsize(path)
            bar = tqdm(total=total, unit="B", unit_scale=True, file=err, desc="import_outcomes")
        try:
            report = outcomes_import(lines=source, on_line=bar.update if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
            if source is not sys.stdin.buffer:
                source.close()
        if report.bad:
            for number, reason in report.bad:
                self.stderr.write(f"line {number}: {reason}")
            raise CommandError(f"{len(report.bad)} bad lines of {report.lines}; nothing imported")
        self.stdout.write(
            f"imported {report.created} new outcomes ({report.existing} already present) from {report.lines} lines"
        )
