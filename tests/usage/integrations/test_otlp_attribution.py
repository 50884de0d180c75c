"""Whose value a data point is: with a team's service token, the team member its ``user.email`` names
(or whose proxied calls carry its ``session.id``); with a person's own ``tw-`` key, that person only.
And which calls it is linked to: the session's, when Claude Code's calls through the proxy carried the
same ``session.id`` - those recorded when the point came, and those the ledger records after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from governance.services.api_tokens import api_token_create
from governance.services.keys import key_create
from tests.usage.integrations.conftest import claude_code_meter, otlp_post, otlp_request
from usage.ledger.event_record import UsageEventData
from usage.ledger.ingest import usage_events_ingest
from usage.models import Outcome, OutcomeRequest, UsageEvent
from usage.value import outcome_record

COMMITS = "claude_code.commit.count"
NO_MEMBER = "no member of the credential's team matches the point's user.email or session.id"


def _commits(**by_person: int) -> InMemoryMetricReader:
    """One export of Claude Code's commit counter: ``n`` commits per ``(user.email, session.id)`` given as
    ``"email|session"=n`` (either may be empty: the attribute is then not sent)."""
    reader = InMemoryMetricReader()
    counter = claude_code_meter(reader).create_counter(COMMITS)
    for who, count in by_person.items():
        email, session = who.split("|")
        counter.add(count, {name: value for name, value in (("user.email", email), ("session.id", session)) if value})
    return reader


def _by_person() -> dict[str, int]:
    return {o.user.email: int(o.value) for o in Outcome.objects.select_related("user")}


@pytest.fixture
def service_token(manager, team):
    return api_token_create(user=manager, name="telemetry collector", scopes=["post_outcomes"], team=team)


def _proxied_calls(live_proxy, ledger, secret: str, session: str, count: int = 2) -> list[str]:
    """Calls through the proxy's Messages API as Claude Code makes them (its session header); their ids."""
    for _ in range(count):
        response = httpx.post(
            f"{live_proxy.url}/v1/messages",
            timeout=10,
            headers={
                "Authorization": f"Bearer {secret}",
                "anthropic-version": "2023-06-01",
                "X-Claude-Code-Session-Id": session,
                "User-Agent": "claude-cli/2.1.332 (external, cli)",
            },
            json={"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.status_code == 200, response.text
    ledger.drain()
    return sorted(UsageEvent.objects.filter(session_id=session).values_list("request_id", flat=True))


def test_a_service_token_reports_for_each_member_its_email_names(
    live_proxy, employee, manager, outsider, service_token
):
    token, secret = service_token
    reader = _commits(
        **{
            f"{employee.email}|s-a": 3,
            f"{manager.email.upper()}|s-b": 1,
            f"{outsider.email}|s-c": 7,
            "ghost@example.com|s-d": 9,
        }
    )

    status, answer = otlp_post(live_proxy.url, otlp_request(reader), secret=secret)

    assert status == 200
    assert _by_person() == {employee.email: 3, manager.email: 1}
    assert answer.partial_success.rejected_data_points == 2  # the other team's person, no one
    assert answer.partial_success.error_message == NO_MEMBER
    for outcome in Outcome.objects.all():
        assert (
            outcome.api_token_id,
            outcome.reported_by_id,
            outcome.source_kind,
            outcome.integration,
            outcome.team_id,
        ) == (token.pk, manager.pk, "integration", "otlp", token.team_id)
        assert outcome.source == f"claude-code:token:{token.prefix}"


def test_a_service_token_without_the_scope_to_post_outcomes_is_refused(live_proxy, employee, manager, team):
    _, secret = api_token_create(user=manager, name="reports", scopes=["read_reports"], team=team)

    status, _ = otlp_post(live_proxy.url, otlp_request(_commits(**{f"{employee.email}|s": 3})), secret=secret)

    assert status == 401
    assert not Outcome.objects.exists()


def test_with_ones_own_key_a_point_naming_someone_else_is_rejected(live_proxy, employee, employee_key, manager):
    reader = _commits(**{f"{manager.email}|s-1": 5, f"{employee.email}|s-1": 2, "|s-1": 1})

    status, answer = otlp_post(live_proxy.url, otlp_request(reader), secret=employee_key[1], encoding="json")

    assert status == 200
    assert answer.partial_success.rejected_data_points == 1
    assert answer.partial_success.error_message == "user.email names someone other than the key's owner"
    assert sorted(Outcome.objects.values_list("user__email", "value")) == [(employee.email, 1), (employee.email, 2)]
    assert all(o.reported_by_id == employee.pk and o.api_token_id is None for o in Outcome.objects.all())


def test_a_known_session_links_the_signal_to_its_calls_an_unknown_one_to_the_person_only(
    live_proxy, ledger, employee, employee_key
):
    calls = _proxied_calls(live_proxy, ledger, employee_key[1], "sess-known")
    reader = _commits(**{f"{employee.email}|sess-known": 3, f"{employee.email}|sess-unknown": 1})

    status, answer = otlp_post(live_proxy.url, otlp_request(reader), secret=employee_key[1])

    assert status == 200 and answer.partial_success.rejected_data_points == 0
    assert len(calls) == 2
    known = Outcome.objects.get(session_id="sess-known")
    assert (known.user, int(known.value), sorted(known.request_ids)) == (employee, 3, calls)
    assert sorted(OutcomeRequest.objects.filter(outcome=known).values_list("request_id", flat=True)) == calls
    unknown = Outcome.objects.get(session_id="sess-unknown")
    assert (unknown.user, int(unknown.value), unknown.request_ids) == (employee, 1, [])
    assert not OutcomeRequest.objects.filter(outcome=unknown).exists()


def test_a_service_token_finds_the_person_of_a_session_without_an_email(
    live_proxy, ledger, employee, employee_key, service_token
):
    calls = _proxied_calls(live_proxy, ledger, employee_key[1], "sess-alice", count=1)
    reader = _commits(**{"|sess-alice": 4, "|sess-nobody": 6})

    status, answer = otlp_post(live_proxy.url, otlp_request(reader), secret=service_token[1])

    assert status == 200
    assert answer.partial_success.rejected_data_points == 1
    assert answer.partial_success.error_message == NO_MEMBER
    outcome = Outcome.objects.get()
    assert (outcome.user, int(outcome.value), outcome.request_ids) == (employee, 4, calls)


def test_someone_elses_session_is_not_linked_to_ones_signal(live_proxy, ledger, employee, employee_key, manager, team):
    _, manager_secret = key_create(user=manager, team=team, name="maria's laptop")
    _proxied_calls(live_proxy, ledger, manager_secret, "sess-maria", count=1)

    status, _ = otlp_post(live_proxy.url, otlp_request(_commits(**{"|sess-maria": 2})), secret=employee_key[1])

    assert status == 200
    outcome = Outcome.objects.get()
    assert (outcome.user, outcome.request_ids) == (employee, [])


def _agent_call(request_id: str, *, session: str, user, team, at) -> UsageEventData:
    return UsageEventData(
        request_id=request_id,
        created_at=at,
        endpoint="messages",
        user_id=user.pk,
        team_id=team.pk,
        session_id=session,
        model_requested="claude-sonnet-4-5",
        total_tokens=10,
    )


def test_calls_that_reach_the_ledger_after_their_sessions_signal_are_linked_to_it(employee, manager, team):
    moment = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    first = _agent_call("req_first", session="sess-late", user=employee, team=team, at=moment - timedelta(minutes=5))
    usage_events_ingest(events=[first])
    outcome, _ = outcome_record(
        external_id="otlp-late",
        kind="agent_commit",
        occurred_at=moment,
        source_kind="integration",
        user=employee,
        team=team,
        integration="otlp",
        session_id="sess-late",
        request_ids=["req_first"],
    )
    late = [
        _agent_call("req_late", session="sess-late", user=employee, team=team, at=moment - timedelta(seconds=1)),
        _agent_call("req_after", session="sess-late", user=employee, team=team, at=moment + timedelta(seconds=1)),
        _agent_call("req_other_person", session="sess-late", user=manager, team=team, at=moment),
        _agent_call("req_other_session", session="sess-else", user=employee, team=team, at=moment),
    ]

    usage_events_ingest(events=late)
    usage_events_ingest(events=late)  # a redelivered batch links nothing twice

    outcome.refresh_from_db()
    assert outcome.request_ids == ["req_first", "req_late"]
    assert sorted(OutcomeRequest.objects.filter(outcome=outcome).values_list("request_id", flat=True)) == [
        "req_first",
        "req_late",
    ]


def test_a_signal_and_its_sessions_call_recorded_at_the_same_moment_are_linked(employee, team, transactional_db):
    """The ledger writing a call while an export records its session's signal: each transaction reads what
    the other committed, so without the session lock each would miss the other's row and the link would be
    lost. The ledger's write is held after it looked for outcomes; the export must then wait for it."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("two transactions at once need PostgreSQL (SQLite writes one at a time)")

    from usage.integrations.otlp import TelemetryReporter, otlp_metrics_record

    moment = datetime.now(UTC) - timedelta(seconds=5)
    call = _agent_call("req_same_moment", session="sess-race", user=employee, team=team, at=moment)
    looked, release = threading.Event(), threading.Event()
    original = OutcomeRequest.objects.bulk_create

    def held_bulk_create(*args, **kwargs):  # the ledger's link step: outcomes already read
        if threading.current_thread().name == "ledger":
            looked.set()
            assert release.wait(30)
        return original(*args, **kwargs)

    reporter = TelemetryReporter(
        team_id=team.pk,
        reported_by_id=employee.pk,
        person_id=employee.pk,
        person_email=employee.email,
        api_token_id=None,
        label="key:race",
    )
    request = otlp_request(_commits(**{f"{employee.email}|sess-race": 1}))
    export_done = threading.Event()

    def ledger() -> None:
        try:
            usage_events_ingest(events=[call])
        finally:
            connections.close_all()

    def export() -> None:
        try:
            otlp_metrics_record(request=request, reporter=reporter)
        finally:
            export_done.set()
            connections.close_all()

    def export_waits_on_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            return cursor.fetchone()[0] > 0

    OutcomeRequest.objects.bulk_create = held_bulk_create
    try:
        writer = threading.Thread(target=ledger, name="ledger")
        writer.start()
        assert looked.wait(30)
        reader = threading.Thread(target=export, name="export")
        reader.start()
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while not (export_done.is_set() or export_waits_on_a_lock()):  # a condition, not a sleep
            assert datetime.now(UTC) < deadline, "the export neither finished nor waited"
        release.set()
        writer.join(30)
        reader.join(30)
    finally:
        OutcomeRequest.objects.bulk_create = original

    outcome = Outcome.objects.get(session_id="sess-race")
    assert outcome.request_ids == ["req_same_moment"]
    assert list(OutcomeRequest.objects.filter(outcome=outcome).values_list("request_id", flat=True)) == [
        "req_same_moment"
    ]
