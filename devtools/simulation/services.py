"""Loading a simulated organisation through the product's own paths, and scoring a detection run on it.

``scenario_load`` reads what ``scenario_write`` wrote - never ``truth.json`` - exactly the way real
data arrives: usage through ``import_usage`` (fingerprints computed from the text, the text dropped),
outcomes through ``import_outcomes``, ratings through ``feedback_record`` (what ``POST /v1/feedback``
calls), outcome weights through ``outcome_kind_set`` and announcements through ``usage_target_save``.
``scenario_evaluate`` runs ``detection_run`` over the simulated window and scores it (``evaluation``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from tqdm import tqdm

from devtools.simulation.evaluation import Confusion, confusion, confusion_table, innocent
from devtools.simulation.files import FEEDBACK, OUTCOME_KINDS, OUTCOMES, TARGETS, USAGE, Truth
from governance.models import Team, UsageTarget
from governance.services.flags import DetectionRun, detection_run
from governance.services.targets import usage_target_save
from usage.value import CallOwner, feedback_record, outcome_kind_set

ACTOR = "simulate_org"


@dataclass(frozen=True, slots=True)
class Loaded:
    usage_report: str  # what import_usage and import_outcomes said
    outcomes_report: str
    feedback: int
    targets_created: int


def _targets_load(directory: Path) -> int:
    """Create each announcement not already there (same kind, team, moment); audited. Returns how many."""
    created = 0
    for item in json.loads((directory / TARGETS).read_text(encoding="utf-8")):
        team = Team.objects.get(slug=item["team"]) if item["team"] else None
        announced_at = datetime.fromisoformat(item["announced_at"])
        if UsageTarget.objects.filter(kind=item["kind"], team=team, announced_at=announced_at).exists():
            continue
        usage_target_save(
            target=UsageTarget(
                kind=item["kind"],
                team=team,
                announced_at=announced_at,
                tokens_per_day=item["tokens_per_day"],
                description=item["description"],
            ),
            actor_label=ACTOR,
        )
        created += 1
    return created


def _feedback_load(path: Path, progress: TextIO | None) -> int:
    """Each rating through ``feedback_record``, as the caller's own (idempotent per request and person)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    users = dict(get_user_model().objects.values_list("email", "pk"))
    teams = dict(Team.objects.values_list("slug", "pk"))
    with transaction.atomic():
        for line in tqdm(lines, desc="feedback", unit="rating", file=progress, disable=progress is None):
            item: dict[str, Any] = json.loads(line)
            user_id, team_id = users[item["user"]], teams[item["team"]]
            feedback_record(
                request_id=item["request_id"],
                owner=CallOwner(user_id=user_id, team_id=team_id),
                rater_user_id=user_id,
                rater_team_id=team_id,
                key_id=None,
                score=item["score"],
            )
    return len(lines)


def scenario_load(*, directory: Path, progress: TextIO | None = None) -> Loaded:
    """Load a written scenario into the database; safe to run twice (every step is idempotent).

    Order matters: usage first (it creates the people and teams), then outcome weights, outcomes,
    feedback and announcements. Raises CommandError when an import reports bad lines.
    """
    usage_out, outcomes_out = StringIO(), StringIO()
    call_command(
        "import_usage",
        str(directory / USAGE),
        progress=progress is not None,
        stdout=usage_out,
        stderr=progress or StringIO(),
    )
    for kind, weight in json.loads((directory / OUTCOME_KINDS).read_text(encoding="utf-8")).items():
        outcome_kind_set(kind=kind, weight=weight, description="set by simulate_org", actor_label=ACTOR)
    call_command(
        "import_outcomes",
        str(directory / OUTCOMES),
        progress=progress is not None,
        stdout=outcomes_out,
        stderr=progress or StringIO(),
    )
    feedback = _feedback_load(directory / FEEDBACK, progress)
    return Loaded(
        usage_report=usage_out.getvalue().strip(),
        outcomes_report=outcomes_out.getvalue().strip(),
        feedback=feedback,
        targets_created=_targets_load(directory),
    )


@dataclass(frozen=True, slots=True)
class Evaluation:
    run: DetectionRun
    rows: list[Confusion]
    overall: Confusion
    flags: list[tuple[str, str, str]]  # (e-mail, detector, evidence summary) of simulated people, sorted

    def report(self, truth: Truth) -> str:
        """The confusion table, every wrong flag spelled out, and the run's timings."""
        run = self.run
        lines = [
            f"detection over {run.start.isoformat()} .. {run.end.isoformat()}: {run.events:,} events, "
            f"{run.people:,} people, {len(run.findings)} findings",
            "",
            confusion_table(self.rows, self.overall),
            "",
        ]
        wrong = [(email, detector, summary) for email, detector, summary in self.flags if innocent(truth.kinds[email])]
        for email, detector, summary in wrong:
            lines.append(
                f"false positive: {email} ({truth.kinds[email]}, {truth.styles[email]}) by {detector}: {summary}"
            )
        caught = {(email, detector) for email, detector, _ in self.flags}
        for email, kind in sorted(truth.kinds.items()):
            if not innocent(kind) and (email, kind) not in caught:
                lines.append(f"missed: {email} ({truth.styles[email]}) was not flagged by {kind}")
        lines.append(
            f"detection run took {run.seconds:.2f} s (load {run.load_s:.2f} s, detect {run.detect_s:.2f} s, "
            f"store {run.store_s:.2f} s)"
        )
        return "\n".join(lines)


def scenario_evaluate(*, truth: Truth, store: bool = True) -> Evaluation:
    """Run detection over the simulated window (raising flags unless ``store`` is False) and score it."""
    run = detection_run(start=truth.start, end=truth.end, store=store)
    emails = dict(get_user_model().objects.filter(pk__in={f.user_id for f in run.findings}).values_list("pk", "email"))
    flags = sorted(
        (emails[f.user_id], f.detector, str(f.evidence.get("summary", "")))
        for f in run.findings
        if emails.get(f.user_id) in truth.kinds
    )
    rows, overall = confusion(kinds=truth.kinds, flagged=[(email, detector) for email, detector, _ in flags])
    return Evaluation(run=run, rows=rows, overall=overall, flags=flags)
