from governance.detectors import Thresholds, ValueSignals
from governance.detectors.padding import detect
from tests.governance.detectors.records import WINDOW, person, team

PADDED = {"prompt_tokens": 8_000, "completion_tokens": 50, "max_tokens": 4_000}


def padder(normal_calls: int = 20) -> list:
    """User 5: ``normal_calls`` ordinary calls, then padded ones up to 40 calls."""
    calls = person(5, 40)
    return calls[:normal_calls] + person(5, 40, **PADDED)[normal_calls:]


def test_flags_inflated_prompts_with_tiny_answers():
    findings = detect(team((1, 2, 3, 4)) + padder(), ValueSignals(), WINDOW, Thresholds())

    assert [(f.user_id, f.detector, f.score) for f in findings] == [(5, "padding", 1.0)]
    assert findings[0].evidence == {
        "summary": (
            "50% of 40 calls sent prompts of typically 8,000 tokens - at least 4.0x the usual 1,000 tokens - "
            "for answers under 2% of the prompt's size; team median share 0%."
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
        "padded_calls": 20,
        "padded_share": 0.5,
        "median_padded_prompt_tokens": 8_000.0,
        "median_prompt_tokens": 4_500.0,
        "reference_prompt_tokens": 1_000.0,
        "peer_median_prompt_tokens": 1_000.0,
        "median_max_tokens_over_output": 80.0,
        "peer_median_padded_share": 0.0,
        "peer_scope": "team",
        "examples": ["u5-20", "u5-21", "u5-22", "u5-23", "u5-24"],
    }


def test_padding_every_call_cannot_raise_the_norm():
    findings = detect(team((1, 2, 3, 4)) + padder(normal_calls=0), ValueSignals(), WINDOW, Thresholds())

    assert [(f.evidence["padded_share"], f.evidence["reference_prompt_tokens"]) for f in findings] == [(1.0, 1_000.0)]


def test_does_not_flag_team_that_sends_big_prompts():
    retrieval = {"prompt_tokens": 8_000, "completion_tokens": 100}

    findings = detect(
        team((1, 2, 3, 4, 5), **retrieval) + person(6, 200, **retrieval), ValueSignals(), WINDOW, Thresholds()
    )

    assert findings == []


def test_ignores_embeddings():
    embeddings = person(5, 40, endpoint="/v1/embeddings", prompt_tokens=8_000, completion_tokens=0)

    findings = detect(team((1, 2, 3, 4)) + embeddings, ValueSignals(), WINDOW, Thresholds())

    assert findings == []


def test_thresholds_are_respected():
    events = team((1, 2, 3, 4)) + padder()

    by_share = detect(events, ValueSignals(), WINDOW, Thresholds(padding_share=0.55))
    by_factor = detect(events, ValueSignals(), WINDOW, Thresholds(padding_prompt_factor=9.0))

    assert (by_share, by_factor) == ([], [])
