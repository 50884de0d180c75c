"""The ASGI handler of ``/v1/*``: the lean handler (usage/proxy/handler.py), plus the calls' tails.

``/v1/`` is served without the web pages' middleware, without a thread per request and without the
request signals' thread hops (see ``usage.proxy.handler``): callers authenticate with a key, views are
CSRF-exempt, nothing is rendered in a browser, and HTTPS is terminated - and redirected - by the load
balancer in front (docs/scaling.md).

A call's record - fingerprints and ledger event, in a batch with the other calls of its window
(usage/ledger/recorder.py) - is waited for after its response is sent (``AFTER_RESPONSE``): still inside this
request's ASGI call, so a graceful shutdown waits for it, but no longer between the upstream's answer
and the caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from usage.proxy.call import AFTER_RESPONSE, after_response_run
from usage.proxy.handler import LeanASGIHandler


class ProxyASGIHandler(LeanASGIHandler):
    """The lean handler; what a call left for after its response runs once the response is sent."""

    async def __call__(self, scope, receive, send) -> None:
        after_response: list[Callable[[], Awaitable[None]]] = []
        scope[AFTER_RESPONSE] = after_response
        try:
            await super().__call__(scope, receive, send)
        finally:
            if after_response:  # record, once the caller has its whole answer
                await after_response_run(after_response)
