"""Counters as the real exporter reports them: cumulative (a running total per series, the SDK's default)
or delta (what was counted since the last export, ``preferred_temporality``). Either way an outcome
holds what was counted once - not the total again at every export, not a retried batch twice."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality as WireTemporality
from opentelemetry.sdk.metrics import Counter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
    PeriodicExportingMetricReader,
)

from tests.usage.integrations.conftest import RecordingExporter, claude_code_meter, otlp_post, otlp_request
from usage.models import Outcome

COMMITS = "claude_code.commit.count"


def _commits(exporter: RecordingExporter, email: str):
    """Claude Code's commit counter, read by a reader that exports only when flushed."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    return reader, claude_code_meter(reader, user__email=email, session__id="sess-1").create_counter(COMMITS)


def _wire(batch) -> list[tuple[int, int, int]]:
    """(temporality, start, value) of each commit point of an exported batch, as sent."""
    metrics = [m for rm in encode_metrics(batch).resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    return [
        (m.sum.aggregation_temporality, p.start_time_unix_nano, p.as_int) for m in metrics for p in m.sum.data_points
    ]


def _recorded(user) -> list[int]:
    return [int(o.value) for o in Outcome.objects.filter(user=user, kind="agent_commit").order_by("occurred_at")]


def test_a_cumulative_counter_counts_only_what_it_grew_by_and_a_retry_nothing(live_proxy, employee, employee_key):
    exporter = RecordingExporter(live_proxy.url, employee_key[1])
    reader, commits = _commits(exporter, employee.email)

    commits.add(3)
    reader.force_flush()
    commits.add(2)
    reader.force_flush()
    reader.force_flush()  # nothing new: the same total again
    exporter.export(exporter.sent[1][0])  # the second batch again, as a retry

    assert [result for _, result in exporter.sent] == [MetricExportResult.SUCCESS] * 4
    ((_, start, _),) = _wire(exporter.sent[0][0])
    assert [_wire(batch) for batch, _ in exporter.sent[:3]] == [
        [(WireTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE, start, total)] for total in (3, 5, 5)
    ]
    assert _recorded(employee) == [3, 2]


def test_a_delta_counter_counts_every_point_and_a_retry_nothing(live_proxy, employee, employee_key):
    exporter = RecordingExporter(
        live_proxy.url, employee_key[1], preferred_temporality={Counter: AggregationTemporality.DELTA}
    )
    reader, commits = _commits(exporter, employee.email)

    commits.add(3)
    reader.force_flush()
    commits.add(2)
    reader.force_flush()
    exporter.export(exporter.sent[1][0])

    assert [result for _, result in exporter.sent] == [MetricExportResult.SUCCESS] * 3
    assert [[(temporality, value) for temporality, _, value in _wire(batch)] for batch, _ in exporter.sent[:2]] == [
        [(WireTemporality.AGGREGATION_TEMPORALITY_DELTA, 3)],
        [(WireTemporality.AGGREGATION_TEMPORALITY_DELTA, 2)],
    ]
    assert _recorded(employee) == [3, 2]


def test_a_restarted_cumulative_counter_counts_from_zero_again(live_proxy, employee, employee_key):
    exporter = RecordingExporter(live_proxy.url, employee_key[1])
    before, commits = _commits(exporter, employee.email)
    commits.add(3)
    before.force_flush()
    after, commits = _commits(exporter, employee.email)  # Claude Code started again: a new series start time

    commits.add(1)
    after.force_flush()

    ((_, first_start, _),) = _wire(exporter.sent[0][0])
    ((_, second_start, total),) = _wire(exporter.sent[1][0])
    assert second_start > first_start and total == 1
    assert _recorded(employee) == [3, 1]


def test_a_cumulative_total_that_drops_without_a_new_start_time_is_a_reset(live_proxy, employee, employee_key):
    reader = InMemoryMetricReader()
    commits = claude_code_meter(reader, user__email=employee.email).create_counter(COMMITS)
    commits.add(5)
    request = otlp_request(reader)
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    otlp_post(live_proxy.url, request, secret=employee_key[1])

    point.time_unix_nano += 1_000_000_000
    point.as_int = 2  # a counter some SDKs restart without moving the start time
    status, answer = otlp_post(live_proxy.url, request, secret=employee_key[1])

    assert status == 200 and answer.partial_success.rejected_data_points == 0
    assert _recorded(employee) == [5, 2]
