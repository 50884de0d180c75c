"""A simulated organisation on disk: the files ``simulate_org`` writes and ``--load`` reads back.

    usage.jsonl          import_usage records, one call a line, with ``prompt`` / ``output`` text
    outcomes.jsonl       import_outcomes records (personal and team outcomes)
    feedback.jsonl       {"request_id", "user", "team", "score"}: ratings by the person who made the call
    targets.json         announced usage targets and reviews (``UsageTarget`` fields, team as a slug)
    outcome_kinds.json   {kind: weight} an admin sets
    truth.json           who is who: {"people": [{"user", "team", "kind", "style"}], window, seed}

``truth.json`` is the answer key: it is never loaded into the database (``--load`` ignores it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from devtools.simulation.behaviour import person_history, team_outcomes
from devtools.simulation.org import OUTCOME_WEIGHTS, OrgPlan

USAGE, OUTCOMES, FEEDBACK = "usage.jsonl", "outcomes.jsonl", "feedback.jsonl"
TARGETS, OUTCOME_KINDS, TRUTH = "targets.json", "outcome_kinds.json", "truth.json"


@dataclass(frozen=True, slots=True)
class Written:
    directory: Path
    events: int
    outcomes: int
    feedback: int


@dataclass(frozen=True, slots=True)
class Truth:
    """The answer key: the window simulated and each person's kind (e-mail -> kind / style)."""

    start: datetime
    end: datetime
    seed: int
    kinds: dict[str, str]
    styles: dict[str, str]
    teams: dict[str, str]


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def scenario_write(*, plan: OrgPlan, directory: Path, progress: TextIO | None = None) -> Written:
    """Write the plan's whole history into ``directory`` (created if missing; files replaced).

    ``progress``: a stream for a tqdm bar (one step per person), or None for none.
    """
    directory.mkdir(parents=True, exist_ok=True)
    events = outcomes = feedback = 0
    with (
        open(directory / USAGE, "w", encoding="utf-8") as usage_file,
        open(directory / OUTCOMES, "w", encoding="utf-8") as outcome_file,
        open(directory / FEEDBACK, "w", encoding="utf-8") as feedback_file,
    ):
        people = tqdm(plan.people, desc="simulate", unit="person", file=progress, disable=progress is None)
        for person in people:
            history = person_history(person, plan)
            usage_file.writelines(map(_line, history.usage))
            outcome_file.writelines(map(_line, history.outcomes))
            feedback_file.writelines(map(_line, history.feedback))
            events += len(history.usage)
            outcomes += len(history.outcomes)
            feedback += len(history.feedback)
        team = team_outcomes(plan)
        outcome_file.writelines(map(_line, team))
        outcomes += len(team)
    targets = [
        {
            "kind": a.kind,
            "team": a.team,
            "announced_at": a.announced_at.isoformat(),
            "tokens_per_day": a.tokens_per_day,
            "description": a.description,
        }
        for a in plan.announcements
    ]
    (directory / TARGETS).write_text(json.dumps(targets, indent=1) + "\n", encoding="utf-8")
    (directory / OUTCOME_KINDS).write_text(json.dumps(OUTCOME_WEIGHTS, indent=1) + "\n", encoding="utf-8")
    truth = {
        "note": "simulate_org's answer key: who is who. Never load it into the database.",
        "seed": plan.seed,
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
        "days": plan.days,
        "period_ends": [end.isoformat() for end in plan.period_ends],
        "people": [{"user": p.email, "team": p.team.slug, "kind": p.kind, "style": p.style} for p in plan.people],
    }
    (directory / TRUTH).write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return Written(directory=directory, events=events, outcomes=outcomes, feedback=feedback)


def truth_read(path: Path) -> Truth:
    """The answer key written by ``scenario_write``; raises ValueError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        people = data["people"]
        return Truth(
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            seed=int(data["seed"]),
            kinds={p["user"]: p["kind"] for p in people},
            styles={p["user"]: p["style"] for p in people},
            teams={p["user"]: p["team"] for p in people},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a simulate_org truth file ({exc})") from None
