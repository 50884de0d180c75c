from dataclasses import replace

from governance.detectors import Thresholds, ValueSignals
from governance.detectors.self_feeding_loop import detect
from tests.governance.detectors.records import WINDOW, person, team


def looper() -> list:
    """User 5: calls 10-29 each send the previous answer as the prompt; call 31 sends a 2-bit variant of 30's."""
    calls = person(5)
    for n in range(10, 30):
        calls[n] = replace(calls[n], prompt_simhash=calls[n - 1].output_simhash)
    calls[31] = replace(calls[31], prompt_simhash=calls[30].output_simhash ^ 0b11)
    return calls


def test_flags_outputs_fed_back_as_prompts():
    findings = detect(team((1, 2, 3, 4)) + looper(), ValueSignals(), WINDOW, Thresholds())

    assert [(f.user_id, f.detector, f.score) for f in findings] == [(5, "self_feeding_loop", 1.625)]
    assert findings[0].evidence == {
        "summary": (
            "52% of 40 prompts were a previous answer fed back in, in chains of up to 21 calls; team median 0%."
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
        "fed_calls": 21,
        "fed_share": 0.525,
        "longest_chain": 21,
        "simhash_distance": 3,
        "peer_median_fed_share": 0.0,
        "peer_scope": "team",
        "examples": ["u5-10", "u5-11", "u5-12", "u5-13", "u5-14"],
    }


def test_does_not_flag_heavy_user_or_missing_fingerprints():
    no_text = person(6, 40, prompt_simhash=0, output_simhash=0)

    findings = detect(team((1, 2, 3, 4)) + person(5, 200) + no_text, ValueSignals(), WINDOW, Thresholds())

    assert findings == []


def test_distance_threshold_is_respected():
    findings = detect(team((1, 2, 3, 4)) + looper(), ValueSignals(), WINDOW, Thresholds(simhash_distance=1))

    assert [(f.evidence["fed_calls"], f.evidence["fed_share"]) for f in findings] == [(20, 0.5)]


def test_share_threshold_is_respected():
    findings = detect(team((1, 2, 3, 4)) + looper(), ValueSignals(), WINDOW, Thresholds(loop_share=0.53))

    assert findings == []


def test_an_output_feeds_only_later_prompts():
    calls = person(5)
    calls = [replace(c, prompt_simhash=calls[min(n + 1, 39)].output_simhash) for n, c in enumerate(calls)]

    findings = detect(calls, ValueSignals(), WINDOW, Thresholds())

    assert findings == []
