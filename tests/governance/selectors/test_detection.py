"""The detection selectors (ledger -> detector records) and a whole detection run."""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from governance.detectors import EventRecord, OutcomeRecord, Target, Thresholds
from governance.models import AuditLogEntry, Flag, Policy, UsageTarget
from governance.selectors.detection import (
    detection_events,
    detection_inputs,
    detection_signals,
    detection_thresholds,
    feedback_scores,
    period_ends,
)
from governance.services.flags import detection_run
from governance.services.targets import usage_target_delete, usage_target_save
from tests.factories import TeamFactory, UserFactory
from tests.governance.detectors.records import T0, event
from tests.governance.seed import SINCE, UNTIL, events_store, org_seed
from usage.models import Feedback, Outcome, OutcomeKind, UsageEvent


def by_request(records: list[EventRecord]) -> list[EventRecord]:
    return sorted(records, key=lambda r: r.request_id)


# --- Events ---------------------------------------------------------------------------------------------


def test_loads_the_window_of_the_ledger_as_the_records_it_was_written_from(employee, team):
    inside = [
        event(0, user_id=employee.pk, team_id=team.pk, at=SINCE),
        event(
            1,
            user_id=employee.pk,
            team_id=team.pk,
            at=UNTIL - timedelta(microseconds=1),
            cost_usd=0.00125,
            max_tokens=4096,
            stream=True,
            client_disconnected=True,
            status=429,
            model="gpt-4o",
        ),
    ]
    outside = [
        event(2, user_id=employee.pk, team_id=team.pk, at=SINCE - timedelta(microseconds=1)),
        event(3, user_id=employee.pk, team_id=team.pk, at=UNTIL),
    ]
    events_store(inside + outside)

    records = detection_events(start=SINCE, end=UNTIL)

    assert by_request(records) == inside
    assert all(type(r) is EventRecord for r in records)
    assert records[0].created_at.utcoffset() == timedelta(0)


def test_records_are_frozen(employee, team):
    events_store([event(0, user_id=employee.pk, team_id=team.pk)])

    record = detection_events(start=SINCE, end=UNTIL)[0]

    with pytest.raises(AttributeError):
        record.user_id = 7  # type: ignore[misc]
    assert hash(record) == hash(replace(record))


def test_the_garbage_collector_is_back_on_after_loading(employee, team):
    events_store([event(0, user_id=employee.pk, team_id=team.pk)])

    detection_events(start=SINCE, end=UNTIL)

    assert gc.isenabled()


def test_takes_the_served_model_else_the_requested_one_and_zero_for_missing_fingerprints(employee, team):
    common = {"created_at": T0, "user": employee, "team": team, "endpoint": "chat.completions", "status": 200}
    UsageEvent.objects.create(request_id="served", model_requested="gpt-4o", model_served="gpt-4o-mini", **common)
    UsageEvent.objects.create(request_id="asked", model_requested="gpt-4o", model_served="", **common)

    records = by_request(detection_events(start=SINCE, end=UNTIL))

    assert [
        (r.request_id, r.model, r.cost_usd, r.prompt_simhash, r.output_simhash, r.prompt_hash) for r in records
    ] == [
        ("asked", "gpt-4o", None, 0, 0, ""),
        ("served", "gpt-4o-mini", None, 0, 0, ""),
    ]


def test_leaves_out_calls_without_a_person_or_a_team(employee, team):
    common = {"created_at": T0, "endpoint": "chat.completions", "status": 401}
    UsageEvent.objects.create(request_id="anonymous", **common)
    UsageEvent.objects.create(request_id="no-team", user=employee, **common)
    UsageEvent.objects.create(request_id="attributed", user=employee, team=team, **common)

    records = detection_events(start=SINCE, end=UNTIL)

    assert [r.request_id for r in records] == ["attributed"]


def test_rejects_an_empty_or_naive_window():
    with pytest.raises(ValueError, match="start must be before end"):
        detection_inputs(start=UNTIL, end=UNTIL)
    with pytest.raises(ValueError, match="timezone-aware"):
        detection_inputs(start=datetime(2025, 3, 1), end=UNTIL)


# --- Value signals --------------------------------------------------------------------------------------


