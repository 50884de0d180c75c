"""The request log: one line per call, paged and filtered, narrowed to what the viewer may see.

Reads ``usage.models.UsageEvent`` newest first on the (team|user, created_at) indexes, never counting
the whole selection (a page asks for one row more to know whether another page follows). Prompt and
output text are returned only where they were stored, which happens only when a team's policy opts in.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from governance.periods import Period
from governance.selectors.access import calls_visible_filter

PAGE_SIZE = 50
STATUS_CHOICES = (
    ("", "Any status"),
    ("ok", "Succeeded (2xx)"),
    ("blocked", "Refused (402/403/429)"),
    ("error", "Failed (4xx/5xx)"),
)
LIST_FIELDS = (
    "request_id",
    "created_at",
    "user__email",
    "user__first_name",
    "user__last_name",
    "user__username",
    "team__slug",
    "key__name",
    "key__prefix",
    "endpoint",
    "model_requested",
    "model_served",
    "status",
    "error_code",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "latency_ms",
    "time_to_first_byte_ms",
    "purpose",
    "client",
    "session_id",
    "policy_action",
    "is_estimated",
)


@dataclasses.dataclass(frozen=True, slots=True)
class CallFilters:
    """What the log is narrowed to; empty strings and None mean "any"."""

    period: Period
    user_id: int | None = None
    team_id: int | None = None
    key_id: int | None = None
    model: str = ""
    purpose: str = ""
    client: str = ""
    session: str = ""
    status: str = ""  # "", "ok", "blocked", "error"
    search: str = ""  # a request id (or its start), a session id, a purpose, a model or a client


@dataclasses.dataclass(frozen=True, slots=True)
class CallPage:
    calls: list  # UsageEvent rows with the list fields loaded
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _visible(*, viewer):
    from usage.selectors import usage_events_all

    rows = usage_events_all()
    scope = calls_visible_filter(viewer=viewer)
    return rows if scope is None else rows.filter(scope)


def _filtered(rows, filters: CallFilters):
    zone = timezone.get_default_timezone()
    since = datetime.combine(filters.period.start, time.min, tzinfo=zone)
    until = datetime.combine(filters.period.end + timedelta(days=1), time.min, tzinfo=zone)
    rows = rows.filter(created_at__gte=since, created_at__lt=until)
    exact = {
        "user_id": filters.user_id,
        "team_id": filters.team_id,
        "key_id": filters.key_id,
        "purpose": filters.purpose,
        "session_id": filters.session,
    }
    rows = rows.filter(**{field: value for field, value in exact.items() if value not in (None, "")})
    if filters.model:
        rows = rows.filter(Q(model_served=filters.model) | Q(model_served="", model_requested=filters.model))
    if filters.client:
        rows = rows.filter(Q(client=filters.client) | Q(client__startswith=filters.client + "/"))
    if filters.status == "ok":
        rows = rows.filter(status__gte=200, status__lt=300)
    elif filters.status == "blocked":
        rows = rows.filter(status__in=(402, 403, 429))
    elif filters.status == "error":
        rows = rows.filter(status__gte=400)
    if filters.search:
        term = filters.search.strip()
        rows = rows.filter(
            Q(request_id__startswith=term)
            | Q(session_id=term)
            | Q(purpose=term)
            | Q(model_served=term)
            | Q(client__startswith=term)
        )
    return rows


def calls_page(*, viewer, filters: CallFilters, page: int = 1, page_size: int = PAGE_SIZE) -> CallPage:
    """One page of the calls ``viewer`` may see that match ``filters``, newest first.

    One query (``page_size + 1`` rows at an offset); ids outside the viewer's reach never match, whatever
    the filters say.
    """
    page = max(1, page)
    rows = (
        _filtered(_visible(viewer=viewer), filters)
        .select_related("user", "team", "key")
        .only(*LIST_FIELDS)
        .order_by("-created_at", "-id")
    )
    offset = (page - 1) * page_size
    found = list(rows[offset : offset + page_size + 1])
    return CallPage(calls=found[:page_size], page=page, has_next=len(found) > page_size)


def call_detail(*, viewer, request_id: str):
    """One call by its request id, if ``viewer`` may see it; else None (the page answers 404 either way)."""
    return _visible(viewer=viewer).select_related("user", "team", "key", "price").filter(request_id=request_id).first()


def call_cost_parts(call) -> dict[str, Decimal] | None:
    """The call's cost split by token class, from the price it was billed at (None without one)."""
    price = getattr(call, "price", None)
    if price is None:
        return None
    mtok = Decimal(1_000_000)
    uncached = max(call.prompt_tokens - call.cached_tokens, 0)
    parts = {
        "input": Decimal(uncached) * price.input_per_mtok / mtok,
        "cached input": Decimal(call.cached_tokens) * (price.cached_input_per_mtok or price.input_per_mtok) / mtok,
        "output": Decimal(call.completion_tokens) * price.output_per_mtok / mtok,
    }
    return parts
