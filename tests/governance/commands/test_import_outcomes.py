"""``manage.py import_outcomes FILE.jsonl``: outcomes from integrations, all lines or none."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories import UserFactory
from usage.models import Outcome, OutcomeRequest

LINES = [
    {
        "external_id": "gh-pr-101",
        "kind": "pr_merged",
        "user": "Alice@Example.com",
        "team": "platform",
        "occurred_at": "2025-03-04T10:15:00+00:00",
        "value": 2,
        "request_ids": ["req_a", "req_b", "req_a"],
    },
    {"external_id": "jira-7", "kind": "ticket_resolved", "team": "platform", "occurred_at": "2025-03-05T09:00:00"},
    {
        "external_id": "wiki-3",
        "kind": "doc_published",
        "user": "alice@example.com",
        "occurred_at": "2025-03-06T12:00:00+01:00",
        "value": "0.5",
    },
]


def write(tmp_path, lines: list) -> str:
    path = tmp_path / "outcomes.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_outcomes", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def outcomes() -> list[tuple]:
    return list(
        Outcome.objects.order_by("external_id").values_list(
            "external_id", "kind", "user__email", "team__slug", "occurred_at", "value", "request_ids", "source"
        )
    )


def test_imports_every_line(settings, tmp_path, employee, team):
    settings.TIME_ZONE = "Europe/Berlin"

    out, err = run(write(tmp_path, LINES))

    assert (out, err) == ("imported 3 new outcomes (0 already present) from 3 lines\n", "")
    assert outcomes() == [
        (
            "gh-pr-101",
            "pr_merged",
            "alice@example.com",
            "platform",
            datetime(2025, 3, 4, 10, 15, tzinfo=UTC),
            Decimal("2.0000"),
            ["req_a", "req_b"],
            "import_outcomes",
        ),
        (
            "jira-7",
            "ticket_resolved",
            None,
            "platform",
            datetime(2025, 3, 5, 8, 0, tzinfo=UTC),
            Decimal("1.0000"),
            [],
            "import_outcomes",
        ),
        (
            "wiki-3",
            "doc_published",
            "alice@example.com",
            None,
            datetime(2025, 3, 6, 11, 0, tzinfo=UTC),
            Decimal("0.5000"),
            [],
            "import_outcomes",
        ),
    ]
    assert sorted(OutcomeRequest.objects.values_list("outcome__external_id", "request_id")) == [
        ("gh-pr-101", "req_a"),
        ("gh-pr-101", "req_b"),
    ]


def test_a_second_import_is_idempotent_on_external_id(tmp_path, employee, team):
    path = write(tmp_path, LINES)
    run(path)
    changed = dict(LINES[0], value=9)

    out, _ = run(write(tmp_path, [changed, *LINES[1:]]))

    assert out == "imported 0 new outcomes (3 already present) from 3 lines\n"
    assert Outcome.objects.get(external_id="gh-pr-101").value == Decimal("2.0000")
    assert Outcome.objects.count() == 3


def test_bad_lines_are_reported_by_number_and_nothing_is_imported(tmp_path, employee, team, outsider):
    lines = [
        LINES[0],
        "{not json",
        "",
        {"external_id": "x1", "kind": "pr merged", "team": "platform", "occurred_at": "2025-03-04T10:00:00Z"},
        {"external_id": "x2", "kind": "pr_merged", "occurred_at": "2025-03-04T10:00:00Z"},
        {"external_id": "x3", "kind": "pr_merged", "user": "nobody@example.com", "occurred_at": "2025-03-04"},
        {"external_id": "x4", "kind": "pr_merged", "team": "ghosts", "occurred_at": "2025-03-04"},
        {
            "external_id": "x5",
            "kind": "pr_merged",
            "user": "oscar@example.com",
            "team": "platform",
            "occurred_at": "2025-03-04",
        },
        {"external_id": "x6", "kind": "pr_merged", "team": "platform", "occurred_at": "last tuesday"},
        {"external_id": "x7", "kind": "pr_merged", "team": "platform", "occurred_at": "2025-03-04", "value": -1},
        {
            "external_id": "x8",
            "kind": "pr_merged",
            "team": "platform",
            "occurred_at": "2025-03-04",
            "request_ids": "req_a",
        },
        {"kind": "pr_merged", "team": "platform", "occurred_at": "2025-03-04"},
        {"external_id": "x9", "kind": "pr_merged", "team": "platform", "occurred_at": "2025-03-04", "when": 1},
        [1, 2],
        LINES[1],
    ]

    with pytest.raises(CommandError, match="^12 bad lines of 14; nothing imported$"):
        run(write(tmp_path, lines))

    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_outcomes", write(tmp_path, lines), stdout=StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "line 2: not valid JSON (Expecting property name enclosed in double quotes at character 2)",
        "line 4: kind: 'pr merged' must be a slug (letters, digits, '_' or '-')",
        "line 5: an outcome needs a user (e-mail) or a team (slug)",
        "line 6: user: no person with e-mail 'nobody@example.com'",
        "line 7: team: no team with slug 'ghosts'",
        "line 8: user: oscar@example.com is not a member of team platform",
        "line 9: occurred_at: 'last tuesday' is not an ISO 8601 date-time",
        "line 10: value: must be between 0 and 99999999.9999",
        "line 11: request_ids: must be a list of request ids (strings of 1 to 40 characters)",
        "line 12: external_id: required, must be a non-empty string",
        "line 13: unknown field(s): when",
        "line 14: not a JSON object",
    ]
    assert Outcome.objects.count() == 0


def test_reads_stdin_for_a_dash(monkeypatch, employee, team):
    data = "".join(json.dumps(line) + "\n" for line in LINES).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    out, _ = run("-")

    assert out == "imported 3 new outcomes (0 already present) from 3 lines\n"


def test_shows_progress_on_stderr_when_asked(tmp_path, employee, team):
    out, err = run(write(tmp_path, LINES), "--progress")

    assert out == "imported 3 new outcomes (0 already present) from 3 lines\n"
    assert "import_outcomes: 100%" in err


def test_a_missing_file_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="cannot read .*missing.jsonl: No such file or directory"):
        run(str(tmp_path / "missing.jsonl"))


def test_people_are_found_by_e_mail_whatever_the_case(tmp_path, team):
    UserFactory(email="Bob@Example.com")

    run(
        write(
            tmp_path,
            [
                {
                    "external_id": "b1",
                    "kind": "pr_merged",
                    "user": "bob@EXAMPLE.com",
                    "occurred_at": "2025-03-04T10:00:00Z",
                }
            ],
        )
    )

    assert Outcome.objects.get().user.email == "Bob@Example.com"
