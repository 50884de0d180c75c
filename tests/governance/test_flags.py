"""Flags: raising them from findings (de-duplicated), reviewing them (audited), telling people, the task."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.conf import settings
from django.core import mail

from config.celery import app
from governance.detectors import Finding
from governance.models import AuditLogEntry, Flag, FlagReview, Membership
from governance.selectors.flags import flags_for_person
from governance.services.flag_notify import flag_notify
from governance.services.flags import flag_next_state, flag_review, flags_raise
from governance.tasks import flag_notify_task, flags_detect_task
from tests.factories import UserFactory
from tests.governance.detectors.records import OFFICE_MINUTES
from tests.governance.seed import SINCE, UNTIL, org_seed


@pytest.fixture(autouse=True)
def isolated_cache(settings, request):
    """Each test its own cache, so the once-per-flag e-mail marker never leaks between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"tw-flags-{request.node.nodeid}",
        }
    }


@pytest.fixture
def eager_tasks():
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def finding(
    user,
    team,
    *,
    detector: str = "repetition",
    score: float = 1.5,
    start: datetime = SINCE,
    end: datetime = UNTIL,
    summary: str = "80% of 40 prompts were repeats.",
) -> Finding:
    return Finding(
        user_id=user.pk,
        team_id=team.pk,
        detector=detector,
        score=score,
        period_start=start,
        period_end=end,
        evidence={"summary": summary, "calls": 40},
    )


def stored(flag: Flag) -> tuple:
    flag.refresh_from_db()
    return flag.state, flag.score, flag.period_start, flag.period_end, flag.evidence["summary"]


# --- Raising -------------------------------------------------------------------------------------------


def test_creates_one_flag_per_finding_and_audits_it(employee, team):
    created, updated = flags_raise(findings=[finding(employee, team), finding(employee, team, detector="padding")])

    assert [(f.detector, f.state, f.score) for f in created] == [("padding", "open", 1.5), ("repetition", "open", 1.5)]
    assert updated == []
    assert list(AuditLogEntry.objects.order_by("pk").values_list("action", "actor_label", "object_id")) == [
        ("raise", "detection", str(created[0].pk)),
        ("raise", "detection", str(created[1].pk)),
    ]


def test_the_same_findings_again_raise_nothing(employee, team):
    flags_raise(findings=[finding(employee, team)])

    created, updated = flags_raise(findings=[finding(employee, team)])

    assert (created, updated, Flag.objects.count()) == ([], [], 1)


def test_a_later_overlapping_finding_updates_the_open_flag(employee, team):
    [flag] = flags_raise(findings=[finding(employee, team)])[0]
    later = finding(
        employee,
        team,
        score=2.0,
        start=SINCE + timedelta(hours=1),
        end=UNTIL + timedelta(hours=1),
        summary="90% of 41 prompts were repeats.",
    )

    created, updated = flags_raise(findings=[later])

    assert (created, [f.pk for f in updated]) == ([], [flag.pk])
    assert stored(flag) == ("open", 2.0, SINCE, UNTIL + timedelta(hours=1), "90% of 41 prompts were repeats.")
    assert Flag.objects.count() == 1


@pytest.mark.parametrize("action", ["acknowledge", "dismiss", "confirm"])
def test_a_reviewed_flag_is_never_reopened_nor_changed(employee, team, manager, action):
    [flag] = flags_raise(findings=[finding(employee, team)])[0]
    flag_review(flag=flag, reviewer=manager, action=action, comment="Seen.")
    state = flag.state
    later = finding(employee, team, score=9.0, start=SINCE + timedelta(days=1), end=UNTIL + timedelta(days=1))

    created, updated = flags_raise(findings=[later])

    assert (created, updated) == ([], [])
    assert stored(flag) == (state, 1.5, SINCE, UNTIL, "80% of 40 prompts were repeats.")


def test_a_finding_past_a_reviewed_period_raises_a_new_flag(employee, team, manager):
    [flag] = flags_raise(findings=[finding(employee, team)])[0]
    flag_review(flag=flag, reviewer=manager, action="dismiss", comment="A load test, agreed beforehand.")

    created, _ = flags_raise(findings=[finding(employee, team, start=UNTIL, end=UNTIL + timedelta(days=28))])

    assert [(f.state, f.period_start) for f in created] == [("open", UNTIL)]
    assert Flag.objects.count() == 2


def test_other_people_teams_and_detectors_get_flags_of_their_own(employee, team, other_team, outsider):
    flags_raise(findings=[finding(employee, team)])

    created, _ = flags_raise(
        findings=[
            finding(outsider, other_team),
            finding(employee, team, detector="padding"),
            finding(employee, other_team),
        ]
    )

    assert len(created) == 3
    assert Flag.objects.count() == 4


