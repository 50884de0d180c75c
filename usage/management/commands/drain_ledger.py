"""``python manage.py drain_ledger``: move every queued usage event into the database now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import Error as DatabaseError

from usage.ledger.rollups import usage_rollups_refresh
from usage.ledger.spool import usage_spool_drain
from usage.ledger.stream import CLAIM_IDLE_MS, usage_stream_backlog, usage_stream_drain


class Command(BaseCommand):
    help = (
        "Drain the ledger stream (Redis) into the database until it is empty, re-ingest this host's local "
        "spool (TOKENWISE_LEDGER_SPOOL_DIR), then refresh the dirty daily rollups. Entries pending with "
        "another consumer are taken over once idle for "
        "--claim-idle-ms (default 60000; 0 takes them all - use when no worker is running)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--claim-idle-ms", type=int, default=CLAIM_IDLE_MS)
        parser.add_argument("--no-rollups", action="store_true", help="do not refresh rollups afterwards")

    def handle(self, *args, **options) -> None:
        read = inserted = dead = 0
        while True:
            try:
                result = usage_stream_drain(time_budget_s=30.0, claim_idle_ms=max(0, options["claim_idle_ms"]))
            except DatabaseError as exc:
                raise CommandError(f"database unavailable, entries left pending in the stream: {exc}") from None
            read, inserted, dead = read + result.read, inserted + result.inserted, dead + result.dead
            if result.exhausted:
                break
        try:
            spooled = usage_spool_drain()  # this host's local spool (events written during a double outage)
        except DatabaseError as exc:
            raise CommandError(f"database unavailable, spooled events left on disk: {exc}") from None
        slices = 0 if options["no_rollups"] else usage_rollups_refresh()
        length, pending = usage_stream_backlog()
        if options["verbosity"] > 0:
            self.stdout.write(
                f"read {read} entries, inserted {inserted} new events, {dead} unreadable (dead-lettered), "
                f"{spooled} new events from the local spool, "
                f"refreshed {slices} rollup slices; {length} entries left ({pending} pending with other consumers)"
            )
