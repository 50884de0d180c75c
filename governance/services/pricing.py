"""The price table: versioned per-model prices, and the cost of a call.

Prices are USD per million tokens (input, cached input, cache write, output). A change never edits a row: it adds a
version with its ``valid_from``, so an event keeps the price it was charged at.

The hot path (``price_quote``) reads an in-process snapshot of the whole table, reloaded from the
database at most every ``SNAPSHOT_TTL_S`` seconds; ``price_set`` drops this process's snapshot at once
(other processes pick the change up within the TTL). A model with no price has an *unknown* cost
(``None``), never 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import weakref
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from asgiref.sync import sync_to_async
from django.db import Error as DatabaseError, transaction
from django.utils import timezone

from governance.models import Price
from governance.services.audit import audit_record, audit_snapshot

logger = logging.getLogger(__name__)

SNAPSHOT_TTL_S = 30.0
RETRY_AFTER_ERROR_S = 5.0
MTOK = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.00000001")  # UsageEvent.cost_usd has 8 decimal places
DEFAULTS_VALID_FROM = datetime(2024, 1, 1, tzinfo=UTC)

# (model, input, cached input or None, output) - USD per 1M tokens, OpenAI list prices (standard tier).
# A fresh install loads these through migration governance/0002_default_prices; change prices with
# ``price_set`` (or a new data migration), never by editing rows.
DEFAULT_PRICES: list[tuple[str, str, str | None, str]] = [
    ("gpt-4o", "2.50", "1.25", "10.00"),
    ("gpt-4o-mini", "0.15", "0.075", "0.60"),
    ("gpt-4.1", "2.00", "0.50", "8.00"),
    ("gpt-4.1-mini", "0.40", "0.10", "1.60"),
    ("gpt-4.1-nano", "0.10", "0.025", "0.40"),
    ("gpt-5", "1.25", "0.125", "10.00"),
    ("gpt-5-mini", "0.25", "0.025", "2.00"),
    ("gpt-5-nano", "0.05", "0.005", "0.40"),
    ("o1", "15.00", "7.50", "60.00"),
    ("o3", "2.00", "0.50", "8.00"),
    ("o3-mini", "1.10", "0.55", "4.40"),
    ("o4-mini", "1.10", "0.275", "4.40"),
    ("gpt-4-turbo", "10.00", None, "30.00"),
    ("gpt-3.5-turbo", "0.50", None, "1.50"),
    ("gpt-3.5-turbo-instruct", "1.50", None, "2.00"),
    ("text-embedding-3-small", "0.02", None, "0"),
    ("text-embedding-3-large", "0.13", None, "0"),
    ("text-embedding-ada-002", "0.10", None, "0"),
]

# (model, input, cache read, cache write, output) - USD per 1M tokens, Anthropic's list prices (cache
# writes: the 5-minute cache). Loaded by migration governance/0010_cache_write_anthropic; the dated ids
# (``claude-sonnet-4-5-20250929``) are priced as these names.
DEFAULT_CLAUDE_PRICES: list[tuple[str, str, str, str, str]] = [
    ("claude-opus-4-8", "5.00", "0.50", "6.25", "25.00"),
    ("claude-opus-4-7", "5.00", "0.50", "6.25", "25.00"),
    ("claude-opus-4-6", "5.00", "0.50", "6.25", "25.00"),
    ("claude-opus-4-5", "5.00", "0.50", "6.25", "25.00"),
    ("claude-opus-4-1", "15.00", "1.50", "18.75", "75.00"),
    ("claude-opus-4", "15.00", "1.50", "18.75", "75.00"),
    ("claude-opus-4-0", "15.00", "1.50", "18.75", "75.00"),
    ("claude-sonnet-4-6", "3.00", "0.30", "3.75", "15.00"),
    ("claude-sonnet-4-5", "3.00", "0.30", "3.75", "15.00"),
    ("claude-sonnet-4", "3.00", "0.30", "3.75", "15.00"),
    ("claude-sonnet-4-0", "3.00", "0.30", "3.75", "15.00"),
    ("claude-haiku-4-5", "1.00", "0.10", "1.25", "5.00"),
    ("claude-3-5-haiku", "0.80", "0.08", "1.00", "4.00"),
]

# A provider's dated snapshot of a model: "gpt-4o-2024-08-06", "gpt-3.5-turbo-0125",
# "claude-sonnet-4-5-20250929".
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


@dataclasses.dataclass(frozen=True, slots=True)
class PriceQuote:
    """One price version: its id (stored on the event as ``price_id``) and its rates per 1M tokens."""

    id: int
    model: str
    input_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None
    output_per_mtok: Decimal
    valid_from: datetime
    cache_write_per_mtok: Decimal | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PriceTable:
    """Every price version, per model, newest ``valid_from`` first."""

    versions: dict[str, tuple[PriceQuote, ...]]

    def quote(self, model: str, *, at: datetime) -> PriceQuote | None:
        """The version of ``model``'s price valid at ``at``; None when there is none.

        Exact name first; else a dated snapshot name (``gpt-4o-2024-08-06``) is priced as the longest
        priced name it extends by a date suffix. Other suffixes (``o3-pro``) are not guessed: an unknown
        model must show up as unpriced rather than be charged another model's rate.
        """
        versions = self.versions.get(model)
        if versions is None:
            match = _SNAPSHOT_SUFFIX.search(model)
            if match is None:
                return None
            versions = self.versions.get(model[: match.start()])
            if versions is None:
                return None
        for version in versions:
            if version.valid_from <= at:
                return version
        return None


def _quote_of(price: Price) -> PriceQuote:
    return PriceQuote(
        id=price.pk,
        model=price.model,
        input_per_mtok=price.input_per_mtok,
        cached_input_per_mtok=price.cached_input_per_mtok,
        output_per_mtok=price.output_per_mtok,
        valid_from=price.valid_from,
        cache_write_per_mtok=price.cache_write_per_mtok,
    )


def price_table_load() -> PriceTable:
    """Read the whole price table (one query). For batch work: imports, backfills, the snapshot."""
    versions: dict[str, list[PriceQuote]] = {}
    for price in Price.objects.order_by("model", "-valid_from", "-id"):
        versions.setdefault(price.model, []).append(_quote_of(price))
    return PriceTable(versions={model: tuple(items) for model, items in versions.items()})


def cost_usd(
    quote: PriceQuote, *, prompt_tokens: int, cached_tokens: int, completion_tokens: int, cache_write_tokens: int = 0
) -> Decimal:
    """The cost of a call in USD, rounded half-up to 8 decimal places.

    Cached tokens (cache reads) and cache writes are part of ``prompt_tokens``; each class is billed at
    its own rate when the model has one, else at the input rate. Reasoning tokens are part of
    ``completion_tokens`` (billed as output).
    """
    prompt = max(prompt_tokens, 0)
    cached = min(max(cached_tokens, 0), prompt)
    written = min(max(cache_write_tokens, 0), prompt - cached)
    uncached = prompt - cached - written
    cached_rate = quote.input_per_mtok if quote.cached_input_per_mtok is None else quote.cached_input_per_mtok
    write_rate = quote.input_per_mtok if quote.cache_write_per_mtok is None else quote.cache_write_per_mtok
    micro_usd = (
        uncached * quote.input_per_mtok
        + cached * cached_rate
        + written * write_rate
        + max(completion_tokens, 0) * quote.output_per_mtok
    )
    return (micro_usd / MTOK).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


# --- Hot path -------------------------------------------------------------------------------------

_snapshot: PriceTable | None = None
_snapshot_expires = 0.0  # time.monotonic() deadline
_refresh_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def price_snapshot_invalidate() -> None:
    """Drop this process's snapshot; the next quote reloads the table."""
    global _snapshot_expires
    _snapshot_expires = 0.0


