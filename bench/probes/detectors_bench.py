"""Time ``governance.detectors.run_all`` over synthetic usage: 100 teams, 5,000 people, 30 days.

    .venv/bin/python bench/probes/detectors_bench.py [--events 1000000] [--seed 7]

Most people are ordinary office-hours users, some are heavy but productive ("whale"), and one in
two of the rest chases usage in one of the nine ways, so every detector has real work to do. Prints
the build time, the run time, and per detector how many people of each kind it flagged (it checks
nothing: the unit tests do; honest and whale rows should stay empty).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run by path, the script sees bench/probes/ as sys.path[0]; the product's packages live at the repository root.
sys.path[0] = str(Path(__file__).resolve().parents[2])

from governance.detectors import (  # noqa: E402
    EventRecord,
    OutcomeRecord,
    Target,
    Thresholds,
    ValueSignals,
    Window,
    run_all,
)

TEAMS, PEOPLE_PER_TEAM, DAYS = 100, 50, 30
START = datetime(2025, 3, 1, tzinfo=UTC)
TARGET_TOKENS_PER_DAY = 100_000
KINDS = ("honest",) * 8 + (
    "whale",
    "bot",
    "repeater",
    "looper",
    "padder",
    "overkill",
    "quitter",
    "surger",
    "hugger",
)


def kind_of(user_id: int) -> str:
    """The behaviour the bench gave a person: "honest", "whale" (heavy and productive) or a chaser."""
    return KINDS[(user_id - 1) % len(KINDS)]


def build(total: int, rng: random.Random) -> tuple[list[EventRecord], ValueSignals]:
    """``total`` events spread evenly over the people, plus feedback, outcomes, targets, period ends."""
    people = TEAMS * PEOPLE_PER_TEAM
    per_person = total // people
    events: list[EventRecord] = []
    feedback: dict[str, float] = {}
    outcomes: list[OutcomeRecord] = []
    bits = rng.getrandbits
    for person in range(people):
        user_id, team_id = person + 1, person // PEOPLE_PER_TEAM + 1
        kind = kind_of(user_id)
        moments = _moments(kind, per_person, rng)
        calls_per_day = Counter(m.date() for m in moments)
        previous_output = 0
        for n, moment in enumerate(moments):
            prompt, completion = _tokens(kind, rng)
            if kind == "hugger":
                prompt = TARGET_TOKENS_PER_DAY * 102 // 100 // calls_per_day[moment.date()] - completion
            simhash = previous_output if kind == "looper" else bits(63)
            output = bits(63)
            request_id = f"r{user_id}-{n}"
            events.append(
                EventRecord(
                    request_id,
                    moment,
                    user_id,
                    team_id,
                    "gpt-4o" if kind == "overkill" else "gpt-4o-mini",
                    "/v1/chat/completions",
                    200,
                    prompt,
                    completion,
                    prompt + completion,
                    None,
                    4_096,
                    kind == "quitter" or n % 3 == 0,
                    kind == "quitter" and n % 2 == 0,
                    f"h{user_id}-{n % 10 if kind == 'repeater' else n}",
                    simhash,
                    output,
                )
            )
            previous_output = output
            if kind in ("honest", "whale") and n % 7 == 0:
                feedback[request_id] = 1.0
        if kind in ("honest", "whale"):
            weight = 5.0 * (10 if kind == "whale" else 1)
            outcomes.append(OutcomeRecord(user_id, team_id, moments[-1], "ticket_resolved", weight, ()))
    targets = [Target(START + timedelta(days=10), "usage_target", None, TARGET_TOKENS_PER_DAY)]
    ends = [START + timedelta(days=15), START + timedelta(days=DAYS)]
    return events, ValueSignals(feedback=feedback, outcomes=outcomes, targets=targets, period_ends=ends)


def _tokens(kind: str, rng: random.Random) -> tuple[int, int]:
    """(prompt, completion) tokens of one call."""
    if kind == "padder":
        return rng.randint(20_000, 40_000), rng.randint(5, 15)
    if kind == "overkill":
        return rng.randint(20, 300), rng.randint(1, 15)
    scale = 10 if kind == "whale" else 1
    return rng.randint(50, 2_000) * scale, rng.randint(50, 800) * scale


def _moments(kind: str, count: int, rng: random.Random) -> list[datetime]:
    if kind == "bot":
        step = DAYS * 86_400 / count
        return [START + timedelta(seconds=i * step) for i in range(count)]
    if kind == "surger":
        days = [rng.choice((13, 14, 28, 29)) if rng.random() < 0.7 else rng.randrange(DAYS) for _ in range(count)]
    elif kind == "hugger":
        days = [i % DAYS for i in range(count)]
    else:
        days = [rng.randrange(DAYS) for _ in range(count)]
    seconds = sorted(d * 86_400 + rng.randrange(8 * 3_600, 18 * 3_600) for d in days)
    return [START + timedelta(seconds=s) for s in seconds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    began = time.perf_counter()
    events, signals = build(options.events, random.Random(options.seed))
    built = time.perf_counter()
    window = Window(start=START, end=START + timedelta(days=DAYS))
    cpu = time.process_time()
    findings = run_all(events, signals, Thresholds(), window=window)
    cpu = time.process_time() - cpu
    finished = time.perf_counter()
    print(f"built {len(events):,} events in {built - began:.1f} s")
    # CPU time too: on a shared machine the wall clock also counts other processes' turns.
    print(f"run_all: {finished - built:.2f} s wall, {cpu:.2f} s CPU, {len(findings):,} findings")
    flagged = Counter((f.detector, kind_of(f.user_id)) for f in findings)
    for name in sorted({f.detector for f in findings}):
        kinds = ", ".join(f"{kind} {n}" for (detector, kind), n in sorted(flagged.items()) if detector == name)
        print(f"  {name}: {kinds}")


if __name__ == "__main__":
    main()
