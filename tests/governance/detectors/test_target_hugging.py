from datetime import timedelta

from governance.detectors import Target, Thresholds, ValueSignals
from governance.detectors.target_hugging import detect
from tests.governance.detectors.records import T0, WINDOW, event, ids

TARGET = Target(T0 - timedelta(days=1), "usage_target", None, 100_000)
REVIEW = Target(T0 + timedelta(days=14), "review", 1)


WEEK = [1_500, 3_000, 2_200, 2_800, 2_000, 2_500, 2_100]  # an ordinary week: 2,300 tokens a day on average


def daily(user_id: int, tokens_by_day: list[int]) -> list:
    """Two calls a day from day 0, splitting each day's tokens evenly (200 of them completion)."""
    return [
        event(
            2 * day + half,
            user_id=user_id,
            at=T0 + timedelta(days=day, hours=10 + 4 * half),
            prompt_tokens=tokens // 2 - 200,
        )
        for day, tokens in enumerate(tokens_by_day)
        for half in range(2)
    ]


def peers() -> list:
    """Users 1-4: four ordinary weeks each, starting on different weekdays."""
    return [e for user_id in (1, 2, 3, 4) for e in daily(user_id, (WEEK[user_id:] + WEEK[:user_id]) * 4)]


def test_flags_usage_settled_just_above_the_target():
    findings = detect(peers() + daily(5, [102_000] * 20), ValueSignals(targets=[TARGET]), WINDOW, Thresholds())

    assert [(f.user_id, f.detector, f.score) for f in findings] == [(5, "target_hugging", 0.667)]
    assert findings[0].evidence == {
        "summary": (
            "On 20 of 20 active days (100%) daily usage sat within 5% above the daily target of 100,000 tokens."
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
        "active_days": 20,
        "settled_against": "daily target",
        "reference_tokens_per_day": 100_000.0,
        "days_in_band": 20,
        "days_considered": 20,
        "in_band_share": 1.0,
        "peer_scope": "team",
        "examples": ids(5, range(39, 34, -1)),
    }


def test_flags_usage_settled_just_above_the_peer_average():
    findings = detect(peers() + daily(5, [2_350] * 20), ValueSignals(), WINDOW, Thresholds())

    assert [f.evidence["summary"] for f in findings] == [
        "On 20 of 20 active days (100%) daily usage sat within 5% above the peer average day of 2,300 tokens."
    ]


def test_flags_jump_right_after_a_review_is_announced():
    jumper = daily(5, [2_000] * 14 + [12_000] * 7)

    findings = detect(peers() + jumper, ValueSignals(targets=[REVIEW]), WINDOW, Thresholds())

    assert [(f.user_id, f.score) for f in findings] == [(5, 1.0)]
    assert findings[0].evidence == {
        "summary": (
            "Tokens a day rose 6.0 times (from 2,000 to 12,000) in the 7 days after a review was "
            "announced on 2025-03-17 (team median 1.0 times), with no matching rise in value."
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
        "active_days": 21,
        "jump_ratio": 6.0,
        "tokens_per_day_before": 2_000.0,
        "tokens_per_day_after": 12_000.0,
        "announced_at": "2025-03-17T00:00:00+00:00",
        "announcement_kind": "review",
        "peer_median_jump_ratio": 1.0,
        "peer_scope": "team",
        "examples": ids(5, range(41, 36, -1)),
    }


def test_does_not_flag_a_light_user_whose_jump_stays_below_a_typical_day():
    light = daily(5, [400] * 14 + [1_600] * 7)  # 4x, but still under the peers' 2,300-token day

    findings = detect(peers() + light, ValueSignals(targets=[REVIEW]), WINDOW, Thresholds())

    assert findings == []


def test_does_not_flag_usage_that_varies_around_the_target():
    varied = daily(5, [90_000, 110_000, 100_000, 120_000, 95_000] * 4)

    findings = detect(peers() + varied, ValueSignals(targets=[TARGET, REVIEW]), WINDOW, Thresholds())

    assert findings == []


def test_thresholds_are_respected():
    hugger = daily(5, [102_000] * 20)
    jumper = daily(6, [2_000] * 14 + [12_000] * 7)
    signals = ValueSignals(targets=[TARGET, REVIEW])

    findings = detect(peers() + hugger + jumper, signals, WINDOW, Thresholds(hug_band=0.01, jump_ratio=6.5))

    assert findings == []
