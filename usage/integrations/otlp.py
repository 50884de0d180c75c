"""Coding-agent telemetry over OTLP/HTTP as value signals (``POST /otlp/v1/metrics``).

The body is an ``ExportMetricsServiceRequest`` (``opentelemetry-proto``), protobuf or JSON, optionally
gzip-compressed. Of Claude Code's metrics, these become outcomes (integration ``otlp``):

| metric | kind |
| --- | --- |
| ``claude_code.commit.count`` | ``agent_commit`` |
| ``claude_code.pull_request.count`` | ``agent_pull_request`` |
| ``claude_code.lines_of_code.count`` (``type`` added / removed) | ``agent_lines_added`` / ``agent_lines_removed`` |
| ``claude_code.code_edit_tool.decision`` (``decision`` accept / reject) | ``agent_edit_accepted`` / ``agent_edit_rejected`` |

Other metrics (tokens, cost, active time) are accepted and not stored: the proxy measures volume itself.

Who a data point is about: with a person's own ``tw-`` key, that person - a ``user.email`` naming
anyone else rejects the point; with a team's service key or service token (``twa-``, scope
``post_outcomes``), the team member named by ``user.email``, else the one whose proxied calls carry its
``session.id``. ``reported_by`` is the credential's person, so telemetry a person sends with their own
key is a self-report: recorded and shown, but it counts towards their value only if an admin lets the
``otlp`` integration's self-reports count (``ValueSourceTrust.counts_self_reports``).

Delta points add their value; cumulative points add what they grew since the series' last point
(``TelemetrySeries``). Either way a point sent twice (an exporter's retry) is recorded once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import zlib
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from governance.exceptions import AuthenticationFailed
from governance.models import ApiKey, ApiToken, Team, ValueSource
from governance.services.api_tokens import TOKEN_PREFIX, api_token_authenticate
from governance.services.keys import KEY_PREFIX, key_hash
from usage.integrations.common import integration_kinds_register
from usage.models import TelemetrySeries, UsageEvent
from usage.value import outcome_record, session_links_lock

INTEGRATION = "otlp"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_SESSION_CALLS_LINKED = 1000
_NANOS = 1_000_000_000
_MAX_TIME_UNIX_NANO = 4102444800 * _NANOS  # 2100-01-01: past it a timestamp is garbage
_MAX_VALUE = 99_999_999  # below what Outcome.value holds (12 digits, 4 of them decimals), rounded or not


class OtlpError(ValueError):
    """A request OTLP says to answer 400 (undecodable) - or ``status`` when set."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# --- Decoding (pure) ------------------------------------------------------------------------------


