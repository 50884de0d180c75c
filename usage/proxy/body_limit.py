"""An ASGI guard that keeps oversized bodies for ``/v1/*`` and ``/otlp/*`` out of memory and off disk.

Django reads a whole request body before any view runs. For proxy paths this wrapper looks first: a
body declared (``Content-Length``) or found (chunked) to exceed ``TOKENWISE_MAX_BODY_BYTES`` is not
handed to Django; the request arrives with an empty body and the scope flag ``BODY_TOO_LARGE``, and the
proxy view answers 413 in OpenAI's shape - after authenticating, so the refusal is recorded like any
other call; the OTLP view answers 413 with OTLP's ``Status``.
"""

from __future__ import annotations

from django.conf import settings

BODY_TOO_LARGE = "tokenwise.body_too_large"
PREFIX = "/v1/"
GUARDED = (PREFIX, "/otlp/")


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
        limit = settings.TOKENWISE_MAX_BODY_BYTES
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
