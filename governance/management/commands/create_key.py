"""``python manage.py create_key --user EMAIL --team SLUG [--name NAME]``: prints the new key last."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from governance.services.keys import key_create
from governance.services.orgs import membership_ensure, team_get_or_create, user_get_or_create


class Command(BaseCommand):
    help = "Create a proxy key for a person in a team (both created if missing). The key is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the person's e-mail")
        parser.add_argument("--team", required=True, help="the team's slug")
        parser.add_argument("--name", default="default", help="a label for the key")
        parser.add_argument("--service", action="store_true", help="a service key for the team's own app")
        parser.add_argument("--expires", help="expiry time, ISO 8601 (e.g. 2027-01-31T00:00:00+00:00)")

    def handle(self, *args, **options):
        try:
            validate_email(options["user"])
        except ValidationError:
            raise CommandError(f"--user must be an e-mail address, got {options['user']!r}") from None
        expires_at = None
        if options["expires"]:
            try:
                expires_at = datetime.fromisoformat(options["expires"])
            except ValueError:
                raise CommandError(f"--expires must be ISO 8601, got {options['expires']!r}") from None
            if timezone.is_naive(expires_at):
                expires_at = timezone.make_aware(expires_at)
        label = "command:create_key"
        with transaction.atomic():
            user = user_get_or_create(email=options["user"], actor_label=label)
            team = team_get_or_create(slug=options["team"], actor_label=label)
            membership_ensure(user=user, team=team, actor_label=label)
            key, secret = key_create(
                user=user,
                team=team,
                name=options["name"],
                is_service=options["service"],
                expires_at=expires_at,
                actor_label=label,
            )
        self.stdout.write(f"Created key {key.prefix}… '{key.name}' for {user.email} in team {team.slug}.")
        self.stdout.write("Store it now: it is shown only this once.")
        self.stdout.write(secret)
