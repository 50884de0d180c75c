"""Providers and model routes. Provider secrets are encrypted at rest and never shown back."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction

from governance.exceptions import GovernanceError
from governance.models import ModelRoute, Provider
from governance.services.audit import audit_record, audit_snapshot, audited_upsert
from governance.services.route_changes import routes_changed


@functools.cache
def _fernet() -> Fernet:
    material = settings.TOKENWISE_SECRETS_KEY or settings.SECRET_KEY
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def secret_encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def secret_decrypt(encrypted: str) -> str:
    """A secret ``secret_encrypt`` stored; '' when empty or encrypted under another key."""
    if not encrypted:
        return ""
    try:
        return _fernet().decrypt(encrypted.encode()).decode()
    except InvalidToken:
        return ""


def provider_secret(provider: Provider) -> str:
    """The provider's API key: from its environment variable if named, else decrypted from the database."""
    if provider.api_key_env:
        return os.environ.get(provider.api_key_env, "")
    if not provider.api_key_encrypted:
        return ""
    try:
        return _fernet().decrypt(provider.api_key_encrypted.encode()).decode()
    except InvalidToken:
        return ""  # encrypted under another key: treated as no secret; an admin must set it again


def _after_change() -> None:
    transaction.on_commit(routes_changed)  # the proxy reloads its routing table on the next call


# RFC 9110: a field name is a token; a value is visible ASCII, spaces and tabs (no CR, LF or NUL, which
# would split or end the request upstream, and which PostgreSQL's JSON cannot store).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*\Z")


def extra_headers_problem(headers: dict) -> str | None:
    """Why ``headers`` cannot be sent upstream as extra HTTP headers, or None when every one can."""
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            return f"{name!r} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)."
        if not isinstance(value, str) or not _HEADER_VALUE.match(value):
            return f"The value of {name} must be printable ASCII text (no line breaks or control characters)."
    return None


class ProviderInvalid(GovernanceError):
    status = 400
    code = "invalid_provider"


@transaction.atomic
def provider_upsert(
    *,
    name: str,
    base_url: str,
    api_key: str | None = None,
    api_key_env: str = "",
    extra_headers: dict | None = None,
    is_active: bool = True,
    actor=None,
    actor_label: str = "",
    kind: str | None = None,
) -> Provider:
    """Create or update a provider. ``api_key=None`` keeps the stored secret, ``kind=None`` the stored
    protocol (a new provider: ``openai``). Audited (secret masked)."""
    problem = extra_headers_problem(extra_headers or {})
    if problem:
        raise ProviderInvalid(problem, param="extra_headers")

    def change(provider: Provider) -> None:
        provider.base_url = base_url
        provider.api_key_env = api_key_env
        provider.extra_headers = extra_headers or {}
        provider.is_active = is_active
        if kind is not None:
            provider.kind = kind
        if api_key is not None:
            provider.api_key_encrypted = secret_encrypt(api_key)

    provider = audited_upsert(Provider, lookup={"name": name}, change=change, actor=actor, actor_label=actor_label)
    _after_change()
    return provider


@transaction.atomic
def route_upsert(
    *,
    pattern: str,
    provider: Provider,
    upstream_model: str = "",
    priority: int = 100,
    fallback_provider: Provider | None = None,
    actor=None,
    actor_label: str = "",
) -> ModelRoute:
    """Route model names matching ``pattern`` to ``provider``. Audited."""

    def change(route: ModelRoute) -> None:
        route.provider = provider
        route.upstream_model = upstream_model
        route.priority = priority
        route.fallback_provider = fallback_provider

    route = audited_upsert(ModelRoute, lookup={"pattern": pattern}, change=change, actor=actor, actor_label=actor_label)
    _after_change()
    return route


@transaction.atomic
def route_delete(*, route: ModelRoute, actor=None, actor_label: str = "") -> None:
    """Delete a model route; its model names fall back to the default upstream. Audited."""
    before = audit_snapshot(route)
    audit_record(actor=actor, actor_label=actor_label, action="delete", instance=route, before=before)
    route.delete()
    _after_change()
