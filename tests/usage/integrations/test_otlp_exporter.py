"""Claude Code's telemetry as the real OpenTelemetry Python exporter sends it (``opentelemetry-sdk`` +
``opentelemetry-exporter-otlp-proto-http``), to a live Tokenwise: protobuf through the exporter itself,
JSON as the same export request in OTLP's JSON encoding."""

from __future__ import annotations

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource

from usage.models import Outcome


def _claude_code_metrics(reader_or_exporter, *, email: str, session: str):
    """Claude Code's metric names and attributes, counted once: 3 commits, 120 lines added, 2 accepted edits."""
    provider = MeterProvider(metric_readers=[reader_or_exporter],
                             resource=Resource.create({"service.name": "claude-code", "user.email": email,
                                                       "session.id": session}))
    meter = provider.get_meter("com.anthropic.claude_code")
    meter.create_counter("claude_code.commit.count").add(3, {"user.email": email, "session.id": session})
    meter.create_counter("claude_code.lines_of_code.count").add(120, {"type": "added", "user.email": email,
                                                                       "session.id": session})
    meter.create_counter("claude_code.code_edit_tool.decision").add(2, {"decision": "accept", "tool": "Edit",
                                                                        "user.email": email, "session.id": session})
    return provider


def _recorded(user) -> dict[str, float]:
    return {o.kind: float(o.value) for o in Outcome.objects.filter(user=user, integration="otlp")}


def test_the_real_exporter_posts_protobuf_and_the_signals_are_recorded(live_proxy, employee, employee_key):
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    exporter = OTLPMetricExporter(endpoint=f"{live_proxy.url}/otlp/v1/metrics",
                                  headers={"Authorization": f"Bearer {employee_key[1]}"}, timeout=10)
    results = []
    original = exporter.export

    def export(*args, **kwargs):
        results.append(original(*args, **kwargs))
        return results[-1]

    exporter.export = export
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = _claude_code_metrics(reader, email=employee.email, session="sess-proto-1")
    provider.force_flush()
    provider.shutdown()

    assert MetricExportResult.SUCCESS in results
    assert _recorded(employee) == {"agent_commit": 3.0, "agent_lines_added": 120.0, "agent_edit_accepted": 2.0}


def test_the_same_export_in_json_is_recorded_once_and_a_retry_adds_nothing(live_proxy, employee, employee_key):
    reader = InMemoryMetricReader()
    _claude_code_metrics(reader, email=employee.email, session="sess-json-1")
    body = json_format.MessageToJson(encode_metrics(reader.get_metrics_data()))
    headers = {"Authorization": f"Bearer {employee_key[1]}", "Content-Type": "application/json"}

    first = httpx.post(f"{live_proxy.url}/otlp/v1/metrics", content=body, headers=headers, timeout=10)
    retry = httpx.post(f"{live_proxy.url}/otlp/v1/metrics", content=body, headers=headers, timeout=10)

    assert (first.status_code, retry.status_code) == (200, 200)
    assert first.headers["content-type"].startswith("application/json")
    assert _recorded(employee) == {"agent_commit": 3.0, "agent_lines_added": 120.0, "agent_edit_accepted": 2.0}
    assert Outcome.objects.filter(user=employee, integration="otlp").count() == 3


@pytest.mark.parametrize("authorization", [None, "Bearer tw-not-a-key"])
def test_telemetry_without_a_valid_key_is_refused(live_proxy, employee, authorization):
    reader = InMemoryMetricReader()
    _claude_code_metrics(reader, email=employee.email, session="sess-x")
    body = encode_metrics(reader.get_metrics_data()).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    if authorization:
        headers["Authorization"] = authorization

    response = httpx.post(f"{live_proxy.url}/otlp/v1/metrics", content=body, headers=headers, timeout=10)

    assert response.status_code == 401
    assert not Outcome.objects.filter(user=employee).exists()
