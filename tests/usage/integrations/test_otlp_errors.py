"""What ``/otlp/v1/metrics`` refuses, answered as OTLP/HTTP says: a ``google.rpc.Status`` in the request's
encoding (JSON when the request's is not one OTLP has), 400 for a body that does not decode, 413 too
large, 415 an encoding it does not speak; and gzip, the exporters' one compression, accepted."""

from __future__ import annotations

import gzip

import httpx
import pytest
import requests
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult

from tests.usage.integrations.conftest import (
    OTLP_PATH,
    PROTOBUF,
    RecordingExporter,
    claude_code_counts,
    claude_code_meter,
    otlp_post,
    otlp_request,
)
from usage.models import Outcome, TelemetrySeries

INVALID_ARGUMENT = 3  # google.rpc.Code
RESOURCE_EXHAUSTED = 8


def _post(live_proxy, employee_key, body, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{live_proxy.url}{OTLP_PATH}",
        content=body,
        timeout=10,
        headers={"Authorization": f"Bearer {employee_key[1]}", "Content-Type": content_type} | headers,
    )


def _status(response: httpx.Response) -> Status:
    """The response's Status, decoded as its Content-Type says."""
    status = Status()
    if response.headers["content-type"] == PROTOBUF:
        status.ParseFromString(response.content)
    else:
        assert response.headers["content-type"] == "application/json"
        json_format.Parse(response.text, status)
    return status


def _a_valid_export(employee) -> bytes:
    reader = InMemoryMetricReader()
    claude_code_counts(reader, email=employee.email, session="sess-errors")
    return otlp_request(reader).SerializeToString()


def test_an_unsupported_content_type_is_415_with_a_json_status(live_proxy, employee, employee_key):
    response = _post(live_proxy, employee_key, _a_valid_export(employee), "text/plain")

    assert response.status_code == 415
    status = _status(response)
    assert status.code == INVALID_ARGUMENT
    assert "unsupported Content-Type 'text/plain'" in status.message
    assert not Outcome.objects.exists()


def test_an_unsupported_content_encoding_is_415(live_proxy, employee, employee_key):
    response = _post(live_proxy, employee_key, _a_valid_export(employee), PROTOBUF, **{"Content-Encoding": "br"})

    assert response.status_code == 415
    assert response.headers["content-type"] == PROTOBUF
    assert "unsupported Content-Encoding 'br'" in _status(response).message
    assert not Outcome.objects.exists()


def test_a_malformed_protobuf_body_is_400_with_a_protobuf_status(live_proxy, employee_key):
    response = _post(live_proxy, employee_key, b"\x0a\xff\xff\xff", PROTOBUF)  # a length past the body's end

    assert response.status_code == 400
    assert response.headers["content-type"] == PROTOBUF
    status = _status(response)
    assert status.code == INVALID_ARGUMENT
    assert status.message.startswith("the body is not an ExportMetricsServiceRequest")
    assert not Outcome.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceMetrics": [',
        b'{"resourceMetrics": "many"}',
        b"\xff\xfe{}",
        b"[]",
        b'"resourceMetrics"',
        b"null",
        b"[" * 100_000,
    ],
)
def test_a_malformed_json_body_is_400_with_a_json_status(live_proxy, employee_key, body):
    response = _post(live_proxy, employee_key, body, "application/json")

    assert response.status_code == 400
    status = _status(response)
    assert status.code == INVALID_ARGUMENT
    assert status.message.startswith("the body is not an ExportMetricsServiceRequest in OTLP JSON")
    assert not Outcome.objects.exists()


def test_a_body_over_the_limit_is_413_whether_declared_or_sent_chunked(live_proxy, employee, employee_key, settings):
    body = _a_valid_export(employee)
    settings.TOKENWISE_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body) - 1

    declared = _post(live_proxy, employee_key, body, PROTOBUF)
    chunked = _post(live_proxy, employee_key, iter([body[:10], body[10:]]), PROTOBUF)

    for response in (declared, chunked):
        assert response.status_code == 413
        assert _status(response).code == RESOURCE_EXHAUSTED
    assert "transfer-encoding" not in declared.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    assert not Outcome.objects.exists()


def test_the_real_exporter_with_gzip_compression_is_accepted(live_proxy, employee, employee_key):
    session = requests.Session()
    sent = []
    session.hooks["response"].append(lambda response, **_: sent.append(response.request.headers))
    exporter = RecordingExporter(live_proxy.url, employee_key[1], compression=Compression.Gzip, session=session)
    reader = InMemoryMetricReader()
    claude_code_counts(reader, email=employee.email, session="sess-gzip")

    result = exporter.export(reader.get_metrics_data())

    assert result == MetricExportResult.SUCCESS
    assert [headers["Content-Encoding"] for headers in sent] == ["gzip"]
    assert {o.kind: o.value for o in Outcome.objects.filter(user=employee)} == {
        "agent_commit": 3,
        "agent_lines_added": 120,
        "agent_edit_accepted": 2,
    }


def test_a_corrupt_gzip_body_is_400(live_proxy, employee, employee_key):
    corrupt = gzip.compress(_a_valid_export(employee))[:-12] + b"not the end"

    response = _post(live_proxy, employee_key, corrupt, PROTOBUF, **{"Content-Encoding": "gzip"})

    assert response.status_code == 400
    status = _status(response)
    assert status.code == INVALID_ARGUMENT
    assert status.message.startswith("the body is not valid gzip")
    assert not Outcome.objects.exists()


def test_a_gzip_body_that_inflates_past_the_limit_is_413(live_proxy, employee_key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    bomb = gzip.compress(b"\x00" * (1024 * 1024))  # 1 KB on the wire

    response = _post(live_proxy, employee_key, bomb, PROTOBUF, **{"Content-Encoding": "gzip"})

    assert len(bomb) < 2048
    assert response.status_code == 413
    assert _status(response).message == "the decompressed body is larger than 65536 bytes"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 1e20])
def test_a_counter_value_no_counter_has_is_rejected_not_a_500(live_proxy, employee, employee_key, value):
    reader = InMemoryMetricReader()
    claude_code_meter(reader).create_counter("claude_code.commit.count").add(1)
    request = otlp_request(reader)
    request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].as_double = value

    status, answer = otlp_post(live_proxy.url, request, secret=employee_key[1])

    assert status == 200
    assert answer.partial_success.rejected_data_points == 1
    assert "value out of range" in answer.partial_success.error_message
    assert not Outcome.objects.exists()
    assert not TelemetrySeries.objects.exists()