def test_findings_about_people_or_teams_gone_from_the_organisation_are_skipped(employee, team):
    ghost = Finding(
        user_id=employee.pk + 1000,
        team_id=team.pk,
        detector="repetition",
        score=1.5,
        period_start=SINCE,
        period_end=UNTIL,
        evidence={"summary": "gone"},
    )

    created, updated = flags_raise(findings=[ghost, finding(employee, team)])

    assert [(f.user, f.detector) for f in created] == [(employee, "repetition")]
    assert (updated, Flag.objects.count()) == ([], 1)


def test_two_overlapping_findings_in_one_call_make_one_flag(employee, team):
    created, updated = flags_raise(
        findings=[
            finding(employee, team, end=UNTIL + timedelta(days=1), score=2.0, summary="second"),
            finding(employee, team),
        ]
    )

    assert [(f.period_start, f.period_end, f.score, f.evidence["summary"]) for f in created] == [
        (SINCE, UNTIL + timedelta(days=1), 2.0, "second")
    ]
    assert (updated, Flag.objects.count()) == ([], 1)


# --- Reviewing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action", "after"),
    [
        ("open", "acknowledge", "acknowledged"),
        ("open", "dismiss", "dismissed"),
        ("open", "confirm", "confirmed"),
        ("open", "comment", "open"),
        ("acknowledged", "acknowledge", "acknowledged"),
        ("acknowledged", "dismiss", "dismissed"),
        ("acknowledged", "confirm", "confirmed"),
        ("confirmed", "dismiss", "dismissed"),
        ("dismissed", "confirm", "confirmed"),
        ("dismissed", "acknowledge", "dismissed"),
        ("confirmed", "acknowledge", "confirmed"),
        ("confirmed", "comment", "confirmed"),
    ],
)
def test_review_transitions(state, action, after):
    assert flag_next_state(state=state, action=action) == after


def test_a_review_moves_the_state_and_is_audited(employee, team, manager):
    [flag] = flags_raise(findings=[finding(employee, team)])[0]

    review = flag_review(flag=flag, reviewer=manager, action="confirm", comment="  Scripted to hit the target.  ")

    assert (review.action, review.comment, review.reviewer, flag.state) == (
        "confirm",
        "Scripted to hit the target.",
        manager,
        "confirmed",
    )
    assert Flag.objects.get().state == "confirmed"
    entry = AuditLogEntry.objects.get(action="confirm")
    assert (
        entry.actor,
        entry.object_type,
        entry.object_id,
        entry.before["state"],
        entry.after["state"],
        entry.after["comment"],
    ) == (manager, "governance.Flag", str(flag.pk), "open", "confirmed", "Scripted to hit the target.")


def test_every_review_is_audited_in_order(employee, team, manager):
    [flag] = flags_raise(findings=[finding(employee, team)])[0]

    flag_review(flag=flag, reviewer=manager, action="acknowledge", comment="Looking into it.")
    flag_review(flag=flag, reviewer=manager, action="comment", comment="Asked Alice about her script.")
    flag_review(flag=flag, reviewer=manager, action="dismiss", comment="A regression suite; legitimate.")

    entries = AuditLogEntry.objects.filter(object_type="governance.Flag").exclude(action="raise").order_by("pk")
    assert [(e.action, e.before["state"], e.after["state"]) for e in entries] == [
        ("acknowledge", "open", "acknowledged"),
        ("comment", "acknowledged", "acknowledged"),
        ("dismiss", "acknowledged", "dismissed"),
    ]
    assert list(FlagReview.objects.values_list("action", flat=True)) == ["acknowledge", "comment", "dismiss"]


@pytest.mark.parametrize("persona", ["manager", "admin"])
def test_nobody_reviews_a_flag_about_themselves(request, team, persona):
    from governance.exceptions import SelfReviewRefused

    person = request.getfixturevalue(persona)
    Membership.objects.get_or_create(user=person, team=team)
    [flag] = flags_raise(findings=[finding(person, team)])[0]

    with pytest.raises(SelfReviewRefused):
        flag_review(flag=flag, reviewer=person, action="dismiss", comment="Mine, and fine.")

    assert (FlagReview.objects.count(), Flag.objects.get().state) == (0, "open")
    assert not AuditLogEntry.objects.filter(action="dismiss").exists()


def test_a_comment_needs_text_and_unknown_actions_are_refused(employee, team, manager):
    [flag] = flags_raise(findings=[finding(employee, team)])[0]

    with pytest.raises(ValueError, match="needs a comment"):
        flag_review(flag=flag, reviewer=manager, action="comment", comment="  ")
    with pytest.raises(ValueError, match="unknown review action"):
        flag_review(flag=flag, reviewer=manager, action="escalate", comment="")

    assert (FlagReview.objects.count(), Flag.objects.get().state) == (0, "open")
    assert not AuditLogEntry.objects.exclude(action="raise").exists()


