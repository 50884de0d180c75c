"""Many simulated organisations scored in memory: how the detectors fare beyond one lucky seed.

Each seed's history is turned into detector records the way the ledger would hold them - every usage
record goes through ``usage_record_parse`` (the import path's own parser: same fingerprints, text
dropped) - and ``run_all`` runs with the default thresholds. No files, no database: a seed of 50
people x 60 days takes a few seconds, so ``simulate_org --sweep 30`` measures precision and recall
over 1,500 people. The one-seed, through-the-database path is ``simulate_org --evaluate``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import product
from typing import Any, TextIO

from tqdm import tqdm

from devtools.simulation.behaviour import person_history, team_outcomes
from devtools.simulation.evaluation import Confusion, confusion, innocent
from devtools.simulation.org import HEAVY, OUTCOME_WEIGHTS, OrgPlan, org_plan
from governance.detectors import (
    EventRecord,
    Grouped,
    OutcomeRecord,
    Target,
    Thresholds,
    ValueSignals,
    Window,
    group_events,
    run_all,
)
from usage.interchange import usage_record_parse


def _score(raw: int) -> float:
    """A rating as detection normalises it: thumbs -1/+1, stars 1..5 -> -1.0 .. +1.0."""
    return float(raw) if raw in (-1, 1) else (raw - 3) / 2


def plan_records(plan: OrgPlan) -> tuple[list[EventRecord], ValueSignals, dict[int, str]]:
    """(events, value signals, user id -> e-mail) of a plan, ids numbered in plan order."""
    user_ids = {p.email: n for n, p in enumerate(plan.people, start=1)}
    team_ids = {t.slug: n for n, t in enumerate(plan.teams, start=1)}
    events: list[EventRecord] = []
    outcomes: list[OutcomeRecord] = []
    feedback: dict[str, float] = {}
    for person in plan.people:
        history = person_history(person, plan)
        user_id, team_id = user_ids[person.email], team_ids[person.team.slug]
        for record in history.usage:
            event = usage_record_parse(record).event  # records hold JSON types only (no floats)
            events.append(
                EventRecord(
                    event.request_id,
                    event.created_at,
                    user_id,
                    team_id,
                    event.model_served or event.model_requested,
                    event.endpoint,
                    event.status,
                    event.prompt_tokens,
                    event.completion_tokens,
                    event.total_tokens,
                    None,
                    event.max_tokens,
                    event.stream,
                    event.client_disconnected,
                    event.prompt_hash,
                    event.prompt_simhash or 0,
                    event.output_simhash or 0,
                )
            )
        feedback.update((item["request_id"], _score(item["score"])) for item in history.feedback)
        outcomes.extend(_outcome(item, user_ids, team_ids) for item in history.outcomes)
    outcomes.extend(_outcome(item, user_ids, team_ids) for item in team_outcomes(plan))
    targets = [
        Target(
            announced_at=a.announced_at,
            kind=a.kind,
            team_id=team_ids[a.team] if a.team else None,
            tokens_per_day=a.tokens_per_day,
        )
        for a in plan.announcements
    ]
    signals = ValueSignals(feedback=feedback, outcomes=outcomes, targets=targets, period_ends=plan.period_ends)
    return events, signals, {n: email for email, n in user_ids.items()}


def _outcome(item: dict, user_ids: dict[str, int], team_ids: dict[str, int]) -> OutcomeRecord:
    return OutcomeRecord(
        user_id=user_ids.get(item.get("user", "")),
        team_id=team_ids[item["team"]],
        occurred_at=datetime.fromisoformat(item["occurred_at"]),
        kind=item["kind"],
        weight=float(item["value"]) * OUTCOME_WEIGHTS[item["kind"]],
        request_ids=tuple(item.get("request_ids", ())),
    )


@dataclass(slots=True)
class SeedRecords:
    """One simulated organisation as the detectors read it, with its answer key (by e-mail)."""

    seed: int
    family: str
    events: list[EventRecord]
    signals: ValueSignals
    window: Window
    emails: dict[int, str]  # user id -> e-mail
    kinds: dict[str, str]
    styles: dict[str, str]
    grouped: Grouped | None = None

    def findings(self, thresholds: Thresholds) -> list:
        if self.grouped is None:
            self.grouped = group_events(self.events, self.window, min_team_size=thresholds.min_team_size)
        return run_all(self.events, self.signals, thresholds, window=self.window, grouped=self.grouped)


def seed_records(
    *, seed: int, people: int, days: int, start: datetime, time_zone: str = "UTC", family: str = "standard"
) -> SeedRecords:
    """Simulate organisation ``seed`` of ``family`` in memory (see the module docstring)."""
    plan = org_plan(people=people, days=days, seed=seed, start=start, time_zone=time_zone, family=family)
    events, signals, emails = plan_records(plan)
    return SeedRecords(
        seed=seed,
        family=family,
        events=events,
        signals=signals,
        window=Window(start=plan.start, end=plan.end),
        emails=emails,
        kinds={p.email: p.kind for p in plan.people},
        styles={p.email: p.style for p in plan.people},
    )


@dataclass(slots=True)
class SweepResult:
    seeds: list[int]
    family: str = "standard"
    thresholds: Thresholds = field(default_factory=Thresholds)
    rows: list[Confusion] = field(default_factory=list)  # summed over the seeds
    overall: Confusion | None = None
    people: int = 0
    events: int = 0
    detect_s: float = 0.0  # run_all time, all seeds
    wrong: list[tuple[int, str, str, str]] = field(default_factory=list)  # (seed, style, detector, summary)
    missed: list[tuple[int, str, str]] = field(default_factory=list)  # (seed, style, kind)
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # chaser kind -> [caught, people]
    by_style: dict[str, list[int]] = field(default_factory=dict)  # innocent style -> [flagged, people]
    heavy_flagged: int = 0
    heavy: int = 0

    def recall(self, kind: str) -> float:
        caught, total = self.by_kind[kind]
        return caught / total if total else 1.0

    @property
    def min_recall(self) -> float:
        return min((self.recall(kind) for kind in self.by_kind), default=1.0)

    @property
    def innocents(self) -> int:
        return sum(total for _, total in self.by_style.values())

    @property
    def false_flagged(self) -> int:
        return sum(flagged for flagged, _ in self.by_style.values())

    @property
    def false_flags_per_100(self) -> float:
        return 100 * self.false_flagged / self.innocents if self.innocents else 0.0

    def meets_targets(self) -> bool:
        """recall >= 0.95 per chaser kind, <= 1 false flag per 100 honest people, no heavy user flagged."""
        return (
            self.min_recall >= TARGET_RECALL
            and self.false_flags_per_100 <= TARGET_FALSE_PER_100
            and self.heavy_flagged == 0
        )

    def add(self, records: SeedRecords, findings: list) -> None:
        """Score one seed's findings into the totals."""
        kinds, styles, emails = records.kinds, records.styles, records.emails
        flagged = {(emails[f.user_id], f.detector): f for f in findings}
        rows, overall = confusion(kinds=kinds, flagged=flagged)
        self.rows = [_add(a, b) for a, b in zip(self.rows, rows, strict=True)] if self.rows else rows
        self.overall = _add(self.overall, overall)
        self.people += len(kinds)
        self.events += len(records.events)
        flagged_people = {email for email, _ in flagged}
        for email, kind in kinds.items():
            if innocent(kind):
                row = self.by_style.setdefault(f"{kind}/{styles[email]}", [0, 0])
                row[0] += email in flagged_people
                row[1] += 1
                if kind == HEAVY:
                    self.heavy += 1
                    self.heavy_flagged += email in flagged_people
            else:
                row = self.by_kind.setdefault(kind, [0, 0])
                row[0] += (email, kind) in flagged
                row[1] += 1
        self.wrong += [
            (records.seed, styles[email], detector, str(f.evidence.get("summary", "")))
            for (email, detector), f in sorted(flagged.items())
            if innocent(kinds[email])
        ]
        self.missed += [
            (records.seed, styles[email], kind)
            for email, kind in sorted(kinds.items())
            if not innocent(kind) and (email, kind) not in flagged
        ]

    def report(self) -> str:
        """Recall per chaser kind and false flags per honest archetype, and the verdict on the targets."""
        lines = [f"recall per chaser kind ({self.family}, seeds {_seed_span(self.seeds)}):"]
        for kind, (caught, total) in sorted(self.by_kind.items()):
            lines.append(f"  {kind:<22} {caught:>4} of {total:<4} caught  recall {caught / total:.2f}")
        lines.append("false flags per honest archetype:")
        for style, (flagged, total) in sorted(self.by_style.items()):
            lines.append(f"  {style:<34} {flagged:>4} of {total:<4} flagged  ({100 * flagged / total:.1f} per 100)")
        lines.append(
            f"overall: min recall {self.min_recall:.2f} (target >= {TARGET_RECALL}), "
            f"{self.false_flags_per_100:.2f} false flags per 100 honest people (target <= {TARGET_FALSE_PER_100:g}), "
            f"{self.heavy_flagged} of {self.heavy} heavy productive users flagged (target 0): "
            + ("targets met" if self.meets_targets() else "TARGETS MISSED")
        )
        return "\n".join(lines)


