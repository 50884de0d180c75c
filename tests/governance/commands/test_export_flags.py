"""``manage.py export_flags --format jsonl``: one flag a line, the public format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from governance.detectors import Finding
from governance.services.flags import flag_review, flags_raise

START = datetime(2025, 3, 3, tzinfo=UTC)
END = datetime(2025, 3, 31, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def export(*args: str) -> list[dict]:
    out = StringIO()
    call_command("export_flags", "--format", "jsonl", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def raise_flag(user, team, detector: str = "repetition"):
    evidence = {"summary": "100% of 40 prompts were repeats.", "calls": 40, "examples": ["r1", "r2"]}
    [flag] = flags_raise(
        findings=[
            Finding(
                user_id=user.pk,
                team_id=team.pk,
                detector=detector,
                score=1.5,
                period_start=START,
                period_end=END,
                evidence=evidence,
            )
        ]
    )[0]
    return flag


def test_prints_each_flag_with_its_reviews(settings, employee, team, manager):
    settings.TIME_ZONE = "Europe/Berlin"
    flag = raise_flag(employee, team)
    review = flag_review(flag=flag, reviewer=manager, action="dismiss", comment="A load test we asked for.")
    flag.refresh_from_db()

    [record] = export()

    assert list(record) == [
        "id",
        "user",
        "team",
        "detector",
        "score",
        "period_start",
        "period_end",
        "evidence",
        "state",
        "created_at",
        "updated_at",
        "reviews",
    ]
    assert record == {
        "id": flag.pk,
        "user": "alice@example.com",
        "team": "platform",
        "detector": "repetition",
        "score": 1.5,
        "period_start": "2025-03-03T01:00:00+01:00",
        "period_end": "2025-03-31T02:00:00+02:00",
        "evidence": {"summary": "100% of 40 prompts were repeats.", "calls": 40, "examples": ["r1", "r2"]},
        "state": "dismissed",
        "created_at": flag.created_at.astimezone(BERLIN).isoformat(),
        "updated_at": flag.updated_at.astimezone(BERLIN).isoformat(),
        "reviews": [
            {
                "action": "dismiss",
                "comment": "A load test we asked for.",
                "reviewer": "maria@example.com",
                "created_at": review.created_at.astimezone(BERLIN).isoformat(),
            }
        ],
    }


def test_one_line_per_flag_oldest_first_and_filters(employee, team, outsider, other_team, manager):
    first = raise_flag(employee, team)
    second = raise_flag(outsider, other_team, "padding")
    flag_review(flag=second, reviewer=manager, action="confirm", comment="")

    everything = export()
    research = export("--team", "research")
    confirmed = export("--state", "confirmed")
    still_open = export("--state", "open")

    assert [(r["id"], r["user"], r["team"], r["detector"], r["state"]) for r in everything] == [
        (first.pk, "alice@example.com", "platform", "repetition", "open"),
        (second.pk, "oscar@example.com", "research", "padding", "confirmed"),
    ]
    assert [r["id"] for r in research] == [second.pk]
    assert [r["id"] for r in confirmed] == [second.pk]
    assert [(r["id"], r["reviews"]) for r in still_open] == [(first.pk, [])]


def test_no_flags_print_nothing(db):
    assert export() == []


def test_rejects_an_unknown_team(db):
    with pytest.raises(CommandError, match="--team: no team with slug 'nope'"):
        export("--team", "nope")
