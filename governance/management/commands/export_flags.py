"""``python manage.py export_flags --format jsonl``: every flag, one JSON object a line, on stdout."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.management.options import parse_moment
from governance.models import Flag
from governance.selectors.detection import flag_records
from governance.selectors.directory import team_by_slug


class Command(BaseCommand):
    help = (
        "Print flags oldest first, one JSON object a line, with user (e-mail), team (slug), detector, "
        "score, period_start, period_end, evidence, state, plus id, created_at, updated_at and reviews."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["jsonl"], default="jsonl")
        parser.add_argument("--team", metavar="SLUG", help="only this team's flags")
        parser.add_argument("--state", choices=list(Flag.State.values), help="only flags in this state")
        parser.add_argument("--since", metavar="ISO", help="only flags raised since (inclusive)")

    def handle(self, *args, **options) -> None:
        team = options["team"]
        if team is not None and team_by_slug(slug=team) is None:
            raise CommandError(f"--team: no team with slug {team!r}")
        since = parse_moment(options["since"], option="--since") if options["since"] else None
        for record in flag_records(team_slug=team, state=options["state"], since=since):
            self.stdout.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
