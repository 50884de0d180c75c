"""The request body limit of ``/v1/*`` (and ``/otlp/*``): one limit, one check.

Django reads a whole request body before any view runs, so the limit is applied twice over one rule:

- ``body_limit``, an ASGI guard, looks first: a body declared (``Content-Length``) or found (chunked)
  to exceed ``max_body_bytes()`` is not handed to Django; the request arrives with an empty body and
  the scope flag ``BODY_TOO_LARGE``, which keeps it out of memory and off disk;
- ``body_within_limit`` is the check the proxy's views make, after authenticating (so the refusal is
  recorded like any other call): the flag, the declared length or the body itself past the limit raise
  one ``ProxyError`` 413 ``request_too_large``, which each endpoint answers in its protocol's error
  shape (OpenAI's on /v1/chat..., Anthropic's on /v1/messages). The OTLP view answers the flag with
  OTLP's ``Status``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from usage.proxy.errors import ProxyError

BODY_TOO_LARGE = "tokenwise.body_too_large"
PREFIX = "/v1/"
GUARDED = (PREFIX, "/otlp/")


def max_body_bytes() -> int:
    """The largest body ``/v1/*`` accepts (``TOKENWISE_MAX_BODY_BYTES``)."""
    return settings.TOKENWISE_MAX_BODY_BYTES


def body_within_limit(request: HttpRequest, limit: int | None = None) -> bytes:
    """The request's body; ``ProxyError`` 413 when it is larger than ``limit`` (``max_body_bytes()`` when
    not given; an endpoint may accept less, never more, since the guard has applied the general limit)."""
    if limit is None:
        limit = max_body_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    raw = b""
    too_large = declared > limit or bool(getattr(request, "scope", {}).get(BODY_TOO_LARGE))
    if not too_large:
        try:
            raw = request.body
        except RequestDataTooBig:  # past DATA_UPLOAD_MAX_MEMORY_SIZE
            too_large = True
        else:
            too_large = len(raw) > limit
    if too_large:
        raise ProxyError(413, f"Request body is larger than the {limit}-byte limit.", code="request_too_large")
    return raw


def _declared_length(scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def body_limit(app):
    async def guarded(scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith(GUARDED):
            return await app(scope, receive, send)
        limit = max_body_bytes()
        declared = _declared_length(scope)
        if declared is not None and declared <= limit:
            return await app(scope, receive, send)  # framing is enforced by the server: the common path
        buffered: list[dict] = []
        size, too_large = 0, declared is not None
        while not too_large:
            message = await receive()
            if message["type"] != "http.request":
                buffered.append(message)
                break
            size += len(message.get("body", b""))
            if size > limit:
                too_large = True
                break
            buffered.append(message)
            if not message.get("more_body", False):
                break
        if too_large:
            scope = dict(scope, **{BODY_TOO_LARGE: True})
            buffered = [{"type": "http.request", "body": b"", "more_body": False}]

        async def replay():
            if buffered:
                return buffered.pop(0)
            while True:  # after the body: only a disconnect is of interest; skip the unread rest
                message = await receive()
                if message["type"] != "http.request":
                    return message

        return await app(scope, replay, send)

    return guarded
