"""``manage.py detect``: run the detectors on demand and print what they found."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from governance.models import Flag, Policy
from tests.governance.seed import org_seed

ARGS = ("--since", "2025-03-03", "--until", "2025-03-31")


def detect(*args: str) -> tuple[list[str], str]:
    out, err = StringIO(), StringIO()
    call_command("detect", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def findings_lines(repetition: int) -> list[str]:
    return [
        "  volume_without_value  0",
        f"  repetition            {repetition}",
        "  mechanical_cadence    0",
        "  padding               0",
        "  period_end_surge      0",
        "  unread_output         0",
        "  self_feeding_loop     0",
        "  target_hugging        0",
        "  overkill_model        0",
    ]


def test_raises_exactly_one_repetition_flag_with_evidence(settings, employee, team, manager):
    settings.TIME_ZONE = "UTC"
    org_seed(team=team, repeater=employee)

    lines, err = detect(*ARGS)

    assert lines[:-1] == [
        "window 2025-03-03T00:00:00+00:00 .. 2025-03-31T00:00:00+00:00: 200 events, 5 people",
        "findings: 1",
        *findings_lines(1),
        "flags: 1 created, 0 updated, 0 unchanged",
    ]
    assert lines[-1].startswith("took ") and "(load " in lines[-1]
    assert err == ""
    flag = Flag.objects.get()
    assert (flag.user, flag.team, flag.detector, flag.state) == (employee, team, "repetition", "open")
    assert flag.evidence["summary"] == (
        "100% of 40 prompts were repeats or near-duplicates (the same text again, or with a few words changed); "
        "team median 0%."
    )
    assert flag.evidence["examples"] == [f"u{employee.pk}-{n}" for n in range(5)]


def test_a_rerun_raises_no_duplicate(settings, employee, team):
    settings.TIME_ZONE = "UTC"
    org_seed(team=team, repeater=employee)
    detect(*ARGS)

    lines, _ = detect(*ARGS)

    assert lines[-2] == "flags: 0 created, 0 updated, 1 unchanged"
    assert Flag.objects.count() == 1


def test_dates_without_an_offset_are_in_the_organisation_time_zone(settings, employee, team):
    settings.TIME_ZONE = "Europe/Berlin"
    org_seed(team=team, repeater=employee)

    lines, _ = detect(*ARGS)

    assert lines[0] == "window 2025-03-03T00:00:00+01:00 .. 2025-03-31T00:00:00+02:00: 200 events, 5 people"


def test_a_dry_run_raises_nothing(employee, team):
    org_seed(team=team, repeater=employee)

    lines, _ = detect(*ARGS, "--dry-run", "--only", "repetition")

    assert lines[1:4] == ["findings: 1", "  repetition  1", "flags: none raised (--dry-run)"]
    assert Flag.objects.count() == 0


def test_defaults_to_the_trailing_window_up_to_now(employee, team):
    org_seed(team=team, repeater=employee)  # March 2025: long before the trailing 30 days

    lines, _ = detect()

    assert lines[0].endswith(": 0 events, 0 people")
    assert lines[-2] == "flags: 0 created, 0 updated, 0 unchanged"


def test_warns_about_bad_thresholds_in_policy(team):
    Policy.objects.create(scope="team", team=team, detector_thresholds={"volume_z": "high"})

    _, err = detect(*ARGS)

    assert (
        err
        == "warning: team platform policy: volume_z: expected float, got 'high'; using the organisation's thresholds\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "--since: 'yesterday' is not an ISO 8601 date or date-time"),
        (("--since", "2025-03-31", "--until", "2025-03-03"), "--since must be before --until"),
    ],
)
def test_rejects_a_bad_window(db, args, message):
    with pytest.raises(CommandError, match=message):
        detect(*args)
