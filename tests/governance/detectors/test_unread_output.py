from dataclasses import replace

from governance.detectors import OutcomeRecord, Thresholds, ValueSignals
from governance.detectors.unread_output import detect
from tests.governance.detectors.records import T0, WINDOW, ids, person


def streams(user_id: int, abandoned: int, count: int = 40) -> list:
    """``count`` streamed calls, the first ``abandoned`` of them cut off by the client."""
    calls = person(user_id, count, stream=True)
    return [replace(c, client_disconnected=True) for c in calls[:abandoned]] + calls[abandoned:]


def peers() -> tuple[list, dict[str, float]]:
    """Users 1-4 abandon 2 of 40 streams and rate 4 answers each."""
    events = [e for user_id in (1, 2, 3, 4) for e in streams(user_id, abandoned=2)]
    return events, {rid: 1.0 for user_id in (1, 2, 3, 4) for rid in ids(user_id, range(30, 34))}


def test_flags_person_whose_answers_go_unread():
    events, feedback = peers()

    findings = detect(events + streams(5, abandoned=20), ValueSignals(feedback=feedback), WINDOW, Thresholds())

    assert [(f.user_id, f.detector, f.score) for f in findings] == [(5, "unread_output", 0.667)]
    assert findings[0].evidence == {
        "summary": (
            "50% of 40 answers were never received in full (20 of 40 streams abandoned); 0% were rated or "
            "linked to an outcome; team median unread 5%."
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
        "unread_calls": 20,
        "unread_share": 0.5,
        "streams": 40,
        "abandoned_streams": 20,
        "used_share": 0.0,
        "peer_median_unread_share": 0.05,
        "peer_median_used_share": 0.1,
        "peer_scope": "team",
        "examples": ["u5-0", "u5-1", "u5-2", "u5-3", "u5-4"],
    }


def test_does_not_flag_person_who_stops_early_but_uses_answers():
    events, feedback = peers()
    shipped = OutcomeRecord(None, None, T0, "pr_merged", 1.0, tuple(ids(5, range(20, 32))))

    findings = detect(
        events + streams(5, abandoned=20), ValueSignals(feedback=feedback, outcomes=[shipped]), WINDOW, Thresholds()
    )

    assert findings == []


def test_does_not_flag_heavy_user_with_occasional_disconnects():
    events, feedback = peers()

    findings = detect(
        events + streams(5, abandoned=10, count=200), ValueSignals(feedback=feedback), WINDOW, Thresholds()
    )

    assert findings == []


def test_share_threshold_is_respected():
    events, feedback = peers()

    findings = detect(
        events + streams(5, abandoned=20), ValueSignals(feedback=feedback), WINDOW, Thresholds(unread_share=0.55)
    )

    assert findings == []