def otlp_request_decode(
    *, body: bytes, content_type: str, content_encoding: str, max_bytes: int
) -> ExportMetricsServiceRequest:
    """Parse an ``ExportMetricsServiceRequest`` from protobuf or JSON (OTLP's JSON mapping), gunzipped
    first when ``Content-Encoding: gzip``. Raises OtlpError: 415 for another content type or encoding,
    413 past ``max_bytes`` decompressed, 400 for a body that does not parse."""
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, max_bytes + 1)
        except zlib.error as exc:
            raise OtlpError(f"the body is not valid gzip: {exc}") from exc
        if len(body) > max_bytes or inflater.unconsumed_tail:
            raise OtlpError(f"the decompressed body is larger than {max_bytes} bytes", status=413)
        if not inflater.eof:  # zlib raises for a bad checksum, but a stream cut short inflates silently
            raise OtlpError("the body is not valid gzip: it ends before the gzip stream does")
    elif encoding not in ("", "identity"):
        raise OtlpError(f"unsupported Content-Encoding {content_encoding!r} (use gzip or none)", status=415)
    elif len(body) > max_bytes:  # sent chunked, without a Content-Length Django could refuse it by
        raise OtlpError(f"the body is larger than {max_bytes} bytes", status=413)
    message = ExportMetricsServiceRequest()
    if content_type == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpError(f"the body is not an ExportMetricsServiceRequest: {exc}") from exc
    elif content_type == JSON:
        if body.lstrip()[:1] != b"{":  # json_format takes a list or a string for an empty message
            raise OtlpError("the body is not an ExportMetricsServiceRequest in OTLP JSON: not a JSON object")
        try:
            json_format.Parse(body.decode("utf-8"), message, ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
            raise OtlpError(f"the body is not an ExportMetricsServiceRequest in OTLP JSON: {exc}") from exc
    else:
        raise OtlpError(f"unsupported Content-Type {content_type!r} (use {PROTOBUF} or {JSON})", status=415)
    return message


def otlp_response_encode(*, response: ExportMetricsServiceResponse, content_type: str) -> bytes:
    """The response in the request's encoding."""
    if content_type == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def _value(any_value) -> str:
    kind = any_value.WhichOneof("value")
    return "" if kind is None else str(getattr(any_value, kind))


def _attributes(key_values) -> dict[str, str]:
    return {item.key: _value(item.value) for item in key_values}


@dataclasses.dataclass(frozen=True, slots=True)
class TelemetryPoint:
    """One data point of a metric Tokenwise reads, with its resource and point attributes merged."""

    metric: str
    kind: str  # '' when the point's attributes name no kind (e.g. lines of an unknown type)
    attributes: dict[str, str]
    value: float
    is_cumulative: bool
    start_time_unix_nano: int
    time_unix_nano: int

    @property
    def email(self) -> str:
        return self.attributes.get("user.email", "").strip()

    @property
    def session_id(self) -> str:
        return self.attributes.get("session.id", "").strip()


def _kind_of(metric: str, attributes: dict[str, str]) -> str:
    if metric == "claude_code.commit.count":
        return "agent_commit"
    if metric == "claude_code.pull_request.count":
        return "agent_pull_request"
    if metric == "claude_code.lines_of_code.count":
        return {"added": "agent_lines_added", "removed": "agent_lines_removed"}.get(attributes.get("type", ""), "")
    if metric == "claude_code.code_edit_tool.decision":
        return {"accept": "agent_edit_accepted", "reject": "agent_edit_rejected"}.get(
            attributes.get("decision", ""), ""
        )
    return ""


METRICS = frozenset(
    {
        "claude_code.commit.count",
        "claude_code.pull_request.count",
        "claude_code.lines_of_code.count",
        "claude_code.code_edit_tool.decision",
    }
)


def otlp_points_read(request: ExportMetricsServiceRequest) -> list[TelemetryPoint]:
    """The data points of the metrics in ``METRICS`` (sums; Claude Code's counters), in order."""
    points = []
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name not in METRICS or metric.WhichOneof("data") != "sum":
                    continue
                temporality = metric.sum.aggregation_temporality
                known = temporality != AggregationTemporality.AGGREGATION_TEMPORALITY_UNSPECIFIED
                for point in metric.sum.data_points:
                    attributes = {**resource, **_attributes(point.attributes)}
                    number = point.WhichOneof("value")
                    points.append(
                        TelemetryPoint(
                            metric=metric.name,
                            kind=_kind_of(metric.name, attributes) if known else "",
                            attributes=attributes,
                            value=float(getattr(point, number)) if number else 0.0,
                            is_cumulative=temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE,
                            start_time_unix_nano=point.start_time_unix_nano,
                            time_unix_nano=point.time_unix_nano,
                        )
                    )
    return points


# --- Who reports ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class TelemetryReporter:
    """The credential a request came with: a person's key (``person_id`` set) or a team's service key
    or service token (``person_id`` None: points name their person)."""

    team_id: int
    reported_by_id: int  # the key's owner or the token's creator
    person_id: int | None
    person_email: str
    api_token_id: int | None
    label: str


def otlp_reporter_authenticate(authorization: str | None) -> TelemetryReporter:
    """The reporter for ``Authorization: Bearer tw-…`` (a proxy key) or ``Bearer twa-…`` (a team's
    service token with the ``post_outcomes`` scope). Raises AuthenticationFailed (and its subclasses for
    revoked or expired credentials). The lookup is by hash, compared again in constant time."""
    if not authorization or not authorization.startswith("Bearer "):
        raise AuthenticationFailed("Send a Tokenwise key as 'Authorization: Bearer tw-...' (or a service token).")
    secret = authorization[7:].strip()
    if secret.startswith(TOKEN_PREFIX):
        token = api_token_authenticate(secret=secret)
        if token.team_id is None or ApiToken.Scope.POST_OUTCOMES not in token.scopes:
            raise AuthenticationFailed(
                "Only a team's service token with the post_outcomes scope sends telemetry; "
                "people send it with their own tw- key."
            )
        return TelemetryReporter(
            team_id=token.team_id,
            reported_by_id=token.user_id,
            person_id=None,
            person_email="",
            api_token_id=token.pk,
            label=f"token:{token.prefix}",
        )
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise AuthenticationFailed("Incorrect API key provided.")
    hash_value = key_hash(secret)
    key = ApiKey.objects.select_related("user").filter(key_hash=hash_value).first()
    if key is None or not hmac.compare_digest(key.key_hash, hash_value) or not key.user.is_active:
        raise AuthenticationFailed("Incorrect API key provided.")
    if key.revoked_at is not None:
        raise AuthenticationFailed("This API key has been revoked.")
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise AuthenticationFailed("This API key has expired.")
    return TelemetryReporter(
        team_id=key.team_id,
        reported_by_id=key.user_id,
        person_id=None if key.is_service else key.user_id,
        person_email=key.user.email,
        api_token_id=None,
        label=f"key:{key.prefix}",
    )


# --- Recording ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class TelemetryResult:
    recorded: int  # outcomes created
    unchanged: int  # data points of METRICS that added nothing (a retry, a total that did not grow)
    rejected: int  # data points refused
    ignored: int  # data points of other metrics (tokens, cost, active time ...)
    errors: tuple[str, ...]  # why, one line per distinct reason


def _data_points_count(request: ExportMetricsServiceRequest) -> int:
    return sum(
        len(getattr(metric, kind).data_points)
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if (kind := metric.WhichOneof("data")) is not None
    )


def _person_for(point: TelemetryPoint, reporter: TelemetryReporter, cache: dict) -> int:
    """The person a point is about, or raise OtlpError with the reason it is rejected."""
    if reporter.person_id is not None:
        if point.email and point.email.lower() != reporter.person_email.lower():
            raise OtlpError("user.email names someone other than the key's owner")
        return reporter.person_id
    lookup = ("email", point.email.lower()) if point.email else ("session", point.session_id)
    if lookup not in cache:
        if point.email:
            people = get_user_model().objects.filter(
                email__iexact=point.email, is_active=True, memberships__team_id=reporter.team_id
            )
            found = list(people.values_list("pk", flat=True).distinct()[:2])
        elif point.session_id:
            found = list(
                UsageEvent.objects.filter(session_id=point.session_id, team_id=reporter.team_id, user_id__isnull=False)
                .values_list("user_id", flat=True)
                .distinct()[:2]
            )
        else:
            found = []
        cache[lookup] = found[0] if len(found) == 1 else None
    if cache[lookup] is None:
        raise OtlpError("no member of the credential's team matches the point's user.email or session.id")
    return cache[lookup]


def _series_hash(point: TelemetryPoint, reporter: TelemetryReporter, *, with_time: bool) -> str:
    parts = [
        str(reporter.reported_by_id),
        point.metric,
        json.dumps(sorted(point.attributes.items())),
        str(point.start_time_unix_nano),
    ]
    if with_time:
        parts.append(str(point.time_unix_nano))
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _increment(point: TelemetryPoint, reporter: TelemetryReporter) -> float:
    """What a point adds: its value (delta), or its growth since the series' last point (cumulative;
    a point no newer than the last one - a retry - adds nothing; a restarted series starts over)."""
    if not point.is_cumulative:
        return point.value
    series, _ = TelemetrySeries.objects.get_or_create(series_hash=_series_hash(point, reporter, with_time=False))
    series = TelemetrySeries.objects.select_for_update().get(pk=series.pk)
    if point.time_unix_nano <= series.last_time_unix_nano:
        return 0.0
    grown = point.value - series.last_value if point.value >= series.last_value else point.value
    TelemetrySeries.objects.filter(pk=series.pk).update(
        last_value=point.value, last_time_unix_nano=point.time_unix_nano
    )
    return grown


def _session_calls(*, session_id: str, user_id: int, until: datetime) -> list[str]:
    if not session_id:
        return []
    return list(
        UsageEvent.objects.filter(session_id=session_id[:128], user_id=user_id, created_at__lte=until)
        .order_by("-created_at")
        .values_list("request_id", flat=True)[:_SESSION_CALLS_LINKED]
    )


@transaction.atomic
def otlp_metrics_record(*, request: ExportMetricsServiceRequest, reporter: TelemetryReporter) -> TelemetryResult:
    """Record the value signals of one export (see the module docstring): one outcome per data point
    that adds something, for its person, booked to the credential's team, linked to the session's
    proxied calls (by the same person) up to the point's time.

    Idempotent per data point (the outcome's ``external_id`` hashes reporter, series and time; cumulative
    series are locked row by row). Points that cannot be attributed are rejected and counted, never
    attributed to someone else.
    """
    recorded, rejected, errors = 0, 0, []
    people: dict = {}
    points = otlp_points_read(request)
    integration_kinds_register({point.kind for point in points if point.kind})
    session_links_lock(point.session_id for point in points)  # before any session's calls are read
    for point in points:
        try:
            if not point.kind:
                raise OtlpError(f"{point.metric}: unknown attribute values or temporality")
            if not 0 < point.time_unix_nano < _MAX_TIME_UNIX_NANO:
                raise OtlpError(f"{point.metric}: time_unix_nano out of range")
            if not 0 <= point.value < _MAX_VALUE:  # also NaN and infinities: a counter's value is neither
                raise OtlpError(f"{point.metric}: value out of range (a counter is 0 to {_MAX_VALUE})")
            person_id = _person_for(point, reporter, people)
        except OtlpError as exc:
            rejected += 1
            errors.append(str(exc))
            continue
        added = _increment(point, reporter)
        if added <= 0:
            continue
        occurred_at = datetime.fromtimestamp(point.time_unix_nano / _NANOS, tz=UTC)
        _, created = outcome_record(
            external_id="otlp:" + _series_hash(point, reporter, with_time=True),
            kind=point.kind,
            occurred_at=occurred_at,
            source_kind=ValueSource.INTEGRATION,
            integration=INTEGRATION,
            user=get_user_model()(pk=person_id),
            team=Team(pk=reporter.team_id),
            value=Decimal(str(added)),
            session_id=point.session_id,
            request_ids=_session_calls(session_id=point.session_id, user_id=person_id, until=occurred_at),
            source=f"{point.attributes.get('service.name', 'otlp')}:{reporter.label}"[:200],
            reported_by=get_user_model()(pk=reporter.reported_by_id),
            api_token=ApiToken(pk=reporter.api_token_id) if reporter.api_token_id else None,
        )
        recorded += created
    return TelemetryResult(
        recorded=recorded,
        unchanged=len(points) - recorded - rejected,
        rejected=rejected,
        ignored=_data_points_count(request) - len(points),
        errors=tuple(dict.fromkeys(errors)),
    )
