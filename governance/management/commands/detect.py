"""``python manage.py detect [--since ISO] [--until ISO]``: run the usage-chasing detectors now."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from governance.detectors import DETECTORS
from governance.management.options import parse_moment
from governance.services.flags import detection_run


class Command(BaseCommand):
    help = (
        "Run the detectors over a window of usage and raise flags (de-duplicated: a rerun changes nothing "
        "new). --since is inclusive, --until exclusive; by default the trailing "
        "TOKENWISE_DETECTION_WINDOW_DAYS up to now. Times without an offset are in the organisation's "
        "time zone. Prints findings per detector, flags created/updated, and the time taken."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", metavar="ISO", help="window start, a date or date-time (inclusive)")
        parser.add_argument("--until", metavar="ISO", help="window end, a date or date-time (exclusive)")
        parser.add_argument(
            "--only",
            metavar="NAME",
            action="append",
            choices=list(DETECTORS),
            help="run only this detector (repeatable)",
        )
        parser.add_argument("--dry-run", action="store_true", help="report findings without raising flags")

    def handle(self, *args, **options) -> None:
        until = parse_moment(options["until"], option="--until") if options["until"] else timezone.now()
        if options["since"]:
            since = parse_moment(options["since"], option="--since")
        else:
            since = until - timedelta(days=settings.TOKENWISE_DETECTION_WINDOW_DAYS)
        if since >= until:
            raise CommandError("--since must be before --until")
        run = detection_run(start=since, end=until, only=options["only"], store=not options["dry_run"])
        zone = timezone.get_default_timezone()
        self.stdout.write(
            f"window {since.astimezone(zone).isoformat()} .. {until.astimezone(zone).isoformat()}: "
            f"{run.events:,} events, {run.people:,} people"
        )
        for problem in run.problems:
            self.stderr.write(f"warning: {problem}")
        self.stdout.write(f"findings: {len(run.findings)}")
        width = max(len(name) for name in run.detectors)
        for name, found in run.findings_per_detector.items():
            self.stdout.write(f"  {name:<{width}}  {found}")
        if options["dry_run"]:
            self.stdout.write("flags: none raised (--dry-run)")
        else:
            self.stdout.write(
                f"flags: {len(run.created)} created, {len(run.updated)} updated, {run.unchanged} unchanged"
            )
        self.stdout.write(
            f"took {run.seconds:.2f} s (load {run.load_s:.2f} s, detect {run.detect_s:.2f} s, "
            f"store {run.store_s:.2f} s)"
        )
