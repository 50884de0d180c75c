"""Upstream providers: routing a model name to a provider, and the request headers sent to it.

The default provider is configured like the ``openai`` package (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``),
and for the Messages API like the ``anthropic`` one (``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``);
admins add providers (of kind ``openai`` or ``anthropic``) and model routes in the database. A call
only follows the routes to providers of its protocol.

The routing table is kept in-process, built from ``governance.selectors.routes.routes_active`` (plain
values, read in the sync thread), and read again only when the routing version changes
(``governance.services.route_changes``): this process's own version, compared on every call, so a change
made here applies to the next call; and, with Redis, the shared version key, read at most once per
``ROUTES_CHECK_S`` by the call that finds the check due - so a change made in another process (an admin
page, a command, another worker) reaches every proxy process within about ``ROUTES_CHECK_S``. A version
read that fails (Redis down) keeps the table; the next one that succeeds reads the table again, since
a change may have been missed meanwhile. The database is not read in the steady state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import logging
import threading
import time
import weakref

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError

from core.redis import REDIS_ERRORS
from governance.selectors.routes import ProviderRow, RouteRow, routes_active
from governance.services.route_changes import routes_version, routes_version_shared

logger = logging.getLogger(__name__)

ROUTES_CHECK_S = 1.0  # how often a process reads the shared routing version (Redis mode)
ROUTES_RETRY_S = 2.0  # after a failed read of the table (database down), the next attempt
DEFAULT_PROVIDER = "default"


@dataclasses.dataclass(frozen=True, slots=True)
class Upstream:
    """Where one call goes. ``api_key`` never leaves the server."""

    provider: str
    base_url: str
    api_key: str
    model: str  # the model name sent upstream
    extra_headers: tuple[tuple[str, str], ...] = ()
    fallback: Upstream | None = None  # the route's secondary provider, tried when this one fails
    kind: str = "openai"  # the protocol: "openai" or "anthropic"


@dataclasses.dataclass(frozen=True, slots=True)
class _Route:
    pattern: str
    is_glob: bool
    upstream_model: str
    upstream: Upstream  # with model "": filled in per call (as its fallback's)


def _upstream_of(provider: ProviderRow, fallback: Upstream | None = None) -> Upstream:
    return Upstream(
        provider=provider.name,
        base_url=provider.base_url,
        api_key=provider.api_key,
        model="",
        extra_headers=provider.extra_headers,
        fallback=fallback,
        kind=provider.kind,
    )


def _table_of(rows: list[RouteRow]) -> list[_Route]:
    return [
        _Route(
            pattern=row.pattern,
            is_glob=any(ch in row.pattern for ch in "*?["),
            upstream_model=row.upstream_model,
            upstream=_upstream_of(row.provider, None if row.fallback is None else _upstream_of(row.fallback)),
        )
        for row in rows
    ]


@dataclasses.dataclass(slots=True)
class _Table:
    routes: list[_Route]
    # What the table was read at: (``routes_version()``, ``epoch``); None before the first read.
    read_at: tuple[int, int] | None = None
    epoch: int = 0  # bumped by every shared version seen to change, and by ``routes_invalidate``
    shared: int | None = None  # the last ``routes_version_shared()`` read (None: not known)
    shared_check_at: float = 0.0  # when the shared version is next read
    retry_at: float = 0.0  # after a failed read of the table: not before this


_table = _Table(routes=[])
_table_loaded = threading.Event()  # set once a routing table was read from the database
# One lock per event loop (a lock waited on belongs to its loop; a process may run several loops).
_table_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def routes_invalidate() -> None:
    """Read the routing table again on the next call (kept if the database is down)."""
    _table.epoch += 1
    _table.retry_at = 0.0


async def _shared_version_check(now: float) -> None:
    """Read the shared version; a new one (or the first after failed reads) makes the table stale."""
    _table.shared_check_at = now + ROUTES_CHECK_S
    try:
        shared = await routes_version_shared()
    except REDIS_ERRORS:
        _table.shared = None  # unknown: the next successful read reads the table again
        return
    if shared is not None and shared != _table.shared:
        _table.shared = shared
        _table.epoch += 1


async def _current_routes() -> list[_Route]:
    now = time.monotonic()
    if now >= _table.shared_check_at:
        await _shared_version_check(now)
    if _table.read_at == (routes_version(), _table.epoch) or now < _table.retry_at:
        return _table.routes
    loop = asyncio.get_running_loop()
    lock = _table_locks.get(loop)
    if lock is None:
        lock = _table_locks[loop] = asyncio.Lock()
    async with lock:
        wanted = (routes_version(), _table.epoch)  # a change during the read leaves the table stale
        if _table.read_at != wanted and time.monotonic() >= _table.retry_at:
            try:
                _table.routes = _table_of(await sync_to_async(routes_active)())
                _table.read_at = wanted
                _table_loaded.set()
            except DatabaseError:
                if not _table_loaded.is_set():
                    raise  # never loaded: no routing table to fall back on
                # Keep routing with the last table and retry soon (a database outage).
                logger.warning("model routes unreadable; keeping the last ones for %ss", ROUTES_RETRY_S)
                _table.retry_at = time.monotonic() + ROUTES_RETRY_S
    return _table.routes


async def upstream_for(model: str, kind: str = "openai") -> Upstream | None:
    """The upstream serving ``model`` in protocol ``kind``: an exact route, else the first matching glob,
    else the default (routes to providers of another protocol are not followed).

    Returns None when no route matches and no default provider is configured.
    """
    routes = [route for route in await _current_routes() if route.upstream.kind == kind]
    chosen = next((r for r in routes if not r.is_glob and r.pattern == model), None)
    if chosen is None:
        chosen = next((r for r in routes if r.is_glob and fnmatch.fnmatchcase(model, r.pattern)), None)
    if chosen is not None:
        served = chosen.upstream_model or model
        upstream = chosen.upstream
        fallback = None if upstream.fallback is None else dataclasses.replace(upstream.fallback, model=served)
        return dataclasses.replace(upstream, model=served, fallback=fallback)
    if kind == "anthropic":
        if not settings.ANTHROPIC_BASE_URL:
            return None
        return Upstream(
            provider=DEFAULT_PROVIDER,
            base_url=settings.ANTHROPIC_BASE_URL.rstrip("/"),
            api_key=settings.ANTHROPIC_API_KEY,
            model=model,
            kind=kind,
        )
    if not settings.OPENAI_BASE_URL:
        return None
    return Upstream(
        provider=DEFAULT_PROVIDER,
        base_url=settings.OPENAI_BASE_URL.rstrip("/"),
        api_key=settings.OPENAI_API_KEY,
        model=model,
    )


async def upstreams_all() -> list[Upstream]:
    """One entry per distinct provider (for listing models)."""
    seen: dict[str, Upstream] = {}
    for route in await _current_routes():
        if route.upstream.kind == "openai":
            seen.setdefault(route.upstream.provider, dataclasses.replace(route.upstream, fallback=None))
    if settings.OPENAI_BASE_URL:
        seen.setdefault(
            DEFAULT_PROVIDER,
            Upstream(
                provider=DEFAULT_PROVIDER,
                base_url=settings.OPENAI_BASE_URL.rstrip("/"),
                api_key=settings.OPENAI_API_KEY,
                model="",
            ),
        )
    return list(seen.values())


def upstream_headers(upstream: Upstream, *, json_body: bool) -> dict[str, str]:
    """The headers of a request to an OpenAI-compatible ``upstream`` (its key, its extra headers)."""
    headers = {"accept": "application/json, text/event-stream"}
    if upstream.api_key:
        headers["authorization"] = f"Bearer {upstream.api_key}"
    if json_body:
        headers["content-type"] = "application/json"
    headers.update(upstream.extra_headers)
    return headers
