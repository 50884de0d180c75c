"""Upstream providers: routing a model name to a provider, and the pooled HTTP client.

The default provider is configured like the ``openai`` package (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``),
and for the Messages API like the ``anthropic`` one (``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``);
admins add providers (of kind ``openai`` or ``anthropic``) and model routes in the database. A call
only follows the routes to providers of its protocol. Routes are cached in-process and refreshed at
most every ``ROUTES_TTL_S`` seconds, so the database is not read in the steady state.
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

from governance.services.route_changes import routes_version
from usage.proxy.transport import UpstreamClient, UpstreamRequest, upstream_client

logger = logging.getLogger(__name__)

ROUTES_TTL_S = 15.0
ROUTES_RETRY_S = 2.0
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
    provider: str
    base_url: str
    api_key: str
    upstream_model: str
    extra_headers: tuple[tuple[str, str], ...]
    fallback: Upstream | None = None  # with model "": filled in per call
    kind: str = "openai"


_routes: tuple[float, list[_Route]] = (0.0, [])
_routes_version = 0  # ``routes_version()`` when ``_routes`` was loaded: a newer one means an admin change
_routes_loaded = threading.Event()  # set once a routing table was read from the database
# One lock per event loop (a lock waited on belongs to its loop; a process may run several loops).
_routes_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _load_routes() -> list[_Route]:
    from governance.models import ModelRoute
    from governance.services.providers import provider_secret  # decrypts at rest-encrypted secrets

    def headers_of(provider) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((str(k), str(v)) for k, v in (provider.extra_headers or {}).items()))

    routes = []
    for route in ModelRoute.objects.select_related("provider", "fallback_provider").filter(provider__is_active=True):
        provider, second = route.provider, route.fallback_provider
        fallback = None
        if second is not None and second.is_active and second.pk != provider.pk and second.kind == provider.kind:
            fallback = Upstream(
                provider=second.name,
                base_url=second.base_url.rstrip("/"),
                api_key=provider_secret(second),
                model="",
                extra_headers=headers_of(second),
                kind=second.kind,
            )
        routes.append(
            _Route(
                pattern=route.pattern,
                is_glob=any(ch in route.pattern for ch in "*?["),
                provider=provider.name,
                base_url=provider.base_url.rstrip("/"),
                api_key=provider_secret(provider),
                upstream_model=route.upstream_model,
                extra_headers=headers_of(provider),
                fallback=fallback,
                kind=provider.kind,
            )
        )
    return routes


def routes_invalidate() -> None:
    """Forget this process's route snapshot (called after an admin change)."""
    global _routes
    _routes = (0.0, _routes[1])  # expired: reloaded by the next call (kept only if the database is down)


async def _current_routes() -> list[_Route]:
    global _routes, _routes_version
    expires_at, routes = _routes
    if expires_at > time.monotonic() and _routes_version == routes_version():
        return routes
    loop = asyncio.get_running_loop()
    lock = _routes_locks.get(loop)
    if lock is None:
        lock = _routes_locks[loop] = asyncio.Lock()
    async with lock:
        version = routes_version()
        if _routes[0] <= time.monotonic() or _routes_version != version:
            _routes_version = version
            try:
                _routes = (time.monotonic() + ROUTES_TTL_S, await sync_to_async(_load_routes)())
                _routes_loaded.set()
            except DatabaseError:
                if not _routes_loaded.is_set():
                    raise  # never loaded: no routing table to fall back on
                # Keep routing with the last table and retry soon (a database outage).
                logger.warning("model routes unreadable; keeping the last ones for %ss", ROUTES_RETRY_S)
                _routes = (time.monotonic() + ROUTES_RETRY_S, _routes[1])
    return _routes[1]


async def upstream_for(model: str, kind: str = "openai") -> Upstream | None:
    """The upstream serving ``model`` in protocol ``kind``: an exact route, else the first matching glob,
    else the default (routes to providers of another protocol are not followed).

    Returns None when no route matches and no default provider is configured.
    """
    routes = [route for route in await _current_routes() if route.kind == kind]
    chosen = next((r for r in routes if not r.is_glob and r.pattern == model), None)
    if chosen is None:
        chosen = next((r for r in routes if r.is_glob and fnmatch.fnmatchcase(model, r.pattern)), None)
    if chosen is not None:
        served = chosen.upstream_model or model
        fallback = None if chosen.fallback is None else dataclasses.replace(chosen.fallback, model=served)
        return Upstream(
            provider=chosen.provider,
            base_url=chosen.base_url,
            api_key=chosen.api_key,
            model=served,
            extra_headers=chosen.extra_headers,
            fallback=fallback,
            kind=kind,
        )
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
    for r in await _current_routes():
        if r.kind != "openai":
            continue
        seen.setdefault(
            r.provider,
            Upstream(
                provider=r.provider, base_url=r.base_url, api_key=r.api_key, model="", extra_headers=r.extra_headers
            ),
        )
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


# --- The pooled client (one per event loop, i.e. one per worker process) --------------------------


def http_client() -> UpstreamClient:
    """The pooled upstream client of this process (aiohttp; see usage/proxy/transport.py)."""
    return upstream_client()


def build_request(upstream: Upstream, *, method: str, path: str, body: bytes | None) -> UpstreamRequest:
    headers = {"accept": "application/json, text/event-stream"}
    if upstream.api_key:
        headers["authorization"] = f"Bearer {upstream.api_key}"
    if body is not None:
        headers["content-type"] = "application/json"
    headers.update(upstream.extra_headers)
    return UpstreamRequest(
        method=method,
        url=f"{upstream.base_url}{path}",
        headers=headers,
        content=body,
        connect_timeout_s=settings.TOKENWISE_UPSTREAM_CONNECT_TIMEOUT_S,
        read_timeout_s=settings.TOKENWISE_UPSTREAM_READ_TIMEOUT_S,
    )
