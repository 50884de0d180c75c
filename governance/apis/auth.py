"""Authentication for ``/api/``: API tokens (``Authorization: Bearer twa-…``) next to the browser session.

Proxy keys (``tw-…``) are refused here with a message saying so, just as the proxy refuses API tokens.
Failed attempts are counted per client address; past ``TOKENWISE_API_AUTH_FAILURES_PER_MINUTE`` the
address gets 429 for the rest of the minute, whatever it sends, so secrets cannot be guessed online.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from governance.exceptions import AuthenticationFailed as DomainAuthenticationFailed
from governance.services.api_tokens import TOKEN_PREFIX, api_token_authenticate
from governance.services.keys import KEY_PREFIX

_FAILURES_KEY = "api-auth-failures:{}"


def _client_address(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def auth_failures_exceeded(request) -> bool:
    limit = settings.TOKENWISE_API_AUTH_FAILURES_PER_MINUTE
    return (cache.get(_FAILURES_KEY.format(_client_address(request))) or 0) >= limit


def auth_failure_count(request) -> None:
    key = _FAILURES_KEY.format(_client_address(request))
    if cache.add(key, 1, timeout=60):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=60)


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer twa-…``. No header: not this scheme (the session may apply)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request)
        if not header:
            return None
        if auth_failures_exceeded(request):
            raise exceptions.Throttled(wait=60, detail="Too many failed authentication attempts; wait a minute.")
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            auth_failure_count(request)
            raise exceptions.AuthenticationFailed("Send the API token as 'Authorization: Bearer twa-...'.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            auth_failure_count(request)
            raise exceptions.AuthenticationFailed("Incorrect API token provided.") from None
        if secret.startswith(KEY_PREFIX):
            auth_failure_count(request)
            raise exceptions.AuthenticationFailed(
                f"Proxy keys ({KEY_PREFIX}...) only work on /v1/. Use an API token ({TOKEN_PREFIX}...) here."
            )
        try:
            token = api_token_authenticate(secret=secret)
        except DomainAuthenticationFailed as exc:
            auth_failure_count(request)
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from exc
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": f"{TOKEN_PREFIX}..."}
