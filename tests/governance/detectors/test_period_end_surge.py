from datetime import timedelta

from governance.detectors import Thresholds, ValueSignals
from governance.detectors.period_end_surge import detect
from tests.governance.detectors.records import T0, WINDOW, person

SIGNALS = ValueSignals(period_ends=[T0 + timedelta(days=14), T0 + timedelta(days=28)])
RUN_UP_DAYS = (12, 13, 26, 27)


def calls_on(days: list[int], per_day: int) -> list:
    return [T0 + timedelta(days=day, hours=9, minutes=20 * n) for day in days for n in range(per_day)]


def steady(user_id: int, per_day: int = 2) -> list:
    return person(user_id, 28 * per_day, times=calls_on(list(range(28)), per_day))


def surger() -> list:
    """User 5: one call a day, six a day in the two days before each period end (1,200 tokens each)."""
    times = sorted(calls_on([d for d in range(28) if d not in RUN_UP_DAYS], 1) + calls_on(list(RUN_UP_DAYS), 6))
    return person(5, len(times), times=times)


def peers() -> list:
    return [e for user_id in (1, 2, 3, 4) for e in steady(user_id)]


def test_flags_usage_piled_up_before_period_ends():
    findings = detect(peers() + surger(), SIGNALS, WINDOW, Thresholds())

    assert [(f.user_id, f.detector, f.score) for f in findings] == [(5, "period_end_surge", 0.167)]
    assert findings[0].evidence == {
        "summary": (
            "50% of the tokens of the reporting periods (28,800 of 57,600) were used in the 2 days before "
            "each closed, 3.5 times the 14% those working days would account for; team median 1.0 times; 0% "
            "of the period's outcome value came in those days."
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
        "run_up_tokens": 28_800,
        "period_tokens": 57_600,
        "run_up_share": 0.5,
        "expected_share": round(4 / 28, 4),
        "ratio": 3.5,
        "run_up_value_share": 0.0,
        "baseline_days": 24,
        "period_ends": ["2025-03-17T00:00:00+00:00", "2025-03-31T00:00:00+00:00"],
        "peer_median_ratio": 1.0,
        "peer_scope": "team",
        "examples": ["u5-12", "u5-13", "u5-14", "u5-15", "u5-16"],
    }


def test_does_not_flag_heavy_steady_user():
    findings = detect(peers() + steady(5, per_day=8), SIGNALS, WINDOW, Thresholds())

    assert findings == []


def test_does_not_flag_newcomer_without_a_baseline():
    newcomer = person(5, 40, times=calls_on([26, 27], 20))

    findings = detect(peers() + newcomer, SIGNALS, WINDOW, Thresholds())

    assert findings == []


def test_ratio_threshold_is_respected():
    findings = detect(peers() + surger(), SIGNALS, WINDOW, Thresholds(surge_ratio=3.6))

    assert findings == []


def test_says_nothing_without_period_ends():
    findings = detect(peers() + surger(), ValueSignals(), WINDOW, Thresholds())

    assert findings == []


def test_does_not_flag_a_light_user_whose_run_up_stays_below_a_typical_day():
    """Same 3.5x shape as the surger, but 120 tokens a call: 720 a run-up day against peers' 2,400."""
    times = sorted(calls_on([d for d in range(28) if d not in RUN_UP_DAYS], 1) + calls_on(list(RUN_UP_DAYS), 6))
    light = person(5, len(times), times=times, prompt_tokens=100, completion_tokens=20)

    findings = detect(peers() + light, SIGNALS, WINDOW, Thresholds())

    assert findings == []
