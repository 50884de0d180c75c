from datetime import timedelta
from itertools import accumulate, cycle, islice

from governance.detectors import Thresholds, ValueSignals
from governance.detectors.mechanical_cadence import detect
from tests.governance.detectors.records import T0, WINDOW, person, team

OFFICE_CV = 1.4826 * 49 / 64  # office-hours gaps: median 64 min, MAD 49 min
START = T0 + timedelta(hours=9)


def script(gaps_seconds: list[float], user_id: int = 5) -> list:
    times = [START + timedelta(seconds=s) for s in accumulate([0.0] + gaps_seconds)]
    return person(user_id, len(times), times=times)


def test_flags_metronome_calls():
    bot = script(list(islice(cycle([58.0, 60.0, 62.0]), 39)))

    findings = detect(team((1, 2, 3, 4)) + bot, ValueSignals(), WINDOW, Thresholds())

    assert [(f.user_id, f.detector, f.score) for f in findings] == [(5, "mechanical_cadence", 0.506)]
    assert findings[0].evidence == {
        "summary": (
            "Over 40 calls, calls came every 60 s like clockwork - half of the gaps were within 3% of it "
            "(team median: within 77%): the timing of a script, not a person."
        ),
        "value_summary": (
            "Value from trusted outcomes in the period: 0.0 points (the team median is 0); 0% of the calls "
            "were linked to an outcome (team median 0%)."
        ),
        "value": 0.0,
        "peer_median_value": 0.0,
        "value_per_million_tokens": 0.0,
        "peer_median_value_per_million_tokens": 0.0,
        "linked_share": 0.0,
        "peer_median_linked_share": 0.0,
        "calls": 40,
        "robust_cv": round(1.4826 * 2 / 60, 4),
        "median_gap_seconds": 60.0,
        "active_hours_per_day": 1.0,
        "peer_median_robust_cv": round(OFFICE_CV, 4),
        "peer_median_active_hours_per_day": 5.0,
        "peer_scope": "team",
        "examples": ["u5-0", "u5-1", "u5-2", "u5-3", "u5-4"],
    }


def test_flags_calls_around_the_clock():
    minutes = cycle([5, 25, 45, 15, 55, 35])  # one call every clock hour, uneven gaps
    times = [T0 + timedelta(hours=h, minutes=next(minutes)) for h in range(48)]

    findings = detect(team((1, 2, 3, 4)) + person(5, 48, times=times), ValueSignals(), WINDOW, Thresholds())

    assert [(f.user_id, f.score) for f in findings] == [(5, 0.2)]
    evidence = findings[0].evidence
    assert evidence["summary"] == (
        "Over 48 calls, a typical active day had calls in 24 of its 24 hours (team median 5): the timing of a "
        "script, not a person."
    )
    assert (evidence["active_hours_per_day"], evidence["robust_cv"] > 0.1) == (24.0, True)


def test_does_not_flag_heavy_office_user():
    findings = detect(team((1, 2, 3, 4)) + person(5, 200), ValueSignals(), WINDOW, Thresholds())

    assert findings == []


def test_thresholds_are_respected():
    bot = script(list(islice(cycle([58.0, 60.0, 62.0]), 39)))

    findings = detect(team((1, 2, 3, 4)) + bot, ValueSignals(), WINDOW, Thresholds(cadence_cv=0.04))

    assert findings == []


def test_parallel_calls_count_as_one_burst():
    times = [START + timedelta(seconds=60 * (n // 2) + 0.2 * (n % 2)) for n in range(80)]

    findings = detect(person(5, 80, times=times), ValueSignals(), WINDOW, Thresholds())

    assert [(f.evidence["median_gap_seconds"], f.evidence["robust_cv"]) for f in findings] == [(59.8, 0.0)]
