"""Many simulated organisations scored in memory: how the detectors fare beyond one lucky seed.

Each seed's history is turned into detector records the way the ledger would hold them - every usage
record goes through ``usage_record_parse`` (the import path's own parser: same fingerprints, text
dropped) - and ``run_all`` runs with the default thresholds. No files, no database: a seed of 50
people x 60 days takes a few seconds, so ``simulate_org --sweep 30`` measures precision and recall
over 1,500 people. The one-seed, through-the-database path is ``simulate_org --evaluate``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TextIO

from tqdm import tqdm

from governance.detectors import EventRecord, OutcomeRecord, Target, ValueSignals, Window, run_all
from governance.simulation.behaviour import person_history, team_outcomes
from governance.simulation.evaluation import Confusion, confusion, innocent
from governance.simulation.org import OUTCOME_WEIGHTS, OrgPlan, org_plan
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
            event = usage_record_parse(json.loads(json.dumps(record), parse_float=Decimal)).event
            events.append(EventRecord(
                event.request_id, event.created_at, user_id, team_id, event.model_served or event.model_requested,
                event.endpoint, event.status, event.prompt_tokens, event.completion_tokens, event.total_tokens,
                None, event.max_tokens, event.stream, event.client_disconnected, event.prompt_hash,
                event.prompt_simhash or 0, event.output_simhash or 0,
            ))
        feedback.update((item["request_id"], _score(item["score"])) for item in history.feedback)
        outcomes.extend(_outcome(item, user_ids, team_ids) for item in history.outcomes)
    outcomes.extend(_outcome(item, user_ids, team_ids) for item in team_outcomes(plan))
    targets = [Target(announced_at=a.announced_at, kind=a.kind, team_id=team_ids[a.team] if a.team else None,
                      tokens_per_day=a.tokens_per_day) for a in plan.announcements]
    signals = ValueSignals(feedback=feedback, outcomes=outcomes, targets=targets, period_ends=plan.period_ends)
    return events, signals, {n: email for email, n in user_ids.items()}


def _outcome(item: dict, user_ids: dict[str, int], team_ids: dict[str, int]) -> OutcomeRecord:
    return OutcomeRecord(
        user_id=user_ids.get(item.get("user", "")), team_id=team_ids[item["team"]],
        occurred_at=datetime.fromisoformat(item["occurred_at"]), kind=item["kind"],
        weight=float(item["value"]) * OUTCOME_WEIGHTS[item["kind"]], request_ids=tuple(item.get("request_ids", ())),
    )


@dataclass(slots=True)
class SweepResult:
    seeds: list[int]
    rows: list[Confusion] = field(default_factory=list)  # summed over the seeds
    overall: Confusion | None = None
    people: int = 0
    events: int = 0
    detect_s: float = 0.0  # run_all time, all seeds
    wrong: list[tuple[int, str, str, str]] = field(default_factory=list)  # (seed, style, detector, summary)
    missed: list[tuple[int, str, str]] = field(default_factory=list)  # (seed, style, kind)


def _add(a: Confusion | None, b: Confusion) -> Confusion:
    if a is None:
        return b
    return Confusion(detector=a.detector, tp=a.tp + b.tp, fp=a.fp + b.fp, fn=a.fn + b.fn, tn=a.tn + b.tn,
                     also=a.also + b.also)


def sweep(*, seeds: Iterable[int], people: int, days: int, start: datetime, time_zone: str = "UTC",
          progress: TextIO | None = None) -> SweepResult:
    """Simulate and score every seed in memory (see the module docstring); confusion summed over seeds."""
    seeds = list(seeds)
    result = SweepResult(seeds=seeds)
    for seed in tqdm(seeds, desc="sweep", unit="seed", file=progress, disable=progress is None):
        plan = org_plan(people=people, days=days, seed=seed, start=start, time_zone=time_zone)
        events, signals, emails = plan_records(plan)
        began = time.perf_counter()
        findings = run_all(events, signals, window=Window(start=plan.start, end=plan.end))
        result.detect_s += time.perf_counter() - began
        kinds = {p.email: p.kind for p in plan.people}
        styles = {p.email: p.style for p in plan.people}
        flagged = {(emails[f.user_id], f.detector): f for f in findings}
        rows, overall = confusion(kinds=kinds, flagged=flagged)
        result.rows = [_add(a, b) for a, b in zip(result.rows, rows)] if result.rows else rows
        result.overall = _add(result.overall, overall)
        result.people += len(plan.people)
        result.events += len(events)
        result.wrong += [(seed, styles[email], detector, str(f.evidence.get("summary", "")))
                         for (email, detector), f in sorted(flagged.items()) if innocent(kinds[email])]
        result.missed += [(seed, styles[email], kind) for email, kind in sorted(kinds.items())
                          if not innocent(kind) and (email, kind) not in flagged]
    return result
