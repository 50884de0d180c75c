import json
from dataclasses import replace
from datetime import timedelta

import pytest

from governance.detectors import DETECTORS, Thresholds, ValueSignals, Window, group_events, run_all
from tests.governance.detectors.records import T0, WINDOW, event, person, team


def test_registry_holds_the_nine_detectors():
    assert sorted(DETECTORS) == [
        "mechanical_cadence",
        "overkill_model",
        "padding",
        "period_end_surge",
        "repetition",
        "self_feeding_loop",
        "target_hugging",
        "unread_output",
        "volume_without_value",
    ]


def test_runs_every_detector_and_sorts_findings_by_person():
    repeater = [replace(e, prompt_hash="same") for e in person(6)]
    padder = person(5, 40, prompt_tokens=9_000, completion_tokens=10)

    peers = [e for u in (1, 2, 3, 4) for e in person(u, prompt_tokens=800 + 100 * u)]  # unalike, as people are

    findings = run_all(peers + repeater + padder, ValueSignals(), Thresholds(), window=WINDOW)

    assert [(f.user_id, f.detector) for f in findings] == [(5, "padding"), (6, "repetition")]
    assert all(json.loads(json.dumps(f.evidence)) == f.evidence for f in findings)


def test_runs_only_the_named_detectors():
    repeater = [replace(e, prompt_hash="same") for e in person(6)]

    findings = run_all(team((1, 2, 3, 4)) + repeater, ValueSignals(), only=["padding"], window=WINDOW)

    assert findings == []


def test_rejects_unknown_detector_names():
    with pytest.raises(ValueError, match="unknown detector"):
        run_all([], ValueSignals(), only=["vibes"])


def test_window_defaults_to_the_span_of_the_events():
    repeater = [replace(e, prompt_hash="same") for e in person(6)]

    findings = run_all(repeater, ValueSignals())

    assert [(f.period_start, f.period_end) for f in findings] == [
        (repeater[0].created_at, repeater[-1].created_at + timedelta(microseconds=1))
    ]


def test_groups_successful_calls_in_the_window_by_person_oldest_first():
    late, early = event(1, at=T0 + timedelta(hours=2)), event(2, at=T0 + timedelta(hours=1))
    blocked = event(3, status=429)
    outside = event(4, at=T0 - timedelta(seconds=1))
    other_team = event(5, team_id=2)

    grouped = group_events([late, early, blocked, outside, other_team], WINDOW, min_team_size=4)

    assert {key: [e.request_id for e in p.events] for key, p in grouped.people.items()} == {
        (1, 1): ["u1-2", "u1-1"],
        (1, 2): ["u1-5"],
    }
    assert grouped.people[(1, 1)].times == [(T0 + timedelta(hours=h)).timestamp() for h in (1, 2)]
    assert grouped.people[(1, 1)].total_tokens == 2_400


def test_small_teams_are_compared_with_the_whole_organisation():
    events = [event(0, user_id=u, team_id=1 if u <= 4 else 2) for u in range(1, 8)]

    grouped = group_events(events, Window(T0, T0 + timedelta(days=1)), min_team_size=4)

    assert (grouped.peer_group((1, 1)), grouped.peer_scope((1, 1))) == ([(1, 1), (2, 1), (3, 1), (4, 1)], "team")
    assert (len(grouped.peer_group((5, 2))), grouped.peer_scope((5, 2))) == (7, "organisation")


def test_an_index_from_an_earlier_pass_finds_what_a_fresh_one_finds():
    repeater = [replace(e, prompt_hash="same") for e in person(6)]
    padder = person(5, 40, prompt_tokens=9_000, completion_tokens=10)
    events = [e for u in (1, 2, 3, 4) for e in person(u, prompt_tokens=800 + 100 * u)] + repeater + padder
    earlier = group_events(events, WINDOW, min_team_size=4)
    run_all(events, ValueSignals(), Thresholds(), window=WINDOW, grouped=earlier)  # fills its per-person views
    strict = Thresholds(min_team_size=10, repetition_share=0.9)

    findings = run_all(events, ValueSignals(), strict, window=WINDOW, grouped=earlier)

    assert findings == run_all(events, ValueSignals(), strict, window=WINDOW)
    assert [(f.user_id, f.detector, f.evidence["peer_scope"]) for f in findings] == [
        (5, "padding", "organisation"),
        (6, "repetition", "organisation"),
    ]
    assert earlier.min_team_size == 4