def test_feedback_is_normalised_to_plus_minus_one_and_averaged_per_call(employee, team):
    def rate(request_id: str, score: int, scale: str, key_user) -> None:
        Feedback.objects.create(request_id=request_id, user=key_user, team=team, score=score, scale=scale)

    rate("thumbs-up", 1, "binary", employee)
    rate("thumbs-down", -1, "binary", employee)
    rate("five-stars", 5, "five", employee)
    rate("two-stars", 2, "five", employee)
    rate("mixed", 4, "five", employee)
    rate("mixed", -1, "binary", UserFactory(email="bob@example.com"))

    scores = feedback_scores(since=SINCE)

    assert scores == {"thumbs-up": 1.0, "thumbs-down": -1.0, "five-stars": 1.0, "two-stars": -0.5, "mixed": -0.25}
    assert {f.request_id: f.normalised_score for f in Feedback.objects.exclude(request_id="mixed")} == {
        k: v for k, v in scores.items() if k != "mixed"
    }


def test_feedback_given_before_the_window_does_not_count(employee, team):
    Feedback.objects.create(request_id="old", user=employee, team=team, score=1, scale="binary")

    scores = feedback_scores(since=datetime.now(UTC) + timedelta(seconds=5))

    assert scores == {}


def test_outcomes_in_the_window_are_weighted_by_their_kind(employee, team):
    OutcomeKind.objects.create(kind="pr_merged", weight=Decimal("2.5"))
    Outcome.objects.create(
        external_id="a",
        kind="pr_merged",
        user=employee,
        team=team,
        occurred_at=T0,
        value=Decimal("2"),
        request_ids=["r1", "r2"],
    )
    Outcome.objects.create(external_id="b", kind="doc_published", team=team, occurred_at=T0 + timedelta(days=1))
    Outcome.objects.create(external_id="late", kind="pr_merged", user=employee, occurred_at=UNTIL)

    signals = detection_signals(start=SINCE, end=UNTIL)

    assert list(signals.outcomes) == [
        OutcomeRecord(
            user_id=employee.pk, team_id=team.pk, occurred_at=T0, kind="pr_merged", weight=5.0, request_ids=("r1", "r2")
        ),
        OutcomeRecord(
            user_id=None, team_id=team.pk, occurred_at=T0 + timedelta(days=1), kind="doc_published", weight=1.0
        ),
    ]


def test_targets_announced_before_the_window_ends_are_all_read(team):
    UsageTarget.objects.create(
        kind="usage_target", team=team, announced_at=SINCE - timedelta(days=40), tokens_per_day=50_000
    )
    UsageTarget.objects.create(kind="review", announced_at=SINCE + timedelta(days=3))
    UsageTarget.objects.create(kind="review", announced_at=UNTIL)

    signals = detection_signals(start=SINCE, end=UNTIL)

    assert list(signals.targets) == [
        Target(announced_at=SINCE - timedelta(days=40), kind="usage_target", team_id=team.pk, tokens_per_day=50_000),
        Target(announced_at=SINCE + timedelta(days=3), kind="review", team_id=None, tokens_per_day=None),
    ]


def test_period_ends_are_month_boundaries_in_the_organisation_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"

    ends = period_ends(start=datetime(2025, 1, 15, tzinfo=UTC), end=datetime(2025, 3, 31, 22, tzinfo=UTC))

    assert ends == [
        datetime(2025, 1, 31, 23, tzinfo=UTC),
        datetime(2025, 2, 28, 23, tzinfo=UTC),
        datetime(2025, 3, 31, 22, tzinfo=UTC),
    ]


def test_a_window_starting_on_a_boundary_does_not_end_a_period_there(settings):
    settings.TIME_ZONE = "UTC"

    ends = period_ends(start=datetime(2025, 3, 1, tzinfo=UTC), end=datetime(2025, 3, 31, 23, tzinfo=UTC))

    assert ends == []


# --- Thresholds ------------------------------------------------------------------------------------------


def test_team_thresholds_override_the_organisation_key_by_key(team, other_team):
    Policy.objects.create(scope="org", detector_thresholds={"min_events": 10, "repetition_share": 0.5})
    Policy.objects.create(scope="team", team=team, detector_thresholds={"repetition_share": 0.9})

    plan = detection_thresholds()

    assert plan.for_team(team.pk) == Thresholds(min_events=10, repetition_share=0.9)
    assert plan.for_team(other_team.pk) == Thresholds(min_events=10, repetition_share=0.5)
    assert plan.problems == ()


