"""The ledger's exchange format: one usage event as a flat record, for export and for import.

``export_usage`` writes records (JSON Lines or CSV); ``import_usage`` reads JSON Lines back - our own
exports, or backfills from other gateways. The first ``EXPORT_FIELDS`` names are the public contract
(issue 2, part 7); the rest are extras that make a round trip exact.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast, overload

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.text import slugify

from governance.models import Team
from governance.services.orgs import membership_ensure, team_get_or_create, user_get_or_create
from governance.services.pricing import COST_QUANTUM, PriceTable, cost_usd, price_table_load
from usage.fingerprints import prompt_fingerprints, simhash64, text_of_messages
from usage.ledger.event_record import UsageEventData
from usage.ledger.ingest import usage_events_ingest
from usage.ledger.rollups import usage_rollups_refresh
from usage.models import UsageEvent

EXPORT_FIELDS: tuple[str, ...] = (
    "request_id",
    "created_at",
    "user",
    "team",
    "endpoint",
    "model",
    "status",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "latency_ms",
    "estimated",
    "purpose",
    "max_tokens",
    "client_disconnected",
    # extras
    "model_requested",
    "model_served",
    "provider",
    "error_code",
    "time_to_first_byte_ms",
    "policy_action",
    "prompt_hash",
    "prompt_simhash",
    "output_simhash",
    # coding agents: the client, its session and sub-agent, and prompt-cache writes
    "cache_write_tokens",
    "client",
    "session_id",
    "agent_id",
    "parent_agent_id",
    "request_class",
)
_INT32_MAX = 2**31 - 1
_MAX_COST = Decimal("999999.99999999")  # UsageEvent.cost_usd: 14 digits, 8 after the point


def usage_event_record(event: UsageEvent) -> dict[str, Any]:
    """An event as an export record: ``EXPORT_FIELDS`` in order; cost a Decimal or None (unknown).

    ``created_at`` is ISO 8601 with the offset of the organisation's time zone; ``model`` is the served
    model, or the requested one when none was served. Needs ``user`` and ``team`` loaded.
    """
    return {
        "request_id": event.request_id,
        "created_at": event.created_at.astimezone(timezone.get_default_timezone()).isoformat(),
        "user": event.user.email if event.user_id is not None and event.user is not None else None,
        "team": event.team.slug if event.team_id is not None and event.team is not None else None,
        "endpoint": event.endpoint,
        "model": event.model_served or event.model_requested,
        "status": event.status,
        "stream": event.stream,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "cached_tokens": event.cached_tokens,
        "reasoning_tokens": event.reasoning_tokens,
        "total_tokens": event.total_tokens,
        "cost_usd": event.cost_usd,
        "latency_ms": event.latency_ms,
        "estimated": event.is_estimated,
        "purpose": event.purpose,
        "max_tokens": event.max_tokens,
        "client_disconnected": event.client_disconnected,
        "model_requested": event.model_requested,
        "model_served": event.model_served,
        "provider": event.provider,
        "error_code": event.error_code,
        "time_to_first_byte_ms": event.time_to_first_byte_ms,
        "policy_action": event.policy_action,
        "prompt_hash": event.prompt_hash,
        "prompt_simhash": event.prompt_simhash,
        "output_simhash": event.output_simhash,
        "cache_write_tokens": event.cache_write_tokens,
        "client": event.client,
        "session_id": event.session_id,
        "agent_id": event.agent_id,
        "parent_agent_id": event.parent_agent_id,
        "request_class": event.request_class,
    }


def record_to_json(record: dict[str, Any]) -> str:
    """One JSON Lines line (no newline). Costs are JSON numbers: exact, as they have at most 14 digits."""
    cost = record["cost_usd"]
    if cost is not None:
        record = {**record, "cost_usd": float(cost)}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def record_to_csv_row(record: dict[str, Any]) -> list[str]:
    """One CSV row: booleans as true/false, unknown cost and other nulls as empty cells."""
    row = []
    for name in EXPORT_FIELDS:
        value = record[name]
        if value is None:
            row.append("")
        elif isinstance(value, bool):
            row.append("true" if value else "false")
        elif isinstance(value, Decimal):
            row.append(format(value.normalize(), "f"))
        else:
            row.append(str(value))
    return row


# --- Import ---------------------------------------------------------------------------------------


class BadRecord(ValueError):
    """A record that cannot be imported; the message says which field and why."""


@dataclasses.dataclass(slots=True)
class ParsedRecord:
    event: UsageEventData  # user_id/team_id unset yet; cost None when the record had none
    user_email: str | None
    team_slug: str | None
    has_cost: bool


def _str(data: dict, name: str, max_length: int, *, required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise BadRecord(f"{name}: missing")
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"{name}: must be a string")
    if required and not value:
        raise BadRecord(f"{name}: must not be empty")
    if len(value) > max_length:
        raise BadRecord(f"{name}: longer than {max_length} characters")
    return value


@overload
def _int(data: dict, name: str, *, default: int = 0, low: int = 0, high: int = _INT32_MAX) -> int: ...
@overload
def _int(data: dict, name: str, *, default: None, low: int = 0, high: int = _INT32_MAX) -> int | None: ...
def _int(data: dict, name: str, *, default: int | None = 0, low: int = 0, high: int = _INT32_MAX) -> int | None:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRecord(f"{name}: must be an integer")
    if not low <= value <= high:
        raise BadRecord(f"{name}: must be between {low} and {high}")
    return value


def _bool(data: dict, name: str) -> bool:
    value = data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRecord(f"{name}: must be true or false")
    return value


def _simhash(data: dict, name: str) -> int | None:
    value = _int(data, name, default=None, low=-(2**63), high=2**64 - 1)
    return value - 2**64 if value is not None and value >= 2**63 else value  # stored signed


def _cost(data: dict) -> Decimal | None:
    value = data.get("cost_usd")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise BadRecord("cost_usd: must be a number or null")
    try:
        cost = Decimal(value)
    except InvalidOperation:
        raise BadRecord(f"cost_usd: {value!r} is not a number") from None
    if not cost.is_finite() or not 0 <= cost <= _MAX_COST:
        raise BadRecord(f"cost_usd: must be between 0 and {_MAX_COST}")
    return cost.quantize(COST_QUANTUM)


def aware_iso_field(data: dict, name: str, *, error: type[Exception], missing: str) -> datetime:
    """``data[name]`` as an aware date-time; a value without offset is in the org's time zone.

    Raises ``error`` with ``missing`` when the field is absent or not a string, or when it is not ISO 8601.
    """
    value = data.get(name)
    if not isinstance(value, str):
        raise error(f"{name}: {missing}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise error(f"{name}: {value!r} is not an ISO 8601 date-time") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def _created_at(data: dict) -> datetime:
    return aware_iso_field(data, "created_at", error=BadRecord, missing="missing or not a string")


def _text(data: dict, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, (str, list, dict)):
        raise BadRecord(f"{name}: must be text, a list of messages or a message")
    return text_of_messages({"prompt": value})


def usage_record_parse(data: Any) -> ParsedRecord:
    """Validate one import record and build its event. Pure: no database. Raises BadRecord.

    Required: ``request_id``, ``created_at`` (ISO 8601; without an offset it is read in the
    organisation's time zone), ``endpoint``, ``status``. ``model`` is the served model unless
    ``model_served`` is given; ``model_requested`` defaults to ``model``. ``prompt`` / ``output`` text
    (or message lists) is turned into fingerprints and dropped.
    """
    if not isinstance(data, dict):
        raise BadRecord("a line must be a JSON object")
    user = _str(data, "user", 254) or None
    if user is not None:
        try:
            validate_email(user)
        except ValidationError:
            raise BadRecord(f"user: {user!r} is not an e-mail address") from None
    team = _str(data, "team", 64) or None
    if team is not None and slugify(team) != team.lower():
        raise BadRecord(f"team: {team!r} is not a slug (letters, digits, - and _)")
    model = _str(data, "model", 200)
    model_served = _str(data, "model_served", 200) if "model_served" in data else model
    prompt_tokens, completion_tokens = _int(data, "prompt_tokens"), _int(data, "completion_tokens")
    event = UsageEventData(
        request_id=_str(data, "request_id", 40, required=True),
        created_at=_created_at(data),
        endpoint=_str(data, "endpoint", 64, required=True),
        # None is refused below, once every other field has been read (their errors come first).
        status=cast(int, _int(data, "status", default=None, low=100, high=599)),
        model_requested=_str(data, "model_requested", 200) or model,
        model_served=model_served,
        provider=_str(data, "provider", 64),
        error_code=_str(data, "error_code", 64),
        stream=_bool(data, "stream"),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=_int(data, "cached_tokens"),
        cache_write_tokens=_int(data, "cache_write_tokens"),
        reasoning_tokens=_int(data, "reasoning_tokens"),
        total_tokens=_int(data, "total_tokens", default=prompt_tokens + completion_tokens),
        latency_ms=_int(data, "latency_ms"),
        time_to_first_byte_ms=_int(data, "time_to_first_byte_ms", default=None),
        is_estimated=_bool(data, "estimated"),
        client_disconnected=_bool(data, "client_disconnected"),
        max_tokens=_int(data, "max_tokens", default=None),
        purpose=_str(data, "purpose", 100),
        client=_str(data, "client", 100),
        session_id=_str(data, "session_id", 128),
        agent_id=_str(data, "agent_id", 64),
        parent_agent_id=_str(data, "parent_agent_id", 64),
        request_class=_str(data, "request_class", 32),
        policy_action=_str(data, "policy_action", 32),
        prompt_hash=_str(data, "prompt_hash", 64),
        prompt_simhash=_simhash(data, "prompt_simhash"),
        output_simhash=_simhash(data, "output_simhash"),
    )
    if event.status is None:
        raise BadRecord("status: missing")
    cost = _cost(data)
    event.cost_usd = None if cost is None else str(cost)
    prompt, output = _text(data, "prompt"), _text(data, "output")
    if prompt is not None:
        event.prompt_hash, event.prompt_simhash = prompt_fingerprints(prompt)
    if output is not None:
        event.output_simhash = simhash64(output)
    return ParsedRecord(event=event, user_email=user, team_slug=team, has_cost=cost is not None)


@dataclasses.dataclass(slots=True)
class ImportReport:
    lines: int = 0  # non-blank lines read
    valid: int = 0
    inserted: int = 0  # new to the ledger (the rest were already there)
    bad: list[tuple[int, str]] = dataclasses.field(default_factory=list)  # (line number, reason)
    stopped_at: int | None = None  # strict mode: the line that stopped the import


class _Resolver:
    """People and teams by e-mail / slug, created (audited) on first sight, cached for the import."""

    def __init__(self, actor_label: str) -> None:
        self.actor_label = actor_label
        self.users: dict[str, Any] = {}
        self.teams: dict[str, Team] = {}
        self.members: set[tuple[int, int]] = set()

    def apply(self, parsed: ParsedRecord) -> None:
        event, user, team = parsed.event, None, None
        if parsed.user_email is not None:
            email = parsed.user_email.lower()
            if email not in self.users:
                self.users[email] = user_get_or_create(email=email, actor_label=self.actor_label)
            user = self.users[email]
            event.user_id = user.pk
        if parsed.team_slug is not None:
            slug = slugify(parsed.team_slug)
            if slug not in self.teams:
                self.teams[slug] = team_get_or_create(slug=slug, actor_label=self.actor_label)
            team = self.teams[slug]
            event.team_id = team.pk
        if user is not None and team is not None and (user.pk, team.pk) not in self.members:
            membership_ensure(user=user, team=team, actor_label=self.actor_label)
            self.members.add((user.pk, team.pk))


def _price(parsed: ParsedRecord, table: PriceTable) -> None:
    """A record without a cost is costed at the price valid at its time; unknown when there is none."""
    event = parsed.event
    if parsed.has_cost:
        return
    if event.total_tokens == 0 and event.prompt_tokens == 0 and event.completion_tokens == 0:
        event.cost_usd = "0"  # nothing consumed costs nothing (as the proxy records it)
        return
    quote = table.quote(event.model_served or event.model_requested, at=event.created_at)
    if quote is not None:
        event.price_id = quote.id
        event.cost_usd = str(
            cost_usd(
                quote,
                prompt_tokens=event.prompt_tokens,
                cached_tokens=event.cached_tokens,
                completion_tokens=event.completion_tokens,
                cache_write_tokens=event.cache_write_tokens,
            )
        )


def usage_events_import(
    *,
    lines: Iterable[str | bytes],
    strict: bool = False,
    batch_size: int = 1000,
    on_line: Callable[[int], object] | None = None,
    actor_label: str = "import_usage",
) -> ImportReport:
    """Load JSON Lines usage records into the ledger, in batches through ``usage_events_ingest``.

    Idempotent on ``request_id``: re-importing a file inserts nothing. Unknown people and teams are
    created (audited) and made members. A bad line is reported (line number, reason) and skipped with
    nothing written for it; with ``strict`` the import stops at the first bad line (lines before it are
    imported - a re-run after fixing the file is safe). Dirty rollups are refreshed at the end.
    ``on_line(n_bytes)`` is called per line read, for progress bars. Database errors propagate.
    """
    report, resolver, table = ImportReport(), _Resolver(actor_label), price_table_load()
    batch: list[UsageEventData] = []
    for number, line in enumerate(lines, start=1):
        if on_line is not None:
            on_line(len(line))
        if not line.strip():
            continue
        report.lines += 1
        try:
            parsed = usage_record_parse(json.loads(line, parse_float=Decimal))
        except (BadRecord, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            reason = f"not valid JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else str(exc)
            report.bad.append((number, reason))
            if strict:
                report.stopped_at = number
                break
            continue
        resolver.apply(parsed)
        _price(parsed, table)
        batch.append(parsed.event)
        report.valid += 1
        if len(batch) >= batch_size:
            report.inserted += usage_events_ingest(events=batch)
            batch = []
    if batch:
        report.inserted += usage_events_ingest(events=batch)
    usage_rollups_refresh()
    return report
