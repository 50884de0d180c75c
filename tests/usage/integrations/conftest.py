"""Fixtures of the integration tests: GitHub's example payloads, signed deliveries, a webhook secret, the
rows of a rendered table; Claude Code's metrics from the real OpenTelemetry SDK and a poster for
``/otlp/v1/metrics``."""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from django.core.cache import cache
from django.test import Client
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

EXAMPLES = Path(__file__).resolve().parents[3] / "node_modules/@octokit/webhooks-examples/api.github.com/index.json"
SECRET = "it's-a-secret-to-everybody"  # the example secret of GitHub's own validation docs


@functools.cache
def _examples() -> dict[str, list[dict]]:
    if not EXAMPLES.exists():
        raise AssertionError(f"{EXAMPLES} is missing: run scripts/npm_deps (scripts/test does)")
    return {event["name"]: event["examples"] for event in json.loads(EXAMPLES.read_text())}


def github_examples() -> dict[str, list[dict]]:
    """Every event's example payloads from @octokit/webhooks-examples (api.github.com)."""
    return _examples()


def github_example(event: str, action: str | None = None, index: int = 0) -> dict:
    """A deep copy of the ``index``-th example of ``event`` with ``action`` (None: any)."""
    found = [item for item in _examples()[event] if action is None or item.get("action") == action]
    return copy.deepcopy(found[index])


def github_sign(body: bytes, secret: str = SECRET) -> str:
    """``X-Hub-Signature-256`` as GitHub computes it: HMAC-SHA256 of the raw body, hex, ``sha256=``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class GithubSender:
    """Posts deliveries to the webhook the way GitHub does (headers, raw JSON body, signature)."""

    def __init__(self) -> None:
        self.client = Client()

    def send(
        self,
        event: str,
        payload: dict,
        *,
        delivery: str | None = None,
        secret: str | None = SECRET,
        signature: str | None = None,
    ):
        body = json.dumps(payload).encode()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "User-Agent": "GitHub-Hookshot/8b2d1a6",
            "X-GitHub-Hook-ID": "292430182",
        }
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = github_sign(body, secret)
        return self.client.post("/integrations/github/webhook", body, content_type="application/json", headers=headers)


class _TableRows(HTMLParser):
    """The text of each body row of the table with ``data-testid=testid``, one list of cells a row."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self.testid = testid
        self.rows: list[list[str]] = []
        self._in_table = self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("data-testid", self.testid) in attrs:
            self._in_table = True
        elif self._in_table and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_table = self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, *, testid: str) -> list[list[str]]:
    """The cells' text (whitespace collapsed) of each body row of a page's table."""
    parser = _TableRows(testid)
    parser.feed(html)
    return parser.rows


@pytest.fixture
def github(db):
    """A webhook secret set by an admin, and a sender signing with it."""
    from usage.integrations.github import github_webhook_secret_set

    github_webhook_secret_set(secret=SECRET, actor_label="test")
    return GithubSender()


@pytest.fixture(autouse=True)
def clean_auth_failures():
    cache.clear()  # failed-authentication counters per address must not leak between tests
    yield
    cache.clear()


@pytest.fixture
def api_client_admin(admin):
    """A browser session of the admin (the API and the admin pages accept it)."""
    client = Client()
    client.force_login(admin)
    return client


# --- OTLP ------------------------------------------------------------------------------------------

OTLP_PATH = "/otlp/v1/metrics"
PROTOBUF = "application/x-protobuf"


class RecordingExporter(OTLPMetricExporter):
    """The real OTLP/HTTP exporter, keeping each batch it exported and how that went (so a test can
    check the result, or send a batch again as an exporter's retry does)."""

    def __init__(self, base_url: str, secret: str, **options) -> None:
        super().__init__(
            endpoint=f"{base_url}{OTLP_PATH}", headers={"Authorization": f"Bearer {secret}"}, timeout=10, **options
        )
        self.sent: list[tuple[object, object]] = []  # (MetricsData, MetricExportResult)

    def export(self, metrics_data, timeout_millis: float | None = 10_000, **kwargs):
        result = super().export(metrics_data, timeout_millis, **kwargs)
        self.sent.append((metrics_data, result))
        return result


def claude_code_provider(reader, **resource: str) -> MeterProvider:
    """A meter provider as Claude Code's (``service.name`` claude-code) reporting to ``reader``, with more
    resource attributes from ``resource`` (dots spelled ``__``). Not shut down at exit: that would export
    again, to a live server long gone."""
    attributes = {"service.name": "claude-code"} | {name.replace("__", "."): value for name, value in resource.items()}
    return MeterProvider(metric_readers=[reader], resource=Resource.create(attributes), shutdown_on_exit=False)


def claude_code_meter(reader, **resource: str):
    """Claude Code's meter (``com.anthropic.claude_code``) of a ``claude_code_provider``."""
    return claude_code_provider(reader, **resource).get_meter("com.anthropic.claude_code")


def claude_code_counts(reader, *, email: str, session: str) -> MeterProvider:
    """Claude Code's metric names and attributes, counted once: 3 commits, 120 lines added, 2 accepted edits."""
    provider = claude_code_provider(reader, user__email=email, session__id=session)
    meter = provider.get_meter("com.anthropic.claude_code")
    person = {"user.email": email, "session.id": session}
    meter.create_counter("claude_code.commit.count").add(3, person)
    meter.create_counter("claude_code.lines_of_code.count").add(120, {"type": "added"} | person)
    meter.create_counter("claude_code.code_edit_tool.decision").add(2, {"decision": "accept", "tool": "Edit"} | person)
    return provider


def otlp_request(reader: InMemoryMetricReader) -> ExportMetricsServiceRequest:
    """What the exporter would send for what ``reader`` collects now."""
    return encode_metrics(reader.get_metrics_data())


def otlp_post(
    base_url: str, request: ExportMetricsServiceRequest, *, secret: str, encoding: str = "protobuf"
) -> tuple[int, ExportMetricsServiceResponse | None]:
    """POST an export in ``encoding`` (protobuf or json); the status and, for a 200, the decoded response."""
    if encoding == "json":
        content_type, body = "application/json", json_format.MessageToJson(request).encode()
    else:
        content_type, body = PROTOBUF, request.SerializeToString()
    response = httpx.post(
        f"{base_url}{OTLP_PATH}",
        content=body,
        timeout=10,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": content_type},
    )
    if response.status_code != 200:
        return response.status_code, None
    assert response.headers["content-type"] == content_type
    answer = ExportMetricsServiceResponse()
    if encoding == "json":
        json_format.Parse(response.text, answer)
    else:
        answer.ParseFromString(response.content)
    return 200, answer


def otlp_counters(base_url: str) -> dict[str, float]:
    """Tokenwise's ``tokenwise_otlp_*_total`` samples as scraped from ``/metrics`` (sample -> value)."""
    lines = httpx.get(f"{base_url}/metrics", timeout=10).text.splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(("tokenwise_otlp_exports_total{", "tokenwise_otlp_data_points_total{"))
    }


def counters_grown(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The samples that grew from ``before`` to ``after``, by how much."""
    return {name: grown for name, value in after.items() if (grown := value - before.get(name, 0.0))}
