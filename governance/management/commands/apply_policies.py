"""``python manage.py apply_policies FILE.yaml [--dry-run]``: make the stored policies what a document says."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.services.policies import policies_apply
from governance.services.policy_document import PolicyDocumentError


class Command(BaseCommand):
    help = (
        "Apply a policy document (YAML) idempotently and print the diff. The document is authoritative: "
        "policies it does not mention are removed. Nothing is applied when any line is invalid. Use - to "
        "read standard input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the YAML document, or - for standard input")
        parser.add_argument("--dry-run", action="store_true", help="print the diff without applying it")

    def handle(self, *args, **options) -> None:
        path = options["file"]
        if path == "-":
            text, source = sys.stdin.read(), "<stdin>"
        else:
            try:
                text, source = Path(path).read_text(encoding="utf-8"), path
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        try:
            diff = policies_apply(text=text, source=source, dry_run=options["dry_run"])
        except PolicyDocumentError as exc:
            raise CommandError("the document was not applied:\n" + "\n".join(exc.problems)) from None
        self.stdout.write(diff.text())
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was applied.")
        elif diff.changes:
            self.stdout.write("Applied.")
