"""``python manage.py simulate_org``: write (and load, and score detection on) a simulated organisation."""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.simulation.evaluation import confusion_table
from devtools.simulation.files import TRUTH, scenario_write, truth_read
from devtools.simulation.org import MIN_DAYS, MIN_PEOPLE, org_plan
from devtools.simulation.services import scenario_evaluate, scenario_load
from devtools.simulation.sweep import sweep


def _start(value: str | None, days: int) -> datetime:
    if value is None:
        today = datetime.now(UTC).date()
        return datetime.combine(today - timedelta(days=days), datetime.min.time(), tzinfo=UTC)
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise CommandError(f"--start: {value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Write a simulated organisation's usage history - honest people of several working styles, heavy "
        "but productive users, and every kind of usage chaser - as import files in --out: usage.jsonl "
        "(import_usage, with prompt/output text), outcomes.jsonl (import_outcomes), feedback.jsonl, "
        "targets.json, outcome_kinds.json, and truth.json (who is who; never loaded). --load loads them "
        "through the import commands; --evaluate also runs detection over the window and prints the "
        "confusion table per detector and the run's timings. --sweep N scores N seeds in memory instead "
        "(no files, no database): the confusion table summed over them and every wrong or missed flag."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--people", type=int, default=60, help=f"people (at least {MIN_PEOPLE}; default 60)")
        parser.add_argument("--days", type=int, default=60, help=f"days (at least {MIN_DAYS}; default 60)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--start", metavar="YYYY-MM-DD", help="first day (UTC); default: --days days ago")
        parser.add_argument("--out", metavar="DIR", help="where to write (default: a tokenwise-sim-SEED temp dir)")
        parser.add_argument("--load", action="store_true", help="load the files into the database")
        parser.add_argument("--evaluate", action="store_true", help="load, run detection and print the scores")
        parser.add_argument("--dry-run", action="store_true", help="with --evaluate: score without raising flags")
        parser.add_argument("--sweep", type=int, metavar="N", help="score seeds SEED..SEED+N-1 in memory")
        parser.add_argument("--progress", action="store_true", help="progress bars on stderr (default: on a tty)")

    def handle(self, *args, **options) -> None:
        people, days, seed = options["people"], options["days"], options["seed"]
        out = Path(options["out"] or Path(tempfile.gettempdir()) / f"tokenwise-sim-{seed}")
        progress = sys.stderr if options["progress"] or sys.stderr.isatty() else None
        start = _start(options["start"], days)
        try:
            plan = org_plan(people=people, days=days, seed=seed, start=start, time_zone=settings.TIME_ZONE)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["sweep"]:
            self._sweep(range(seed, seed + options["sweep"]), people, days, start, progress)
            return
        began = time.perf_counter()
        written = scenario_write(plan=plan, directory=out, progress=progress)
        self.stdout.write(
            f"wrote {written.events:,} calls, {written.outcomes:,} outcomes and {written.feedback:,} ratings of "
            f"{len(plan.people)} people in {len(plan.teams)} teams, {plan.start.date()} .. "
            f"{(plan.end - timedelta(days=1)).date()}, to {out} ({time.perf_counter() - began:.1f} s); "
            f"the answer key is {out / TRUTH}"
        )
        if not (options["load"] or options["evaluate"]):
            return
        began = time.perf_counter()
        loaded = scenario_load(directory=out, progress=progress)
        self.stdout.write(loaded.usage_report)
        self.stdout.write(loaded.outcomes_report)
        self.stdout.write(
            f"recorded {loaded.feedback:,} ratings and {loaded.targets_created} new announcements "
            f"(load took {time.perf_counter() - began:.1f} s)"
        )
        if options["evaluate"]:
            truth = truth_read(out / TRUTH)
            evaluation = scenario_evaluate(truth=truth, store=not options["dry_run"])
            self.stdout.write(evaluation.report(truth))

    def _sweep(self, seeds: range, people: int, days: int, start: datetime, progress) -> None:
        result = sweep(
            seeds=seeds, people=people, days=days, start=start, time_zone=settings.TIME_ZONE, progress=progress
        )
        self.stdout.write(
            f"{len(seeds)} seeds ({seeds.start}..{seeds.stop - 1}) x {people} people x {days} days: "
            f"{result.people:,} people, {result.events:,} events; run_all took {result.detect_s:.1f} s in all"
        )
        assert result.overall is not None  # set by the first seed, and there is at least one
        self.stdout.write(confusion_table(result.rows, result.overall))
        for seed, style, detector, summary in result.wrong:
            self.stdout.write(f"false positive (seed {seed}): {style} by {detector}: {summary}")
        for seed, style, kind in result.missed:
            self.stdout.write(f"missed (seed {seed}): {style} not flagged by {kind}")
