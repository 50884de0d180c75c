"""Claude Code's telemetry as the real OpenTelemetry Python exporter sends it (``opentelemetry-sdk`` +
``opentelemetry-exporter-otlp-proto-http``), to a live Tokenwise: protobuf through the exporter itself,
JSON as the same export request in OTLP's JSON encoding."""

from __future__ import annotations

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult, PeriodicExportingMetricReader

from tests.usage.integrations.conftest import RecordingExporter, claude_code_counts, otlp_request
from usage.models import Outcome


def _recorded(user) -> dict[str, float]:
    return {o.kind: float(o.value) for o in Outcome.objects.filter(user=user, integration="otlp")}


def test_the_real_exporter_posts_protobuf_and_the_signals_are_recorded(live_proxy, employee, employee_key):
    exporter = RecordingExporter(live_proxy.url, employee_key[1])
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = claude_code_counts(reader, email=employee.email, session="sess-proto-1")

    provider.shutdown()  # exports what was counted

    assert [result for _, result in exporter.sent] == [MetricExportResult.SUCCESS]
    assert _recorded(employee) == {"agent_commit": 3.0, "agent_lines_added": 120.0, "agent_edit_accepted": 2.0}


def test_the_same_export_in_json_is_recorded_once_and_a_retry_adds_nothing(live_proxy, employee, employee_key):
    reader = InMemoryMetricReader()
    claude_code_counts(reader, email=employee.email, session="sess-json-1")
    body = json_format.MessageToJson(otlp_request(reader))
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
    claude_code_counts(reader, email=employee.email, session="sess-x")
    body = otlp_request(reader).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    if authorization:
        headers["Authorization"] = authorization

    response = httpx.post(f"{live_proxy.url}/otlp/v1/metrics", content=body, headers=headers, timeout=10)

    assert response.status_code == 401
    assert not Outcome.objects.filter(user=employee).exists()
