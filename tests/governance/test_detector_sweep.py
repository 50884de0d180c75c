"""The detection sweep at CI size: thresholds chosen on one seed, targets met on seeds the tuning never saw.

Targets (issue 16): recall >= 0.95 per chaser kind, <= 1 false flag per 100 honest people, no heavy
productive user flagged. At this size every kind has one or two chasers per seed, so the targets mean
every chaser caught and nobody innocent flagged. The seeds are fixed: the test is deterministic. The
full sweep (``manage.py evaluate_detectors``, README) runs the same code over dozens of seeds.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devtools.simulation.org import AGENTIC, ARCHETYPES, HEAVY, org_plan
from devtools.simulation.sweep import SMALL_GRID, seed_records, sweep, tune
from governance.detectors import Thresholds

START = datetime(2025, 3, 3, tzinfo=UTC)
SIZE = {"people": 36, "days": 40, "start": START}


@pytest.fixture(scope="module")
def tuned() -> Thresholds:
    thresholds, on_tuning = tune(records=[seed_records(seed=1, **SIZE)], grid=SMALL_GRID)
    assert on_tuning.meets_targets(), on_tuning.report()
    return thresholds


def test_plan_has_every_honest_archetype_and_agentic_users():
    plan = org_plan(seed=1, **SIZE)

    styles = {p.style for p in plan.people}

    assert set(ARCHETYPES) <= styles
    assert any(p.style == AGENTIC and p.kind == HEAVY for p in plan.people)


def test_held_out_seed_meets_the_targets(tuned):
    result = sweep(seeds=[2], thresholds=tuned, **SIZE)

    assert result.meets_targets(), result.report()
    assert result.min_recall == 1.0 and result.false_flagged == 0 and result.heavy_flagged == 0


def test_independent_organisation_meets_the_targets(tuned):
    result = sweep(seeds=[3], family="independent", thresholds=tuned, **SIZE)

    assert result.family == "independent"
    assert result.meets_targets(), result.report()
    assert result.min_recall == 1.0 and result.false_flagged == 0 and result.heavy_flagged == 0
