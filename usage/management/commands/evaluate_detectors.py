"""``python manage.py evaluate_detectors``: score detection on a loaded simulated organisation (DIR), or
tune the value guards on some simulated seeds and report on held-out ones (no DIR: in memory)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.simulation.family import FAMILIES
from devtools.simulation.files import TRUTH, truth_read
from devtools.simulation.services import scenario_evaluate
from devtools.simulation.sweep import GRID, SMALL_GRID, seed_records, sweep, tune, tuned_thresholds_policy


def _seeds(value: str) -> list[int]:
    """ "1..8" or "3,5,9" -> the seeds."""
    try:
        if ".." in value:
            first, last = value.split("..", 1)
            return list(range(int(first), int(last) + 1))
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"seeds: {value!r} is not FIRST..LAST nor a comma-separated list") from None


class Command(BaseCommand):
    help = (
        "With DIR: run the detectors over the window of a simulated organisation (written and loaded by "
        "simulate_org --load) and print the confusion table per detector and overall against DIR/truth.json, "
        "every false positive with its evidence, and the time of the detection run. Without DIR: simulate "
        "--tune-seeds and --held-out-seeds of the simulate_org family in memory, choose the value-guard "
        "thresholds on the tuning seeds, and print recall per chaser kind and false flags per honest "
        "archetype on the held-out seeds (and on --independent seeds of the independent family)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", metavar="DIR", nargs="?", help="the simulate_org --out directory")
        parser.add_argument("--dry-run", action="store_true", help="with DIR: score without raising flags")
        parser.add_argument("--tune-seeds", default="1..10", help="seeds to choose thresholds on (default 1..10)")
        parser.add_argument("--held-out-seeds", default="101..130", help="seeds to report on (default 101..130)")
        parser.add_argument(
            "--independent",
            default="1..10",
            help="seeds of the independent family, also reported ('' for none; default 1..10)",
        )
        parser.add_argument("--family", default="standard", choices=FAMILIES, help="family to tune and hold out")
        parser.add_argument("--people", type=int, default=50)
        parser.add_argument("--days", type=int, default=60)
        parser.add_argument("--start", default="2025-03-03", metavar="YYYY-MM-DD")
        parser.add_argument(
            "--grid",
            choices=("full", "small", "none"),
            default="full",
            help="thresholds tried: full, small, or none (the defaults, untuned)",
        )
        parser.add_argument("--progress", action="store_true", help="progress bars on stderr")

    def handle(self, *args, **options) -> None:
        if options["directory"]:
            try:
                truth = truth_read(Path(options["directory"]) / TRUTH)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            evaluation = scenario_evaluate(truth=truth, store=not options["dry_run"])
            self.stdout.write(evaluation.report(truth))
            return
        try:
            start = datetime.combine(date.fromisoformat(options["start"]), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            raise CommandError(f"--start: {options['start']!r} is not a date (YYYY-MM-DD)") from None
        progress = sys.stderr if options["progress"] else None
        size = {"people": options["people"], "days": options["days"], "start": start, "time_zone": settings.TIME_ZONE}
        began = time.perf_counter()
        try:
            tuning = [seed_records(seed=s, family=options["family"], **size) for s in _seeds(options["tune_seeds"])]
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        grid = {"full": GRID, "small": SMALL_GRID, "none": {}}[options["grid"]]
        if grid:
            thresholds, on_tuning = tune(records=tuning, grid=grid)
        else:
            on_tuning = sweep(seeds=(), people=0, days=0, start=start, records=tuning)
            thresholds = on_tuning.thresholds
        self.stdout.write(
            f"thresholds chosen on {options['family']} seeds {options['tune_seeds']} "
            f"({len(tuning)} x {options['people']} people x {options['days']} days): "
            f"{tuned_thresholds_policy(thresholds) or 'the defaults'}"
        )
        self.stdout.write(f"on the tuning seeds: {on_tuning.report().splitlines()[-1]}")
        del tuning
        held_out = sweep(
            seeds=_seeds(options["held_out_seeds"]),
            family=options["family"],
            thresholds=thresholds,
            progress=progress,
            **size,
        )
        self._report("held-out", held_out)
        if options["independent"]:
            independent = sweep(
                seeds=_seeds(options["independent"]),
                family="independent",
                thresholds=thresholds,
                progress=progress,
                **size,
            )
            self._report("independent organisation (never tuned on)", independent)
        self.stdout.write(f"took {time.perf_counter() - began:.0f} s")

    def _report(self, title: str, result) -> None:
        self.stdout.write(
            f"\n== {title}: {len(result.seeds)} seeds, {result.people:,} people, {result.events:,} events"
        )
        self.stdout.write(result.report())
        for seed, style, detector, summary in result.wrong:
            self.stdout.write(f"false flag (seed {seed}): {style} by {detector}: {summary}")
        for seed, style, kind in result.missed:
            self.stdout.write(f"missed (seed {seed}): {style} not flagged by {kind}")
