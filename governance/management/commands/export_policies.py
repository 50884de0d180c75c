"""``python manage.py export_policies``: print the stored policies as a document ``apply_policies`` accepts."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from governance.services.policies import policies_export


class Command(BaseCommand):
    help = "Print the current policies as a YAML document (applying it back changes nothing)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(policies_export(), ending="")
