"""``python manage.py create_api_token --user EMAIL --scopes admin [--team SLUG] [--days N]``: prints the
new REST API token (``twa-…``) last - the way to get a first token for scripting ``/api/`` with curl."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.exceptions import GovernanceError
from governance.models import ApiToken
from governance.selectors.directory import person_by_email, team_by_slug
from governance.services.api_tokens import api_token_create

MAX_DAYS = 36_500  # a hundred years: far enough for any expiry, near enough for date arithmetic


class Command(BaseCommand):
    help = "Create a REST API token for an existing person (or a team's service token). Printed once."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the person's e-mail (for a service token: its creator)")
        parser.add_argument("--scopes", required=True, help=f"comma-separated: {', '.join(ApiToken.Scope.values)}")
        parser.add_argument("--name", default="cli", help="a label for the token")
        parser.add_argument("--team", help="a team's slug: make a service token acting for that team only")
        parser.add_argument("--days", type=int, help="expire after this many days (default: never)")

    def handle(self, *args, **options):
        user = person_by_email(email=options["user"].strip())
        if user is None:
            raise CommandError(f"no person with e-mail {options['user']!r}")
        team = None
        if options["team"]:
            team = team_by_slug(slug=options["team"])
            if team is None:
                raise CommandError(f"no team {options['team']!r}")
        if options["days"] is not None and not 1 <= options["days"] <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS} (or left out: never expires)")
        expires_at = timezone.now() + timedelta(days=options["days"]) if options["days"] else None
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        try:
            token, secret = api_token_create(
                user=user,
                name=options["name"],
                scopes=scopes,
                team=team,
                expires_at=expires_at,
                actor_label="command:create_api_token",
            )
        except GovernanceError as exc:
            raise CommandError(exc.message) from exc
        what = f"service token for team {team.slug}" if team else f"token for {user.email}"
        self.stdout.write(f"Created {what} {token.prefix}… '{token.name}' with scopes {', '.join(token.scopes)}.")
        self.stdout.write("Store it now: it is shown only this once. Use it as 'Authorization: Bearer <token>'.")
        self.stdout.write(secret)
