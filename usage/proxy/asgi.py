"""The ASGI handler of ``/v1/*``: Django's own, without the middleware stack of the web pages.

Django runs every ``MiddlewareMixin`` middleware of an async view through ``sync_to_async`` - two
thread hops per middleware per request (``process_request`` and ``process_response``). With the web
pages' stack (security, static files, sessions, CSRF, auth, messages, clickjacking) that was the
largest single cost of a proxied call (docs/performance.md). None of it applies to ``/v1/``: callers
authenticate with a key, not a session or cookie; views are CSRF-exempt; nothing is rendered in a
browser. HTTPS is terminated, and redirected, by the load balancer in front (docs/scaling.md).

It also serves a request without asgiref's ``ThreadSensitiveContext``: that context gives every request
a thread of its own for thread-sensitive sync code (created, then joined, per request - the next
largest cost), where the proxy runs such code only for Django's request signals and for the rare
fallbacks (a database write when Redis is down). Those share asgiref's one long-lived sync thread
instead, which also keeps its database connection from call to call.

URL resolution, the request object, signals and exception handling are Django's, unchanged.

A call's settlement and ledger publication run after its response is sent (``AFTER_RESPONSE``): still
inside this request's ASGI call, so a graceful shutdown waits for them, but no longer between the
upstream's answer and the caller.
"""

from __future__ import annotations

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

from usage.proxy.call import AFTER_RESPONSE, after_response_run


class ProxyASGIHandler(ASGIHandler):
    """``ASGIHandler`` whose middleware chain is empty (async all the way to the view)."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        after_response = scope[AFTER_RESPONSE] = []
        try:
            await self.handle(scope, receive, send)
        finally:
            if after_response:  # settle and record, once the caller has its whole answer
                await after_response_run(after_response)

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(
            self._get_response_async if is_async else self._get_response)


def proxy_application():
    """The ASGI application for ``/v1/*`` paths (call after ``django.setup()``)."""
    return ProxyASGIHandler()
