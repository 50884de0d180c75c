import pytest

from governance.detectors import Thresholds, ValueSignals
from governance.detectors.overkill_model import detect, is_top_tier
from tests.governance.detectors.records import WINDOW, person

TOP = "gpt-4o-2024-08-06"
TRIVIAL = {"prompt_tokens": 100, "completion_tokens": 5, "cost_usd": 0.01}


def peers() -> list:
    """Users 1-4: real work on gpt-4o, two one-word answers each."""
    events = []
    for user_id in (1, 2, 3, 4):
        events += person(user_id, 2, model=TOP, **TRIVIAL) + person(user_id, 40, model=TOP)[2:]
    return events


def trivial_user(model: str = TOP, trivial: int = 30, count: int = 40) -> list:
    return person(5, count, model=model, **TRIVIAL)[:trivial] + person(5, count, model=model)[trivial:]


def test_flags_top_tier_model_used_for_trivial_calls():
    findings = detect(peers() + trivial_user(), ValueSignals(), WINDOW, Thresholds())

    assert [(f.user_id, f.detector, f.score) for f in findings] == [(5, "overkill_model", 0.5)]
    assert findings[0].evidence == {
        "summary": (
            "75% of 40 top-tier calls (gpt-4o-2024-08-06) returned at most 20 tokens for prompts of at most "
            "500 tokens, costing $0.30; team median 5%."
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
        "top_tier_calls": 40,
        "trivial_calls": 30,
        "trivial_share": 0.75,
        "trivial_cost_usd": 0.3,
        "models": [TOP],
        "peer_median_trivial_share": 0.05,
        "peer_scope": "team",
        "examples": ["u5-0", "u5-1", "u5-2", "u5-3", "u5-4"],
    }


def test_does_not_flag_small_model_or_real_work_on_a_big_one():
    small = trivial_user(model="gpt-4o-mini", count=200, trivial=200)
    heavy = person(6, 200, model=TOP, prompt_tokens=300, completion_tokens=900)

    findings = detect(peers() + small + heavy, ValueSignals(), WINDOW, Thresholds())

    assert findings == []


def test_thresholds_are_respected():
    events = peers() + trivial_user()

    by_share = detect(events, ValueSignals(), WINDOW, Thresholds(overkill_share=0.8))
    by_list = detect(events, ValueSignals(), WINDOW, Thresholds(overkill_models=("o3",)))
    too_few = detect(peers() + trivial_user(count=29, trivial=29), ValueSignals(), WINDOW, Thresholds(min_events=30))

    assert (by_share, by_list, too_few) == ([], [], [])


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", True),
        ("gpt-4o-2024-08-06", True),
        ("gpt-4o-mini", False),
        ("openai/gpt-4.1", True),
        ("gpt-4.1-nano", False),
        ("claude-opus-4-1-20250805", True),
        ("o3", True),
        ("o3-mini", False),
        ("GPT-5", True),
        ("gpt-5-mini", False),
    ],
)
def test_recognises_top_tier_models(model, expected):
    assert is_top_tier(model, Thresholds().overkill_models) is expected
