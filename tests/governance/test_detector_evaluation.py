"""The detectors measured on a simulated organisation loaded through the product's import paths.

The slow test writes 50 people x 60 days with ``simulate_org --load`` (usage through import_usage,
outcomes through import_outcomes, ratings through feedback_record, announcements as UsageTargets),
runs ``detection_run`` over the window, and prints the confusion table (``pytest -s`` shows it).
It asserts precision 1.0 for this seed; the many-seed figures, with thresholds chosen on some seeds and
reported on held-out ones and on an independent family, come from ``evaluate_detectors`` (README).
A change that flags anyone here is a loss of precision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from devtools.simulation.behaviour import person_history
from devtools.simulation.evaluation import OVERALL, confusion, confusion_table, innocent
from devtools.simulation.files import truth_read
from devtools.simulation.org import CHASERS, HEAVY, HONEST, org_plan
from devtools.simulation.services import scenario_evaluate
from devtools.simulation.sweep import sweep
from governance.detectors import DETECTORS
from governance.models import Flag, UsageTarget
from usage.fingerprints import simhash64, text_of_messages
from usage.models import Feedback, OutcomeRequest, UsageEvent

START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday; the window holds the April and May month ends
SEED = 1


def test_plan_has_every_chaser_kind_heavy_users_and_several_honest_styles():
    plan = org_plan(people=50, days=60, seed=SEED, start=START)

    kinds = [p.kind for p in plan.people]
    styles = {p.style for p in plan.people if p.kind == HONEST}

    assert len(plan.people) == 50
    assert sorted({kind for kind in kinds if kind not in (HONEST, HEAVY)}) == sorted(DETECTORS)
    assert {p.style for p in plan.people if p.kind == HEAVY} == {"power_user", "agent_pipeline", "agentic"}
    assert styles == {
        "coder",
        "occasional",
        "analyst",
        "weekend_light",
        "model_mixer",
        "long_context",
        "nightly_bot",
        "on_call",
        "new_joiner",
        "back_from_leave",
    }
    assert len({p.email for p in plan.people}) == 50
    assert [(a.kind, a.team, a.announced_at) for a in plan.announcements] == [
        ("usage_target", None, datetime(2025, 4, 1, 8, tzinfo=UTC)),
        (
            "review",
            next(p.team.slug for p in plan.people if p.style == "announcement_jumper"),
            datetime(2025, 4, 11, 8, tzinfo=UTC),
        ),
    ]
    assert plan.period_ends == (datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC))


def test_rejects_an_organisation_too_small_to_have_peers():
    with pytest.raises(ValueError, match="at least 30 people and 35 days"):
        org_plan(people=20, days=60, seed=SEED, start=START)


def test_same_seed_writes_the_same_history():
    plan = org_plan(people=30, days=35, seed=SEED, start=START)
    person = plan.people[3]

    first, second = person_history(person, plan), person_history(person, plan)

    assert first.usage == second.usage
    assert first.outcomes == second.outcomes
    assert first.feedback == second.feedback


def test_looper_prompts_fingerprint_as_their_previous_answer():
    plan = org_plan(people=30, days=35, seed=SEED, start=START)
    looper = next(p for p in plan.people if p.style == "looper")

    usage = person_history(looper, plan).usage
    prompts = [simhash64(text_of_messages({"prompt": record["prompt"]})) for record in usage]
    outputs = [simhash64(record.get("output", "")) for record in usage]
    fed = [n for n in range(1, len(usage)) if outputs[n - 1] and prompts[n] == outputs[n - 1]]

    assert len(fed) / len(usage) > 0.5


def test_confusion_counts_people_per_detector_and_overall():
    kinds = {"h1": HONEST, "h2": HONEST, "w": HEAVY, "pad": "padding", "rep": "repetition"}
    flagged = [("pad", "padding"), ("pad", "volume_without_value"), ("h1", "repetition"), ("pad", "padding")]

    rows, overall = confusion(kinds=kinds, flagged=flagged, detectors=("padding", "repetition", "volume_without_value"))

    assert [(r.detector, r.tp, r.fp, r.fn, r.tn, r.also) for r in rows] == [
        ("padding", 1, 0, 0, 4, 0),
        ("repetition", 0, 1, 1, 3, 0),
        ("volume_without_value", 0, 0, 0, 4, 1),
    ]
    assert (overall.tp, overall.fp, overall.fn, overall.tn, overall.also) == (1, 1, 1, 2, 1)
    assert (overall.precision, overall.recall) == (0.5, 0.5)
    assert rows[2].precision is None
    assert confusion_table(rows, overall).splitlines()[-1] == (
        f"| {OVERALL:<20} |   1 |   1 |   1 |   2 |    1 |      0.50 |   0.50 |"
    )


@pytest.mark.slow
@pytest.mark.django_db
def test_flags_every_chaser_kind_and_no_honest_or_productive_person(tmp_path, redis_clean):
    out = StringIO()
    call_command(
        "simulate_org", people=50, days=60, seed=SEED, start="2025-03-03", out=str(tmp_path), load=True, stdout=out
    )
    truth = truth_read(tmp_path / "truth.json")

    evaluation = scenario_evaluate(truth=truth)
    print("\n" + evaluation.report(truth))

    run = evaluation.run
    assert run.events == UsageEvent.objects.count() > 20_000
    assert run.people == 50
    assert UsageEvent.objects.filter(prompt_text__isnull=False).count() == 0  # text became fingerprints only
    assert UsageEvent.objects.filter(prompt_simhash__isnull=True, status__lt=400).count() == 0
    assert OutcomeRequest.objects.exists()  # outcomes linked to the calls they came from
    assert Feedback.objects.count() == len((tmp_path / "feedback.jsonl").read_text().splitlines())
    assert UsageTarget.objects.count() == 2
    flags = {(f.user.email, f.detector): f for f in Flag.objects.select_related("user")}
    chasers = {email: kind for email, kind in truth.kinds.items() if not innocent(kind)}
    assert sorted(set(chasers.values())) == sorted(DETECTORS)
    assert len(chasers) == len(CHASERS)
    for email, kind in chasers.items():
        flag = flags.get((email, kind))
        assert flag is not None, f"{truth.styles[email]} {email} was not flagged by {kind}"
        assert flag.evidence["summary"].endswith(".") and len(flag.evidence["summary"]) > 40
        assert flag.evidence["examples"]
    wrongly_flagged = sorted((email, detector) for email, detector in flags if innocent(truth.kinds[email]))
    assert wrongly_flagged == []
    assert (evaluation.overall.precision, evaluation.overall.recall) == (1.0, 1.0)
    assert [(r.detector, r.tp, r.fp, r.fn) for r in evaluation.rows] == [
        (name, 2 if name == "target_hugging" else 1, 0, 0) for name in DETECTORS
    ]
    # The in-memory sweep (README's many-seed figures) scores this seed exactly as the database path did.
    in_memory = sweep(seeds=[SEED], people=50, days=60, start=START)
    assert (in_memory.rows, in_memory.overall) == (evaluation.rows, evaluation.overall)
