from datetime import timedelta

from governance.detectors import OutcomeRecord, Thresholds, ValueSignals
from governance.detectors.volume_without_value import detect
from tests.governance.detectors.records import T0, WINDOW, ids, person

PEER_VPM = (4 / 44_000 + 4 / 48_000) / 2 * 1_000_000  # leave-one-out median of the peers' 100, 90.9, 83.3, 76.9


def peers_and_heavy_user() -> tuple[list, list[OutcomeRecord]]:
    """Peers 1-4 use 40,000-52,000 tokens and each ship outcomes worth 4; user 5 uses 480,000 tokens."""
    events, outcomes = [], []
    for user_id, prompt in zip((1, 2, 3, 4), (800, 900, 1_000, 1_100), strict=True):
        events += person(user_id, prompt_tokens=prompt)
        outcomes.append(OutcomeRecord(user_id, None, T0 + timedelta(days=1), "pr_merged", 4.0))
    events += person(5, prompt_tokens=10_000, completion_tokens=2_000)
    return events, outcomes


def outcome_for_user_5(weight: float, request_ids: tuple[str, ...] = ()) -> OutcomeRecord:
    user_id = None if request_ids else 5
    return OutcomeRecord(user_id, None, T0 + timedelta(days=2), "ticket_resolved", weight, request_ids)


def test_flags_heavy_user_without_value():
    events, peer_outcomes = peers_and_heavy_user()

    findings = detect(events, ValueSignals(outcomes=peer_outcomes), WINDOW, Thresholds())

    assert [(f.user_id, f.team_id, f.detector, f.score) for f in findings] == [(5, 1, "volume_without_value", 1.0)]
    assert findings[0].period_start == WINDOW.start and findings[0].period_end == WINDOW.end
    assert findings[0].evidence == {
        "summary": (
            "Used 480,000 tokens in the period, 10.4 times the team median of 46,000, while the value from "
            "trusted outcomes was 0.0 points (0% of the team median of 4.0): 0.00 points per million tokens "
            "against a team median of 87.12."
        ),
        "value_summary": (
            "Value from trusted outcomes in the period: 0.0 points (0% of the team median of 4.0); 0% of "
            "the calls were linked to an outcome (team median 0%)."
        ),
        "value": 0.0,
        "peer_median_value": 4.0,
        "value_per_million_tokens": 0.0,
        "peer_median_value_per_million_tokens": round(PEER_VPM, 4),
        "linked_share": 0.0,
        "peer_median_linked_share": 0.0,
        "tokens": 480_000,
        "peer_median_tokens": 46_000.0,
        "volume_z": round(434_000 / (1.4826 * 4_000), 4),
        "peers": 4,
        "peer_scope": "team",
        "examples": ["u5-0", "u5-1", "u5-10", "u5-11", "u5-12"],
    }


def test_never_flags_heavy_user_whose_value_per_token_beats_peers():
    events, peer_outcomes = peers_and_heavy_user()
    linked = outcome_for_user_5(50.0, tuple(ids(5, range(10))))  # 50 / 480,000 tokens = 104 per million

    findings = detect(events, ValueSignals(outcomes=[*peer_outcomes, linked]), WINDOW, Thresholds())

    assert findings == []


def test_value_ratio_threshold_is_respected():
    events, peer_outcomes = peers_and_heavy_user()
    signals = ValueSignals(outcomes=[*peer_outcomes, outcome_for_user_5(0.3 * PEER_VPM * 0.48)])

    # User 5's value (12.5) is above the peers' (4): only thresholds that stop sparing it let value_ratio decide.
    lenient = {"volume_value_ratio": 4.0, "spare_value_ratio": 4.0}
    at_default = detect(events, signals, WINDOW, Thresholds.from_policy(lenient))
    at_half = detect(events, signals, WINDOW, Thresholds.from_policy({"value_ratio": 0.5, **lenient}))

    assert at_default == []
    assert [(f.user_id, f.score) for f in at_half] == [(5, 0.4)]
    assert at_half[0].evidence["value_per_million_tokens"] == round(0.3 * PEER_VPM, 4)


def test_never_flags_heavy_user_whose_value_is_above_peers_however_low_per_token():
    events, peer_outcomes = peers_and_heavy_user()
    signals = ValueSignals(outcomes=[*peer_outcomes, outcome_for_user_5(10.0)])  # 20.8 per million: a quarter

    findings = detect(events, signals, WINDOW, Thresholds())
    without_value = detect(
        events, ValueSignals(outcomes=[*peer_outcomes, outcome_for_user_5(4.0)]), WINDOW, Thresholds()
    )

    assert findings == []
    assert [f.user_id for f in without_value] == [5]  # at the peers' value: volume without value


def test_ratings_are_not_value():
    events, peer_outcomes = peers_and_heavy_user()
    own_ratings = dict.fromkeys(ids(5, range(40)), 1.0)

    findings = detect(events, ValueSignals(feedback=own_ratings, outcomes=peer_outcomes), WINDOW, Thresholds())

    assert [f.user_id for f in findings] == [5]


def test_volume_threshold_is_respected():
    events, peer_outcomes = peers_and_heavy_user()

    findings = detect(events, ValueSignals(outcomes=peer_outcomes), WINDOW, Thresholds(volume_z=74.0))

    assert findings == []


def test_says_nothing_where_no_peer_records_value():
    events, _ = peers_and_heavy_user()

    findings = detect(events, ValueSignals(), WINDOW, Thresholds())

    assert findings == []
