"""``python manage.py reconcile_counters``: compare budget counters with the ledger and repair drift."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from governance.enforcement.reconcile import counters_reconcile


class Command(BaseCommand):
    help = (
        "Compare every budget counter of the current day/week/month with the usage ledger and repair "
        "the ones that drifted (the Celery task governance.tasks.counters_reconcile_task does the same "
        "every 5 minutes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--quiet-seconds",
            type=float,
            default=None,
            help="repair a counter only after this long without settlements (default TOKENWISE_RECONCILE_QUIET_S)",
        )

    def handle(self, *args, **options) -> None:
        if not settings.REDIS_URL:
            self.stdout.write(
                "Embedded mode: budget counters live in the server process and start from the "
                "ledger there; nothing to reconcile from here."
            )
            return
        report = counters_reconcile(quiet_s=options["quiet_seconds"])
        for key, before, after in report.repairs:
            self.stdout.write(f"repaired {key}: {before} -> {after}")
        self.stdout.write(
            f"checked {report.checked} counters: {report.repaired} repaired, "
            f"{report.deferred} drifting but busy (deferred), {report.held_repaired} held amounts fixed"
        )
