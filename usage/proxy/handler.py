"""A lean Django ASGI handler for API traffic: Django's request handling, without the thread hops.

Django's ``ASGIHandler`` wraps every request in three costs that an API made of async views does not
need (docs/performance.md measured them as the largest part of a proxied call after the proxy's own
work):

- the **middleware stack** of the web pages: every ``MiddlewareMixin`` runs through ``sync_to_async``
  (two thread hops per middleware). API callers authenticate with a key, not a session; views are
  CSRF-exempt; nothing is rendered in a browser; HTTPS is ended and redirected by the load balancer;
- a **thread per request** (asgiref's ``ThreadSensitiveContext``, created and joined per request);
- the **request signals**: ``request_started`` and ``request_finished`` run their receivers through
  ``sync_to_async`` - two hops to a worker thread per request, each copying the request's context
  there and back (asgiref's ``_restore_context`` is a large part of that). Their receivers
  reset the query log and close database connections that are broken or too old, in the thread that
  owns them. Here no query runs on the event loop's thread; the rare database work of an API call
  (a cache refill, a fallback write) runs in asgiref's one long-lived sync thread. That thread's
  connections are checked the way the signal would, by ``close_old_connections`` there, at most once
  a second (``CONNECTION_CHECK_S``) instead of twice per request.

URL resolution, the request object, exception handling and the response encoding are Django's own.
This module imports nothing of Tokenwise's apps: the benchmark's bare forwarder (bench/probes/floor.py) is
served by the same handler, so the two are compared on equal terms.

Why ``handle`` is a copy of Django 5.2's ``ASGIHandler.handle`` rather than an override of a smaller
method: the per-request costs above sit inside that one method, with no hook around them. It calls
``signals.request_started.asend`` (a thread hop for the sync receivers Django connects to every
sender, so they cannot be left out for this handler), and ends with ``sync_to_async(response.close)()``
- a thread hop on every response even with no receiver, since ``HttpResponse.close`` is sync and sends
``request_finished``. The surrounding methods it calls (``read_body``, ``create_request``,
``run_get_response``, ``send_response``, ``listen_for_disconnect``) are used unchanged; only the
middleware (``load_middleware``) and the per-request thread (``__call__``) are overridden through
Django's own methods. ``response.close`` is not called: ``/v1/`` answers hold no resource to free
(an ``HttpResponse``, or a ``StreamingHttpResponse`` whose iterator ``send_response`` closes itself).
Django upgrades must compare ``handle`` with the new ``ASGIHandler.handle``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.db import close_old_connections
from django.urls import set_script_prefix

CONNECTION_CHECK_S = 1.0

_next_check = 0.0
_checks: set[asyncio.Task] = set()


def _connections_check_due() -> None:
    """Close broken or expired database connections of the sync thread, at most once a second."""
    global _next_check
    now = time.monotonic()
    if now < _next_check:
        return
    _next_check = now + CONNECTION_CHECK_S
    task = asyncio.ensure_future(sync_to_async(close_old_connections, thread_sensitive=True)())
    _checks.add(task)
    task.add_done_callback(_checks.discard)


class LeanASGIHandler(ASGIHandler):
    """``ASGIHandler`` with an empty middleware chain, no per-request thread and no signal hops."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Callable[..., Any]] = []
        self._template_response_middleware: list[Callable[..., Any]] = []
        self._exception_middleware: list[Callable[..., Any]] = []
        self._middleware_chain = convert_exception_to_response(
            # Django's private BaseHandler methods, which django-stubs does not declare.
            self._get_response_async if is_async else self._get_response  # type: ignore[attr-defined]
        )

    async def handle(self, scope, receive, send) -> None:
        """Django's ``ASGIHandler.handle`` (5.2) without the request signals and ``response.close``
        (see the module docstring)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        _connections_check_due()
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # create_request answers a request or an error response
            body_file.close()
            await self.send_response(error_response, send)
            return

        async def process_request() -> None:
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client disconnected while the response was being sent

        # Watch for a disconnect while the view runs: the view is cancelled (a stream's relay then
        # settles and records the call; see usage/proxy/relay.py).
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        processor = asyncio.create_task(process_request())
        await asyncio.wait((listener, processor), return_when=asyncio.FIRST_COMPLETED)
        for task in (listener, processor):
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        body_file.close()