TARGET_RECALL, TARGET_FALSE_PER_100 = 0.95, 1.0


def _seed_span(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _add(a: Confusion | None, b: Confusion) -> Confusion:
    if a is None:
        return b
    return Confusion(
        detector=a.detector, tp=a.tp + b.tp, fp=a.fp + b.fp, fn=a.fn + b.fn, tn=a.tn + b.tn, also=a.also + b.also
    )


def sweep(
    *,
    seeds: Iterable[int],
    people: int,
    days: int,
    start: datetime,
    time_zone: str = "UTC",
    progress: TextIO | None = None,
    family: str = "standard",
    thresholds: Thresholds | None = None,
    records: Sequence[SeedRecords] | None = None,
) -> SweepResult:
    """Simulate and score every seed in memory (see the module docstring); confusion summed over seeds.

    ``records``: seeds simulated earlier (``seed_records``), scored instead of simulating again.
    """
    thresholds = thresholds or Thresholds()
    seeds = list(seeds) if records is None else [r.seed for r in records]
    result = SweepResult(seeds=seeds, family=family if records is None else records[0].family, thresholds=thresholds)
    items = (
        records
        if records is not None
        else (
            seed_records(seed=seed, people=people, days=days, start=start, time_zone=time_zone, family=family)
            for seed in seeds
        )
    )
    for item in tqdm(items, desc="sweep", unit="seed", file=progress, disable=progress is None, total=len(seeds)):
        began = time.perf_counter()
        findings = item.findings(thresholds)
        result.detect_s += time.perf_counter() - began
        result.add(item, findings)
    return result


# --- Tuning: thresholds chosen on some seeds, reported on others ----------------------------------------

# The value guards and the volume bar are what the tuning chooses; every other threshold keeps its default.
GRID: dict[str, tuple[float, ...]] = {
    "spare_value_ratio": (1.5, 2.0, 3.0),
    "volume_z": (3.0, 3.5, 4.5),
    "cadence_linked_ratio": (0.25, 0.5),
    "value_follows_ratio": (0.5, 0.7, 0.9),
}
SMALL_GRID: dict[str, tuple[float, ...]] = {"spare_value_ratio": (2.0, 3.0), "value_follows_ratio": (0.7, 0.9)}


def _candidates(grid: dict[str, tuple[float, ...]]) -> list[Thresholds]:
    names = list(grid)
    candidates = []
    for values in product(*(grid[n] for n in names)):
        chosen: dict[str, Any] = dict(zip(names, values, strict=True))  # each a float field of Thresholds
        candidates.append(Thresholds(**chosen))
    return candidates


def _rank(result: SweepResult, candidate: Thresholds) -> tuple:
    """Better first: meets the targets, higher min recall, fewer false flags, closer to the defaults."""
    default = Thresholds()
    distance = sum(getattr(candidate, n) != getattr(default, n) for n in GRID)
    return (not result.meets_targets(), result.heavy_flagged, -result.min_recall, result.false_flagged, distance)


def tune(
    *, records: Sequence[SeedRecords], grid: dict[str, tuple[float, ...]] = GRID
) -> tuple[Thresholds, SweepResult]:
    """The thresholds of ``grid`` that score best on ``records`` (``_rank``), and their score there."""
    scored = []
    for candidate in _candidates(grid):
        result = sweep(seeds=(), people=0, days=0, start=records[0].window.start, thresholds=candidate, records=records)
        scored.append((_rank(result, candidate), candidate, result))
    scored.sort(key=lambda item: item[0])
    return scored[0][1], scored[0][2]


def tuned_thresholds_policy(thresholds: Thresholds) -> dict[str, float]:
    """The tuned values as a policy's ``detector_thresholds`` (only what differs from the defaults)."""
    default = Thresholds()
    return {name: getattr(thresholds, name) for name in GRID if getattr(thresholds, name) != getattr(default, name)}
