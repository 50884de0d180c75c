from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from governance.models import Membership, Price, Team
from usage.fingerprints import prompt_hash, simhash64
from usage.interchange import EXPORT_FIELDS
from usage.ledger.ingest import usage_events_ingest
from usage.models import UsageEvent

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
CONTRACT_FIELDS = [
    "request_id",
    "created_at",
    "user",
    "team",
    "endpoint",
    "model",
    "status",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "latency_ms",
    "estimated",
    "purpose",
    "max_tokens",
    "client_disconnected",
]


def export(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_usage", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_import(tmp_path, lines: list, *args: str) -> tuple[str, str, CommandError | None]:
    path = tmp_path / "usage.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    out, err, failure = io.StringIO(), io.StringIO(), None
    try:
        call_command("import_usage", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        failure = exc
    return out.getvalue(), err.getvalue(), failure


@pytest.fixture
def ledger_events(db, employee, team, other_team, outsider, make_event, ledger_stream):
    usage_events_ingest(
        events=[
            make_event(
                request_id="req_1",
                user_id=employee.pk,
                team_id=team.pk,
                stream=True,
                reasoning_tokens=20,
                time_to_first_byte_ms=90,
                max_tokens=800,
                purpose="triage",
                policy_action="allow",
                prompt_hash="ab" * 32,
                prompt_simhash=-5,
                output_simhash=7,
                cache_write_tokens=50,
                client="claude-cli/2.1.3",
                session_id="sess-1",
                agent_id="agent-2",
                parent_agent_id="agent-1",
                request_class="compact",
            ),
            make_event(
                request_id="req_2",
                user_id=employee.pk,
                team_id=team.pk,
                created_at=T0 + timedelta(days=1),
                model_served="llama-3-70b",
                model_requested="llama-3-70b",
                cost_usd=None,
                is_estimated=True,
            ),
            make_event(
                request_id="req_3",
                user_id=outsider.pk,
                team_id=other_team.pk,
                created_at=T0 + timedelta(hours=1),
                status=429,
                error_code="budget_exceeded",
                model_served="",
                provider="",
                prompt_tokens=0,
                completion_tokens=0,
                cached_tokens=0,
                total_tokens=0,
                cost_usd="0",
                client_disconnected=True,
            ),
        ]
    )


FIRST_RECORD = {
    "request_id": "req_1",
    "created_at": "2025-03-10T12:00:00+00:00",
    "user": "alice@example.com",
    "team": "platform",
    "endpoint": "/v1/chat/completions",
    "model": "gpt-4o-mini-2024-07-18",
    "status": 200,
    "stream": True,
    "prompt_tokens": 1000,
    "completion_tokens": 200,
    "cached_tokens": 400,
    "reasoning_tokens": 20,
    "total_tokens": 1200,
    "cost_usd": 0.00024,
    "latency_ms": 850,
    "estimated": False,
    "purpose": "triage",
    "max_tokens": 800,
    "client_disconnected": False,
    "model_requested": "gpt-4o-mini",
    "model_served": "gpt-4o-mini-2024-07-18",
    "provider": "openai",
    "error_code": "",
    "time_to_first_byte_ms": 90,
    "policy_action": "allow",
    "prompt_hash": "ab" * 32,
    "prompt_simhash": -5,
    "output_simhash": 7,
    "cache_write_tokens": 50,
    "client": "claude-cli/2.1.3",
    "session_id": "sess-1",
    "agent_id": "agent-2",
    "parent_agent_id": "agent-1",
    "request_class": "compact",
}


def test_exports_json_lines_in_time_order_with_the_contract_fields_first(ledger_events):
    out, err = export("--format", "jsonl")

    records = [json.loads(line) for line in out.splitlines()]
    assert err == ""
    assert [record["request_id"] for record in records] == ["req_1", "req_3", "req_2"]
    assert list(records[0])[: len(CONTRACT_FIELDS)] == CONTRACT_FIELDS
    assert records[0] == FIRST_RECORD
    assert (records[1]["model"], records[1]["status"], records[1]["cost_usd"], records[1]["user"]) == (
        "gpt-4o-mini",
        429,
        0.0,
        "oscar@example.com",
    )
    assert (records[2]["cost_usd"], records[2]["estimated"]) == (None, True)


def test_exports_csv_with_empty_cells_for_unknown_values(ledger_events):
    out, _ = export("--format", "csv")

    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == list(EXPORT_FIELDS)
    assert rows[0][: len(CONTRACT_FIELDS)] == CONTRACT_FIELDS
    assert rows[1] == [
        "req_1",
        "2025-03-10T12:00:00+00:00",
        "alice@example.com",
        "platform",
        "/v1/chat/completions",
        "gpt-4o-mini-2024-07-18",
        "200",
        "true",
        "1000",
        "200",
        "400",
        "20",
        "1200",
        "0.00024",
        "850",
        "false",
        "triage",
        "800",
        "false",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "openai",
        "",
        "90",
        "allow",
        "ab" * 32,
        "-5",
        "7",
        "50",
        "claude-cli/2.1.3",
        "sess-1",
        "agent-2",
        "agent-1",
        "compact",
    ]
    assert (rows[3][0], rows[3][13], rows[3][17]) == ("req_2", "", "")
    assert len(rows) == 4


def test_exports_times_with_the_organisation_offset(ledger_events, settings):
    settings.TIME_ZONE = "Europe/Paris"

    out, _ = export()

    assert json.loads(out.splitlines()[0])["created_at"] == "2025-03-10T13:00:00+01:00"


def test_filters_by_team_and_time_window(ledger_events, settings):
    settings.TIME_ZONE = "Europe/Paris"

    by_team, _ = export("--team", "platform")
    by_date, _ = export("--since", "2025-03-11")  # midnight in Paris = 2025-03-10T23:00Z
    window, _ = export("--since", "2025-03-10T13:30", "--until", "2025-03-11T12:00:00+00:00")
    upto, _ = export("--until", "2025-03-10T12:00:00Z")

    def ids(text):
        return [json.loads(line)["request_id"] for line in text.splitlines()]

    assert ids(by_team) == ["req_1", "req_2"]
    assert ids(by_date) == ["req_2"]
    assert ids(window) == ["req_3"]
    assert ids(upto) == []


def test_rejects_bad_dates_and_unknown_teams(ledger_events):
    with pytest.raises(CommandError, match=r"--since: '2025-13-01' is not an ISO 8601 date or date-time"):
        export("--since", "2025-13-01")
    with pytest.raises(CommandError, match=r"--until: 'yesterday' is not an ISO 8601"):
        export("--until", "yesterday")
    with pytest.raises(CommandError, match=r"--team: no team with slug 'nope'"):
        export("--team", "nope")


def test_progress_goes_to_stderr_only(ledger_events):
    out, err = export("--progress")

    assert len(out.splitlines()) == 3
    assert "3/3" in err
    assert "req_1" not in err


def test_import_round_trips_an_export(ledger_events, tmp_path):
    exported, _ = export()
    UsageEvent.objects.all().delete()

    out, err, failure = run_import(tmp_path, exported.splitlines())

    assert (out, err, failure) == (
        "imported 3 new events (0 already present) from 3 lines; 0 bad lines skipped\n",
        "",
        None,
    )
    assert export()[0] == exported


def test_reimport_inserts_nothing(ledger_events, tmp_path):
    exported, _ = export()

    out, _, failure = run_import(tmp_path, exported.splitlines())

    assert (out, failure) == ("imported 0 new events (3 already present) from 3 lines; 0 bad lines skipped\n", None)
    assert UsageEvent.objects.count() == 3


def test_import_creates_people_teams_and_memberships(db, tmp_path, ledger_stream):
    record = {
        "request_id": "req_new",
        "created_at": "2025-03-10T12:00:00Z",
        "user": "Bob@Example.com",
        "team": "data-science",
        "endpoint": "/v1/embeddings",
        "model": "text-embedding-3-small",
        "status": 200,
        "prompt_tokens": 100,
        "total_tokens": 100,
        "cost_usd": 0.000002,
    }

    _, _, failure = run_import(tmp_path, [record])

    event = UsageEvent.objects.select_related("user", "team").get(request_id="req_new")
    assert failure is None
    assert (event.user.email, event.team.slug, event.cost_usd, event.model_requested) == (
        "bob@example.com",
        "data-science",
        Decimal("0.00000200"),
        "text-embedding-3-small",
    )
    assert Membership.objects.filter(user=event.user, team=event.team, role="member").count() == 1


def test_import_fingerprints_text_and_discards_it(db, tmp_path, ledger_stream):
    prompt = "Summarise the incident report for the weekly review."
    record = {
        "request_id": "req_text",
        "created_at": "2025-03-10T12:00:00+00:00",
        "endpoint": "/v1/chat/completions",
        "model": "gpt-4o",
        "status": 200,
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "prompt": prompt,
        "output": "The outage lasted 12 minutes.",
        "prompt_hash": "ignored",
    }
    messages = {**record, "request_id": "req_msgs", "prompt": [{"role": "user", "content": prompt}]}

    run_import(tmp_path, [record, messages])

    event = UsageEvent.objects.get(request_id="req_text")
    assert (event.prompt_hash, event.prompt_simhash, event.output_simhash) == (
        prompt_hash(prompt),
        simhash64(prompt),
        simhash64("The outage lasted 12 minutes."),
    )
    assert (event.prompt_text, event.output_text, event.total_tokens) == (None, None, 42)
    assert UsageEvent.objects.get(request_id="req_msgs").prompt_hash == prompt_hash(prompt)


def test_import_costs_missing_prices_at_the_price_valid_then(db, tmp_path, ledger_stream):
    Price.objects.create(
        model="gpt-4o",
        input_per_mtok=Decimal("5"),
        output_per_mtok=Decimal("15"),
        valid_from=datetime(2025, 6, 1, tzinfo=UTC),
    )
    base = {"endpoint": "/v1/chat/completions", "status": 200, "prompt_tokens": 1000, "completion_tokens": 100}

    run_import(
        tmp_path,
        [
            {**base, "request_id": "req_old", "created_at": "2025-03-10T12:00:00+00:00", "model": "gpt-4o-2024-08-06"},
            {**base, "request_id": "req_new", "created_at": "2025-07-01T12:00:00+00:00", "model": "gpt-4o"},
            {**base, "request_id": "req_ancient", "created_at": "2023-01-01T00:00:00+00:00", "model": "gpt-4o"},
            {**base, "request_id": "req_unpriced", "created_at": "2025-03-10T12:00:00+00:00", "model": "llama-3-70b"},
            {
                **base,
                "request_id": "req_nothing",
                "created_at": "2025-03-10T12:00:00+00:00",
                "model": "llama-3-70b",
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "status": 403,
            },
        ],
    )

    costs = dict(UsageEvent.objects.values_list("request_id", "cost_usd"))
    assert costs == {
        "req_old": Decimal("0.00350000"),
        "req_new": Decimal("0.00650000"),
        "req_ancient": None,
        "req_unpriced": None,
        "req_nothing": Decimal("0E-8"),
    }
    assert (
        UsageEvent.objects.get(request_id="req_new").price_id
        == Price.objects.get(model="gpt-4o", valid_from=datetime(2025, 6, 1, tzinfo=UTC)).pk
    )


def test_import_reads_naive_times_in_the_organisation_time_zone(db, tmp_path, ledger_stream, settings):
    settings.TIME_ZONE = "America/New_York"

    run_import(
        tmp_path,
        [{"request_id": "req_ny", "created_at": "2025-03-10T08:00:00", "endpoint": "/v1/models", "status": 200}],
    )

    assert UsageEvent.objects.get(request_id="req_ny").created_at == datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


GOOD = {
    "request_id": "req_ok",
    "created_at": "2025-03-10T12:00:00+00:00",
    "endpoint": "/v1/chat/completions",
    "model": "gpt-4o",
    "status": 200,
}


def test_import_reports_and_skips_bad_lines(db, tmp_path, ledger_stream):
    lines = [
        GOOD,
        "{broken",
        {**GOOD, "request_id": "req_bad_user", "user": "not-an-email"},
        {**GOOD, "request_id": "req_bad_tokens", "user": "carol@example.com", "prompt_tokens": -3},
        "",
        {**GOOD, "request_id": "req_ok2"},
        {**GOOD, "request_id": "req_no_time", "created_at": "tomorrow"},
        {**GOOD, "request_id": ""},
        ["a", "list"],
        {**GOOD, "request_id": "req_ok3", "status": "200"},
        {**GOOD, "request_id": "req_cost", "cost_usd": "free"},
    ]

    out, err, failure = run_import(tmp_path, lines)

    assert err.splitlines() == [
        "line 2: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        "line 3: user: 'not-an-email' is not an e-mail address",
        "line 4: prompt_tokens: must be between 0 and 2147483647",
        "line 7: created_at: 'tomorrow' is not an ISO 8601 date-time",
        "line 8: request_id: must not be empty",
        "line 9: a line must be a JSON object",
        "line 10: status: must be an integer",
        "line 11: cost_usd: 'free' is not a number",
    ]
    assert out == "imported 2 new events (0 already present) from 10 lines; 8 bad lines skipped\n"
    assert str(failure) == "8 bad lines skipped"
    assert sorted(UsageEvent.objects.values_list("request_id", flat=True)) == ["req_ok", "req_ok2"]
    assert not get_user_model().objects.filter(email="carol@example.com").exists()


def test_strict_import_stops_at_the_first_bad_line(db, tmp_path, ledger_stream):
    lines = [GOOD, {**GOOD, "request_id": "x" * 41}, {**GOOD, "request_id": "req_after", "team": "late"}]

    out, err, failure = run_import(tmp_path, lines, "--strict")

    assert err == "line 2: request_id: longer than 40 characters\n"
    assert str(failure) == "stopped at line 2 (--strict)"
    assert list(UsageEvent.objects.values_list("request_id", flat=True)) == ["req_ok"]
    assert not Team.objects.filter(slug="late").exists()


def test_import_reads_stdin(db, monkeypatch, ledger_stream):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO((json.dumps(GOOD) + "\n").encode())))
    out = io.StringIO()

    call_command("import_usage", "-", stdout=out, stderr=io.StringIO())

    assert out.getvalue() == "imported 1 new events (0 already present) from 1 lines; 0 bad lines skipped\n"
    assert UsageEvent.objects.filter(request_id="req_ok").exists()


def test_import_of_a_missing_file_fails_clearly(db, tmp_path):
    with pytest.raises(CommandError, match=r"cannot read .*missing.jsonl: No such file or directory"):
        call_command("import_usage", str(tmp_path / "missing.jsonl"))


def test_import_progress_goes_to_stderr_only(db, tmp_path, ledger_stream):
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    out, err = io.StringIO(), io.StringIO()

    call_command("import_usage", str(path), "--progress", stdout=out, stderr=err)

    assert out.getvalue() == "imported 1 new events (0 already present) from 1 lines; 0 bad lines skipped\n"
    assert "import: 100%" in err.getvalue()