def test_invalid_thresholds_fall_back_and_are_reported(team, other_team):
    Policy.objects.create(scope="org", detector_thresholds={"min_events": 10})
    Policy.objects.create(scope="team", team=team, detector_thresholds={"repetition_share": 3})
    Policy.objects.create(scope="team", team=other_team, detector_thresholds=["not", "a", "mapping"])

    plan = detection_thresholds()

    assert plan.for_team(team.pk) == Thresholds(min_events=10)
    assert plan.for_team(other_team.pk) == Thresholds(min_events=10)
    assert plan.problems == (
        "team platform policy: repetition_share must be in (0, 1]; using the organisation's thresholds",
        "team research policy: expected an object of thresholds, got list; using the organisation's thresholds",
    )


# --- A whole run -------------------------------------------------------------------------------------------


def test_run_flags_the_person_who_repeats_prompts_and_nobody_else(employee, team, manager):
    org_seed(team=team, repeater=employee)

    run = detection_run(start=SINCE, end=UNTIL)

    assert (run.events, run.people, len(run.findings)) == (200, 5, 1)
    assert run.findings_per_detector == {
        "volume_without_value": 0,
        "repetition": 1,
        "mechanical_cadence": 0,
        "padding": 0,
        "period_end_surge": 0,
        "unread_output": 0,
        "self_feeding_loop": 0,
        "target_hugging": 0,
        "overkill_model": 0,
    }
    flag = Flag.objects.get()
    assert run.created == [flag]
    assert (flag.user, flag.team, flag.detector, flag.score, flag.period_start, flag.period_end, flag.state) == (
        employee,
        team,
        "repetition",
        1.5,
        SINCE,
        UNTIL,
        "open",
    )
    assert flag.evidence == {
        "summary": (
            "100% of 40 prompts were repeats or near-duplicates (the same text again, or with a few words "
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
        "repeated_calls": 40,
        "repeated_share": 1.0,
        "simhash_distance": 3,
        "peer_median_repeated_share": 0.0,
        "peer_scope": "team",
        "examples": [f"u{employee.pk}-{n}" for n in range(5)],
    }


def test_a_second_run_over_the_same_window_changes_nothing(employee, team):
    org_seed(team=team, repeater=employee)
    detection_run(start=SINCE, end=UNTIL)

    again = detection_run(start=SINCE, end=UNTIL)

    assert (len(again.findings), again.created, again.updated, again.unchanged) == (1, [], [], 1)
    assert Flag.objects.count() == 1


def test_each_team_is_judged_with_its_own_thresholds(employee, team):
    org_seed(team=team, repeater=employee)
    Policy.objects.create(scope="team", team=team, detector_thresholds={"min_events": 41})

    run = detection_run(start=SINCE, end=UNTIL)

    assert (run.findings, Flag.objects.count()) == ([], 0)


def test_other_teams_keep_the_organisation_thresholds(employee, team):
    org_seed(team=team, repeater=employee)
    Policy.objects.create(scope="team", team=TeamFactory(slug="strict"), detector_thresholds={"min_events": 41})

    run = detection_run(start=SINCE, end=UNTIL)

    assert [(f.user_id, f.detector) for f in run.findings] == [(employee.pk, "repetition")]


def test_a_dry_run_finds_without_raising_flags(employee, team):
    org_seed(team=team, repeater=employee)

    run = detection_run(start=SINCE, end=UNTIL, store=False)

    assert ([f.detector for f in run.findings], run.created, Flag.objects.count()) == (["repetition"], [], 0)
    assert (run.stored, run.unchanged, run.as_dict()["stored"]) == (False, 0, False)


def test_runs_only_the_named_detectors(employee, team):
    org_seed(team=team, repeater=employee)

    run = detection_run(start=SINCE, end=UNTIL, only=["padding"])

    assert (run.findings, run.findings_per_detector) == ([], {"padding": 0})
    with pytest.raises(ValueError, match="unknown detector"):
        detection_run(start=SINCE, end=UNTIL, only=["vibes"])


# --- Announcements ------------------------------------------------------------------------------------------


def test_announcing_a_target_is_validated_and_audited(team, admin):
    target = usage_target_save(
        target=UsageTarget(kind="usage_target", team=team, announced_at=T0, tokens_per_day=80_000), actor=admin
    )
    with pytest.raises(ValidationError):
        usage_target_save(target=UsageTarget(kind="quota", announced_at=T0, tokens_per_day=0), actor=admin)
    usage_target_delete(target=target, actor=admin)

    entries = AuditLogEntry.objects.filter(object_type="governance.UsageTarget").order_by("pk")
    assert [(e.action, e.actor, (e.after or e.before)["tokens_per_day"]) for e in entries] == [
        ("create", admin, 80_000),
        ("delete", admin, 80_000),
    ]
    assert UsageTarget.objects.count() == 0
