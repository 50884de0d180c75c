"""Target 4: a full detection run over 1 million events in under 30 s.

Two measurements:

* the production path, ``governance.services.flags.detection_run`` (what ``manage.py detect`` and the
  beat task run): load a window of about a million events from PostgreSQL through the detection
  selector, run every detector with each team's thresholds, store the findings as flags. The window
  is the most recent stretch of the reports data set (bench/harness/generate.py) holding ~1 million events.
* the detectors alone, ``run_all``, over the detectors' own synthetic million (bench/probes/detectors_bench.py:
  100 teams, 5,000 people, one in ten a usage chaser of some kind, so every detector finds work).

``--quick`` runs both on 200,000 events; the figures are printed but not judged (not the target's scale).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, time as dt_time, timedelta

from bench.harness.report import check

TARGET_S = 30.0
TARGET_EVENTS = 1_000_000


def _window_with(events: int) -> tuple[datetime, datetime, int]:
    """The most recent whole days before today holding about ``events`` events.

    Today is left out: the proxy and ledger sections of the benchmark add their own events today.
    """
    from django.db.models import Sum
    from django.utils import timezone as dj_timezone

    from usage.models import DailyRollup

    today = dj_timezone.now().astimezone(UTC).date()
    per_day = list(
        DailyRollup.objects.filter(day__lt=today)
        .values("day")
        .annotate(n=Sum("requests"))
        .order_by("-day")
        .values_list("day", "n")
    )
    total, first = 0, None
    for day, count in per_day:
        total += count
        first = day
        if total >= events:
            break
    if first is None:
        raise RuntimeError("no usage data: run the reports section (bench/harness/generate.py) first")
    last = per_day[0][0]
    return (
        datetime.combine(first, dt_time.min, UTC),
        datetime.combine(last + timedelta(days=1), dt_time.min, UTC),
        total,
    )


def detection(*, quick: bool) -> None:
    from bench.probes.detectors_bench import DAYS, START, build
    from governance.detectors import Thresholds, Window, run_all
    from governance.services.flags import detection_run

    size = 200_000 if quick else TARGET_EVENTS
    judged = not quick
    print(f"\n## Detection over {size:,} events", flush=True)

    start, end, _ = _window_with(size)
    # CPU time too (this process only; PostgreSQL's share of the load is not in it): on a shared
    # machine the wall clock also counts other processes' turns.
    run_cpu = time.process_time()
    run = detection_run(start=start, end=end, store=True)
    run_cpu = time.process_time() - run_cpu
    print(
        f"    detection_run {start.date()} .. {end.date()}: {run.events:,} events, {run.people:,} people, "
        f"{len(run.findings):,} findings, flags {len(run.created)} created / {len(run.updated)} updated; "
        f"load {run.load_s:.1f} s, detect {run.detect_s:.1f} s, store {run.store_s:.1f} s; {run_cpu:.1f} s CPU"
    )
    check(
        "detection",
        f"detection_run (load from PostgreSQL + detect + store flags), {run.events:,} events",
        measured=f"{run.seconds:.1f} s ({run_cpu:.1f} s CPU)",
        limit=f"< {TARGET_S:.0f} s for {TARGET_EVENTS:,}",
        passed=(run.seconds < TARGET_S and run.events >= TARGET_EVENTS * 0.95) if judged else None,
    )

    events, signals = build(size, random.Random(7))
    window = Window(start=START, end=START + timedelta(days=DAYS))
    started, cpu = time.perf_counter(), time.process_time()
    findings = run_all(events, signals, Thresholds(), window=window)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"    run_all over the detectors' synthetic set: {len(events):,} events, {len(findings):,} findings, "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU"
    )
    check(
        "detection",
        f"run_all (9 detectors, synthetic chasers), {len(events):,} events",
        measured=f"{wall:.1f} s ({cpu:.1f} s CPU)",
        limit=f"< {TARGET_S:.0f} s for {TARGET_EVENTS:,}",
        passed=(wall < TARGET_S) if judged else None,
    )
