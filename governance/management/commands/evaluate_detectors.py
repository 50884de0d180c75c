"""``python manage.py evaluate_detectors DIR``: score detection on a simulated organisation already loaded."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.simulation.files import TRUTH, truth_read
from governance.simulation.services import scenario_evaluate


class Command(BaseCommand):
    help = (
        "Run the detectors over the window of a simulated organisation (written and loaded by "
        "simulate_org --load) and print the confusion table per detector and overall against DIR/truth.json, "
        "every false positive with its evidence, and the time of the detection run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", metavar="DIR", help="the simulate_org --out directory")
        parser.add_argument("--dry-run", action="store_true", help="score without raising flags")

    def handle(self, *args, **options) -> None:
        try:
            truth = truth_read(Path(options["directory"]) / TRUTH)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        evaluation = scenario_evaluate(truth=truth, store=not options["dry_run"])
        self.stdout.write(evaluation.report(truth))
