"""Claude Code's own OpenTelemetry metrics, exported to a live Tokenwise (``/otlp/v1/metrics``) as its
monitoring docs say: ``CLAUDE_CODE_ENABLE_TELEMETRY=1``, the OTLP metrics exporter over http/protobuf,
the employee's ``tw-`` key in ``OTEL_EXPORTER_OTLP_HEADERS``. The fake upstream scripts a ``Write`` tool
call, so Claude Code really edits a file and counts it; its other metrics (sessions, tokens, cost) are
accepted and ignored."""

from __future__ import annotations

from tests.agents.test_claude_code import MODEL, claude_code, fresh_counters  # noqa: F401  (fixtures)
from tests.usage.integrations.conftest import counters_grown, otlp_counters
from usage.models import Outcome, OutcomeRequest, UsageEvent

CONTENT = "print('hello')\nprint('world')"


def test_claude_code_exports_its_metrics_and_its_edit_becomes_value_signals(
    claude_code,  # noqa: F811 (the fixture imported above)
    live_proxy,
    employee_key,
    employee,
    upstream,
    ledger,
    tmp_path,
):
    target = tmp_path / "hello.py"
    upstream.tool_call_script("Write", {"file_path": str(target), "content": CONTENT})
    telemetry = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"{live_proxy.url}/otlp",
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {employee_key[1]}",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }
    before = otlp_counters(live_proxy.url)

    result, _ = claude_code("Write hello.py.", "--permission-mode", "acceptEdits", env_extra=telemetry)

    assert result.returncode == 0, result.stderr + result.stdout
    assert target.read_text() == CONTENT
    grown = counters_grown(before, otlp_counters(live_proxy.url))
    assert set(grown) <= {
        'tokenwise_otlp_exports_total{status="200"}',  # nothing refused
        'tokenwise_otlp_data_points_total{result="recorded"}',
        'tokenwise_otlp_data_points_total{result="unchanged"}',
        'tokenwise_otlp_data_points_total{result="ignored"}',
    }, grown
    assert grown['tokenwise_otlp_exports_total{status="200"}'] >= 1
    assert grown['tokenwise_otlp_data_points_total{result="ignored"}'] >= 1  # token.usage, cost.usage ...
    outcomes = list(Outcome.objects.filter(integration="otlp"))
    assert {(o.kind, int(o.value)) for o in outcomes} == {("agent_lines_added", 2), ("agent_edit_accepted", 1)}
    ledger.drain()
    (session,) = set(
        UsageEvent.objects.filter(endpoint="messages", model_requested=MODEL).values_list("session_id", flat=True)
    )
    session_calls = UsageEvent.objects.filter(session_id=session)
    first_call = session_calls.order_by("created_at").values_list("request_id", flat=True)[0]  # asked for the edit
    for outcome in outcomes:
        outcome.refresh_from_db()
        assert (outcome.user, outcome.reported_by, outcome.session_id) == (employee, employee, session)
        assert outcome.source == f"claude-code:key:{employee_key[0].prefix}"
        # Linked to every call of the session made by the time the export counted the edit: with Redis the
        # export came before a worker wrote the calls (the test drains the stream only now), and the ledger
        # linked them as it wrote them. Claude Code's answer after the edit is linked only when no periodic
        # export counted the edit before that call began (the first export's time is the outcome's).
        calls = set(session_calls.filter(created_at__lte=outcome.occurred_at).values_list("request_id", flat=True))
        assert first_call in calls
        assert set(outcome.request_ids) == calls
        assert set(OutcomeRequest.objects.filter(outcome=outcome).values_list("request_id", flat=True)) == calls
