"""OpenAI-shaped error responses for ``/v1/*``.

Every error the proxy returns has the body ``{"error": {"message", "type", "param", "code"}}`` and the
caller's ``x-request-id``. Domain exceptions (``governance.exceptions``) are mapped here, once.
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from governance.exceptions import GovernanceError


class ProxyError(Exception):
    """An error the proxy itself detects (bad input, upstream failure)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type
        self.param = param
        self.headers = headers or {}


def error_body(*, message: str, type: str, code: str | None, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type, "param": param, "code": code}}).encode()


def error_response(
    *,
    status: int,
    message: str,
    type: str,
    code: str | None,
    request_id: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    response = HttpResponse(
        error_body(message=message, type=type, code=code, param=param),
        status=status,
        content_type="application/json",
    )
    response["x-request-id"] = request_id
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def response_for_exception(exc: Exception, *, request_id: str) -> HttpResponse:
    """The OpenAI-shaped response for a domain or proxy error."""
    if isinstance(exc, (GovernanceError, ProxyError)):
        return error_response(
            status=exc.status,
            message=exc.message,
            type=exc.type,
            code=exc.code,
            param=exc.param,
            headers=exc.headers,
            request_id=request_id,
        )
    raise TypeError(f"not an API error: {exc!r}")


def error_code_of(exc: Exception) -> str:
    return getattr(exc, "code", "") or type(exc).__name__


def upstream_error_body(status: int, raw: bytes) -> bytes:
    """Pass an upstream error body through when it is already OpenAI-shaped, else wrap it."""
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return raw
    except ValueError:
        pass
    text = raw[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return error_body(message=f"Upstream error: {text}", type=kind, code=f"upstream_{status}")
