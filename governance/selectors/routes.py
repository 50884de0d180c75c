"""Reads of the routing table: the active model routes with their providers, as plain values.

The proxy (``usage.proxy.upstream``) builds its in-process routing table from ``routes_active()`` and
reads it again only when ``governance.services.route_changes`` reports a new version. The values carry
no model instances, so the proxy never touches the ORM; provider secrets are decrypted here.
"""

from __future__ import annotations

import dataclasses

from governance.models import ModelRoute, Provider
from governance.services.providers import provider_secret


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderRow:
    """An active provider. ``api_key`` is the decrypted secret: it never leaves the server."""

    name: str
    kind: str  # the protocol it speaks: "openai" or "anthropic"
    base_url: str  # without a trailing slash
    api_key: str
    extra_headers: tuple[tuple[str, str], ...]  # sorted by name


@dataclasses.dataclass(frozen=True, slots=True)
class RouteRow:
    """A model route to an active provider, in the order routes are matched (priority, then pattern)."""

    pattern: str
    upstream_model: str  # "" sends the requested name unchanged
    provider: ProviderRow
    fallback: ProviderRow | None  # an active provider of the same kind, other than ``provider``


def _provider_row(provider: Provider) -> ProviderRow:
    return ProviderRow(
        name=provider.name,
        kind=provider.kind,
        base_url=provider.base_url.rstrip("/"),
        api_key=provider_secret(provider),
        extra_headers=tuple(sorted((str(k), str(v)) for k, v in (provider.extra_headers or {}).items())),
    )


def routes_active() -> list[RouteRow]:
    """Every route whose provider is active, with its usable fallback provider (one query)."""
    rows = []
    for route in ModelRoute.objects.select_related("provider", "fallback_provider").filter(provider__is_active=True):
        provider, second = route.provider, route.fallback_provider
        usable = second is not None and second.is_active and second.pk != provider.pk and second.kind == provider.kind
        rows.append(
            RouteRow(
                pattern=route.pattern,
                upstream_model=route.upstream_model,
                provider=_provider_row(provider),
                fallback=_provider_row(second) if usable and second is not None else None,
            )
        )
    return rows
