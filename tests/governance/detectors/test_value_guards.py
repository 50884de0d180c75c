"""Value guards: a productive person is not flagged for a habit, and every finding states the value side."""

from datetime import timedelta
from itertools import accumulate, cycle, islice

from governance.detectors import OutcomeRecord, Thresholds, ValueSignals, run_all
from governance.detectors.mechanical_cadence import detect as cadence
from governance.detectors.padding import detect as padding
from tests.governance.detectors.records import T0, WINDOW, ids, person, team

START = T0 + timedelta(hours=1)


def nightly_job() -> list:
    times = [START + timedelta(seconds=s) for s in accumulate([0.0] + list(islice(cycle([29.0, 30.0, 31.0]), 39)))]
    return person(5, len(times), times=times)


def outcome(user_id: int | None, weight: float, request_ids: tuple[str, ...] = ()) -> OutcomeRecord:
    return OutcomeRecord(user_id, None, T0 + timedelta(days=2), "doc_published", weight, request_ids)


def peers_outcomes() -> list[OutcomeRecord]:
    """Peers 1-4 each ship one outcome worth 4 that names 4 of their 40 calls (10% linked)."""
    return [outcome(None, 4.0, tuple(ids(user_id, range(4)))) for user_id in (1, 2, 3, 4)]


def test_spares_automation_linked_to_outcomes_like_its_peers():
    job = nightly_job()
    linked = outcome(None, 4.0, tuple(ids(5, range(20))))  # half of the job's calls publish a document

    spared = cadence(team((1, 2, 3, 4)) + job, ValueSignals(outcomes=[*peers_outcomes(), linked]), WINDOW, Thresholds())
    unlinked = cadence(team((1, 2, 3, 4)) + job, ValueSignals(outcomes=peers_outcomes()), WINDOW, Thresholds())

    assert spared == []
    assert [(f.user_id, f.detector) for f in unlinked] == [(5, "mechanical_cadence")]
    assert unlinked[0].evidence["value_summary"] == (
        "Value from trusted outcomes in the period: 0.0 points (0% of the team median of 4.0); 0% of the calls "
        "were linked to an outcome (team median 10%)."
    )


def test_spares_long_prompts_of_someone_whose_value_is_well_above_peers():
    events = team((1, 2, 3, 4)) + person(5, prompt_tokens=60_000, completion_tokens=900)
    productive = outcome(5, 40.0)  # ten times each peer's

    spared = padding(events, ValueSignals(outcomes=[*peers_outcomes(), productive]), WINDOW, Thresholds())
    ordinary = padding(events, ValueSignals(outcomes=[*peers_outcomes(), outcome(5, 4.0)]), WINDOW, Thresholds())

    assert spared == []
    assert [f.user_id for f in ordinary] == [5]


def test_every_finding_states_the_value_side():
    events = team((1, 2, 3, 4)) + person(5, prompt_tokens=60_000, completion_tokens=900) + nightly_job()

    findings = run_all(events, ValueSignals(outcomes=peers_outcomes()), window=WINDOW)

    assert findings
    assert all(f.evidence["value_summary"].startswith("Value from trusted outcomes") for f in findings)
    assert all("robust" not in f.evidence["summary"] and "SimHash" not in f.evidence["summary"] for f in findings)
