"""Prometheus metrics of the proxy and the ledger (served at ``/metrics`` by ``usage.health``).

Counters and histograms are updated in-process on the hot path (a few dict lookups per call, no I/O).
With several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by the
workers (wiped before they start): prometheus-client then keeps each process's values in files there
and ``/metrics`` merges them. Ledger backlog gauges are computed when scraped, not kept here.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram


class FinishedCall(Protocol):
    """What ``metrics_observe_call`` reads of a call's record (``usage.ledger.event_record.UsageEventData``
    has it all; described here so that core imports nothing of usage)."""

    endpoint: str
    status: int
    latency_ms: int
    time_to_first_byte_ms: int | None
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: str | None
    client_disconnected: bool
    error_code: str
    provider: str
    model_served: str


_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter("tokenwise_proxy_requests_total", "Calls answered by the proxy.", ["endpoint", "status"])
TOKENS = Counter("tokenwise_proxy_tokens_total", "Tokens settled, by kind.", ["endpoint", "kind"])
COST = Counter("tokenwise_proxy_cost_usd_total", "Cost settled, in USD (priced calls only).", ["endpoint"])
LATENCY = Histogram(
    "tokenwise_proxy_latency_seconds", "Whole-call latency as the proxy saw it.", ["endpoint"], buckets=_LATENCY_BUCKETS
)
TTFB = Histogram(
    "tokenwise_proxy_time_to_first_byte_seconds",
    "Time to the upstream's first byte.",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
)
REJECTIONS = Counter(
    "tokenwise_proxy_rejections_total",
    "Calls refused before reaching an upstream (auth, input, policy), by reason.",
    ["reason"],
)
AUTH_FAILURES = Counter(
    "tokenwise_proxy_auth_failures_total",
    "Failed authentications on /v1 (no key, malformed or unknown key), by code.",
    ["code"],
)
AUTH_THROTTLED = Counter(
    "tokenwise_proxy_auth_throttled_total",
    "Calls refused with 429 because their address failed to authenticate too often.",
)
UPSTREAM_ERRORS = Counter(
    "tokenwise_upstream_errors_total", "Upstream failures, by provider and kind.", ["provider", "kind"]
)
UPSTREAM_FALLBACKS = Counter(
    "tokenwise_upstream_fallbacks_total", "Calls retried on a route's fallback provider.", ["provider", "fallback"]
)
CLIENT_DISCONNECTS = Counter("tokenwise_proxy_client_disconnects_total", "Streams the caller abandoned.", ["endpoint"])
CALLS_UNRECORDED = Gauge(
    "tokenwise_proxy_calls_unrecorded",
    "Calls begun and not yet recorded: answered or still running, their usage event not yet handed to "
    "the ledger. Zero once a stopped load is fully recorded.",
    multiprocess_mode="livesum",
)
LEDGER_PUBLISHED = Counter(
    "tokenwise_ledger_published_total",
    "Usage events handed to the ledger, by where they went (stream, database, spool).",
    ["path"],
)
OTLP_EXPORTS = Counter(
    "tokenwise_otlp_exports_total", "OTLP metric exports answered (/otlp/v1/metrics), by status.", ["status"]
)
OTLP_DATA_POINTS = Counter(
    "tokenwise_otlp_data_points_total",
    "Data points of accepted OTLP metric exports, by what became of them.",
    ["result"],
)
DEPENDENCY_FAILURES = Counter(
    "tokenwise_dependency_failures_total",
    "Failed calls to a dependency on the hot path (redis, database).",
    ["dependency", "operation"],
)

# Our own upstream failure codes; anything else the upstream said is counted by its HTTP status.
UPSTREAM_KINDS = {
    "upstream_timeout": "timeout",
    "upstream_connection_error": "connection",
    "upstream_stream_interrupted": "stream_interrupted",
}


_children: dict[tuple, object] = {}


def labelled(metric, *labels: str):
    """``metric.labels(*labels)``, kept: ``labels`` validates and locks on every call."""
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def metrics_observe_call(event: FinishedCall) -> None:
    """Count one finished call (called once per call by ``Call.finish``). Never raises."""
    endpoint, status = event.endpoint, event.status
    labelled(REQUESTS, endpoint, str(status)).inc()
    labelled(LATENCY, endpoint).observe(event.latency_ms / 1000)
    if event.time_to_first_byte_ms is not None:
        labelled(TTFB, endpoint).observe(event.time_to_first_byte_ms / 1000)
    if event.total_tokens:
        labelled(TOKENS, endpoint, "prompt").inc(event.prompt_tokens)
        labelled(TOKENS, endpoint, "completion").inc(event.completion_tokens)
        labelled(TOKENS, endpoint, "cached").inc(event.cached_tokens)
    if event.cost_usd:
        try:
            labelled(COST, endpoint).inc(float(event.cost_usd))
        except ValueError:
            pass
    if event.client_disconnected:
        CLIENT_DISCONNECTS.labels(endpoint).inc()
        return
    kind = UPSTREAM_KINDS.get(event.error_code)
    if kind is not None:
        UPSTREAM_ERRORS.labels(event.provider or "unknown", kind).inc()
    elif status >= 400 and event.provider and event.model_served == "":
        UPSTREAM_ERRORS.labels(event.provider, f"status_{status}").inc()  # the upstream answered an error
    elif status >= 400:
        REJECTIONS.labels(event.error_code or f"status_{status}").inc()