def test_the_person_flagged_sees_the_decision_and_the_comments(employee, team, manager):
    [flag] = flags_raise(findings=[finding(employee, team)])[0]
    flag_review(flag=flag, reviewer=manager, action="acknowledge", comment="Let's talk on Monday.")
    flag_review(flag=flag, reviewer=manager, action="dismiss", comment="Fine: you were testing the cache.")

    [view] = flags_for_person(user=employee)

    assert (view.id, view.status, view.summary) == (flag.pk, "dismissed", "80% of 40 prompts were repeats.")
    assert [(e.action, e.comment) for e in view.history] == [
        ("raised", ""),
        ("acknowledged", "Let's talk on Monday."),
        ("dismissed as legitimate", "Fine: you were testing the cache."),
    ]
    assert flags_for_person(user=manager) == []


# --- Telling people --------------------------------------------------------------------------------------


def test_a_new_flag_is_mailed_to_the_managers_and_the_person_after_commit(
    employee, team, manager, eager_tasks, django_capture_on_commit_callbacks
):
    second = UserFactory(email="mo@example.com")
    Membership.objects.create(user=second, team=team, role=Membership.Role.MANAGER)
    retired = UserFactory(email="old@example.com", is_active=False)
    Membership.objects.create(user=retired, team=team, role=Membership.Role.MANAGER)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        [flag] = flags_raise(findings=[finding(employee, team)])[0]
        assert mail.outbox == []

    assert len(callbacks) == 1
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["maria@example.com", "mo@example.com"], "Tokenwise flag: Repetition - alice@example.com in platform"),
        (["alice@example.com"], "Tokenwise: a usage pattern of yours was flagged (Repetition)"),
    ]
    review_url = f"{settings.TOKENWISE_BASE_URL.rstrip('/')}/flags/{flag.pk}/"
    assert review_url in mail.outbox[0].body
    assert "80% of 40 prompts were repeats." in mail.outbox[0].body
    assert review_url not in mail.outbox[1].body
    assert f"{settings.TOKENWISE_BASE_URL.rstrip('/')}/me/" in mail.outbox[1].body


def test_updates_are_not_mailed_again(employee, team, manager, eager_tasks, django_capture_on_commit_callbacks):
    flags_raise(findings=[finding(employee, team)])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        flags_raise(findings=[finding(employee, team, score=3.0)])

    assert (callbacks, mail.outbox) == ([], [])


def test_a_flag_is_mailed_once_even_when_the_task_runs_twice(employee, team, manager):
    [flag] = flags_raise(findings=[finding(employee, team)])[0]

    sent = [flag_notify_task(flag.pk), flag_notify_task(flag.pk)]

    assert (sent, len(mail.outbox)) == ([2, 0], 2)


def test_a_manager_flagged_is_not_mailed_as_a_reviewer(team, manager):
    [flag] = flags_raise(findings=[finding(manager, team)])[0]

    sent = flag_notify(flag=flag)

    assert (sent, [m.to for m in mail.outbox]) == (1, [["maria@example.com"]])
    assert mail.outbox[0].subject == "Tokenwise: a usage pattern of yours was flagged (Repetition)"


def test_the_task_skips_a_flag_deleted_meanwhile(db):
    assert flag_notify_task(987654) == 0


# --- The hourly task -----------------------------------------------------------------------------------


def test_detection_runs_hourly_from_celery_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["governance-flags-detect"]

    assert (entry["task"], entry["schedule"]) == ("governance.tasks.flags_detect_task", 3600.0)
    assert entry["task"] == flags_detect_task.name
    assert settings.TOKENWISE_DETECTION_WINDOW_DAYS == 30


def test_the_task_runs_the_detectors_over_the_trailing_window(employee, team, manager):
    first_day = (datetime.now(SINCE.tzinfo) - timedelta(days=10)).date()
    times = [
        datetime.combine(first_day + timedelta(days=n // len(OFFICE_MINUTES)), time(9), tzinfo=SINCE.tzinfo)
        + timedelta(minutes=OFFICE_MINUTES[n % len(OFFICE_MINUTES)])
        for n in range(40)
    ]
    org_seed(team=team, repeater=employee, times=times)

    summary = flags_detect_task()
    again = flags_detect_task()

    flag = Flag.objects.get()
    assert (flag.user, flag.detector, flag.state) == (employee, "repetition", "open")
    assert (summary["events"], summary["findings"], summary["created"]) == (200, 1, 1)
    assert summary["findings_per_detector"]["repetition"] == 1
    assert (again["created"], again["updated"], again["findings"]) == (0, 1, 1)  # the same flag, extended
    assert (flag.period_start.isoformat(), flag.period_end.isoformat()) == (summary["start"], again["end"])
    assert datetime.fromisoformat(summary["end"]) - flag.period_start == timedelta(days=30)
