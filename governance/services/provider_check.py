"""An admin's connection test of a provider: can Tokenwise reach it, and does it accept the stored key?"""

from __future__ import annotations

import dataclasses
import time

import httpx

from governance.models import Provider
from governance.services.providers import provider_secret


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionResult:
    ok: bool  # reached and the key was accepted (a 2xx answer)
    status: int | None  # the HTTP status, None when nothing answered
    elapsed_ms: int
    message: str


def provider_connection_test(*, provider: Provider, timeout_s: float = 5.0) -> ConnectionResult:
    """``GET {base_url}/models`` with the provider's key and extra headers; never raises.

    A 2xx answer is a pass; 401/403 means reachable but the key is refused; any other answer or a
    network error is reported as it is. The key is never part of the message.
    """
    headers = {str(key): str(value) for key, value in (provider.extra_headers or {}).items()}
    secret = provider_secret(provider)
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    url = provider.base_url.rstrip("/") + "/models"
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        elapsed = int((time.perf_counter() - started) * 1000)
        return ConnectionResult(
            ok=False, status=None, elapsed_ms=elapsed, message=f"Could not reach {url}: {type(exc).__name__}."
        )
    elapsed = int((time.perf_counter() - started) * 1000)
    if 200 <= response.status_code < 300:
        return ConnectionResult(
            ok=True,
            status=response.status_code,
            elapsed_ms=elapsed,
            message=f"Connected: {url} answered {response.status_code} in {elapsed} ms.",
        )
    if response.status_code in (401, 403):
        return ConnectionResult(
            ok=False,
            status=response.status_code,
            elapsed_ms=elapsed,
            message=f"Reachable, but the key was refused ({response.status_code}).",
        )
    return ConnectionResult(
        ok=False,
        status=response.status_code,
        elapsed_ms=elapsed,
        message=f"Reachable, but {url} answered {response.status_code}.",
    )
