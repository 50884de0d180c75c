"""Claude Code's telemetry as the real OpenTelemetry Python exporter sends it (``opentelemetry-sdk`` +
``opentelemetry-exporter-otlp-proto-http``), to a live Tokenwise: protobuf through the exporter itself,
JSON as the same export request in OTLP's JSON encoding."""

from __future__ import annotations

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult, PeriodicExportingMetricReader

from tests.usage.integrations.conftest import (
    RecordingExporter,
    claude_code_counts,
    counters_grown,
    otlp_counters,
    otlp_post,
    otlp_request,
)
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


def test_exports_and_what_became_of_their_points_are_counted_on_metrics(live_proxy, employee, employee_key, manager):
    reader = InMemoryMetricReader()
    provider = claude_code_counts(reader, email=employee.email, session="sess-counted")  # 3 points recorded
    meter = provider.get_meter("com.anthropic.claude_code")
    meter.create_counter("claude_code.token.usage").add(1200, {"type": "input"})  # read by no one
    meter.create_counter("claude_code.commit.count").add(1, {"user.email": manager.email})  # not the key's owner
    request = otlp_request(reader)
    before = otlp_counters(live_proxy.url)

    statuses = [otlp_post(live_proxy.url, request, secret=employee_key[1])[0] for _ in range(2)]  # and a retry
    refused = httpx.post(
        f"{live_proxy.url}/otlp/v1/metrics",
        content=b"{}",
        timeout=10,
        headers={"Authorization": f"Bearer {employee_key[1]}", "Content-Type": "text/plain"},
    )

    after = otlp_counters(live_proxy.url)
    assert (statuses, refused.status_code) == ([200, 200], 415)
    assert counters_grown(before, after) == {
        'tokenwise_otlp_exports_total{status="200"}': 2,
        'tokenwise_otlp_exports_total{status="415"}': 1,
        'tokenwise_otlp_data_points_total{result="recorded"}': 3,
        'tokenwise_otlp_data_points_total{result="unchanged"}': 3,
        'tokenwise_otlp_data_points_total{result="rejected"}': 2,
        'tokenwise_otlp_data_points_total{result="ignored"}': 2,
    }