async def _snapshot_current() -> PriceTable:
    global _snapshot, _snapshot_expires
    if _snapshot is not None and time.monotonic() < _snapshot_expires:
        return _snapshot
    loop = asyncio.get_running_loop()
    lock = _refresh_locks.get(loop)
    if lock is None:
        lock = _refresh_locks[loop] = asyncio.Lock()
    async with lock:  # one reload per process and loop, however many calls are waiting
        if _snapshot is None or time.monotonic() >= _snapshot_expires:
            expires = time.monotonic() + SNAPSHOT_TTL_S
            try:
                _snapshot = await sync_to_async(price_table_load, thread_sensitive=True)()
            except DatabaseError:
                # Keep pricing with what we had (or price nothing: cost unknown, never 0) and retry soon.
                logger.warning("price table unreadable; retrying in %ss", RETRY_AFTER_ERROR_S, exc_info=True)
                _snapshot = _snapshot or PriceTable(versions={})
                expires = time.monotonic() + RETRY_AFTER_ERROR_S
            _snapshot_expires = expires
    return _snapshot


async def price_quote(model: str) -> PriceQuote | None:
    """The price version of ``model`` valid now, or None when the model has no price (cost unknown).

    Steady state: a dict lookup in the in-process snapshot, no database and no Redis. A stale snapshot
    (older than ``SNAPSHOT_TTL_S``, or invalidated by ``price_set``) is reloaded once, off the loop.
    """
    table = await _snapshot_current()
    return table.quote(model, at=timezone.now())


# --- Admin writes ---------------------------------------------------------------------------------


def _rate(value: Decimal | str | int | float, name: str) -> Decimal:
    rate = Decimal(str(value))
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return rate


@transaction.atomic
def price_set(
    *,
    model: str,
    input_per_mtok: Decimal | str,
    cached_input_per_mtok: Decimal | str | None,
    output_per_mtok: Decimal | str,
    valid_from: datetime | None = None,
    actor=None,
    actor_label: str = "",
    cache_write_per_mtok: Decimal | str | None = None,
) -> Price:
    """Add a new version of ``model``'s price, valid from ``valid_from`` (default: now). Audited.

    Never edits an existing version. Raises ValueError for an empty model name or a negative rate, and
    IntegrityError when the model already has a version with exactly this ``valid_from``. This
    process's price snapshot is dropped when the transaction commits.
    """
    model = model.strip()
    if not model:
        raise ValueError("model must not be empty")
    price = Price.objects.create(
        model=model,
        input_per_mtok=_rate(input_per_mtok, "input_per_mtok"),
        cached_input_per_mtok=(
            None if cached_input_per_mtok is None else _rate(cached_input_per_mtok, "cached_input_per_mtok")
        ),
        output_per_mtok=_rate(output_per_mtok, "output_per_mtok"),
        cache_write_per_mtok=(
            None if cache_write_per_mtok is None else _rate(cache_write_per_mtok, "cache_write_per_mtok")
        ),
        valid_from=valid_from or timezone.now(),
    )
    audit_record(actor=actor, actor_label=actor_label, action="create", instance=price, after=audit_snapshot(price))
    transaction.on_commit(price_snapshot_invalidate)
    return price
