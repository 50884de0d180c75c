from dataclasses import replace

from governance.detectors import Thresholds, ValueSignals
from governance.detectors.repetition import detect
from tests.governance.detectors.records import WINDOW, fingerprint, person, team

BASE = fingerprint("a template prompt")


def repeater() -> list:
    """User 5: calls 0-19 send one prompt verbatim, 20-23 variants 2 bits apart, the rest are new."""
    calls = person(5)
    for n in range(20):
        calls[n] = replace(calls[n], prompt_hash="same", prompt_simhash=BASE)
    for k, n in enumerate(range(20, 24)):
        calls[n] = replace(calls[n], prompt_simhash=fingerprint("variant") ^ (1 << k))
    return calls


def peers() -> list:
    """Users 1-4: all prompts different, but for one retried prompt of user 1."""
    calls = team((1, 2, 3, 4))
    calls[1] = replace(calls[1], prompt_hash=calls[0].prompt_hash)
    return calls


def test_flags_person_repeating_prompts():
    findings = detect(peers() + repeater(), ValueSignals(), WINDOW, Thresholds())

    assert [(f.user_id, f.detector, f.score) for f in findings] == [(5, "repetition", 0.5)]
    assert findings[0].evidence == {
        "summary": (
            "60% of 40 prompts were repeats or near-duplicates (the same text again, or with a few words "
            "changed); team median 0%."
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
        "repeated_calls": 24,
        "repeated_share": 0.6,
        "simhash_distance": 3,
        "peer_median_repeated_share": 0.0,
        "peer_scope": "team",
        "examples": ["u5-0", "u5-1", "u5-2", "u5-3", "u5-4"],
    }


def test_does_not_flag_heavy_user_with_a_few_retries():
    calls = person(5, 200)
    for n in (10, 11, 12):
        calls[n] = replace(calls[n], prompt_hash=calls[9].prompt_hash)

    findings = detect(peers() + calls, ValueSignals(), WINDOW, Thresholds())

    assert findings == []


def test_share_threshold_is_respected():
    events = peers() + repeater()

    findings = detect(events, ValueSignals(), WINDOW, Thresholds(repetition_share=0.61))

    assert findings == []


def test_near_duplicates_count_only_within_the_distance():
    events = peers() + repeater()

    findings = detect(events, ValueSignals(), WINDOW, Thresholds(simhash_distance=1))

    assert [(f.evidence["repeated_calls"], f.evidence["repeated_share"]) for f in findings] == [(20, 0.5)]
