"""The floor: a minimal pass-through reverse proxy on the same stack as Tokenwise, with nothing else.

One async Django view (no apps, no middleware) under uvicorn, forwarding with one pooled aiohttp session
per process (Tokenwise's upstream client, usage/proxy/upstream_http.py), streams relayed chunk by chunk -
and no auth, no policy, no ledger. Served two ways:

- ``application``: Django's own ASGI handler, as ``get_asgi_application()`` gives it - the minimal
  pass-through a team would write on this stack: **the floor** of the throughput target;
- ``lean_application``: the lean handler Tokenwise serves ``/v1/`` with (usage/proxy/handler.py: no
  per-request thread, no signal thread hops). Against it, the comparison isolates what Tokenwise's own
  work (keys, policy, counters, ledger, fingerprints) costs, with the serving layer's savings taken
  out; the benchmark prints it beside the judged figure.

    BENCH_UPSTREAM_URL=http://127.0.0.1:9100 uvicorn bench.probes.floor:application --workers 2
"""

from __future__ import annotations

import asyncio
import os

import aiohttp
import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        SECRET_KEY="bench-floor",
        USE_TZ=True,
        DATA_UPLOAD_MAX_MEMORY_SIZE=8 * 1024 * 1024,
    )
    django.setup()

from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from usage.proxy.handler import LeanASGIHandler

UPSTREAM = os.environ.get("BENCH_UPSTREAM_URL", "http://127.0.0.1:9100").rstrip("/")
_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None:
        session = _sessions[loop] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=2000, limit_per_host=0, keepalive_timeout=30.0),
            skip_auto_headers=("User-Agent",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
    return session


async def _relay(response: aiohttp.ClientResponse):
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.release()


@csrf_exempt
async def forward(request: HttpRequest, path: str) -> HttpResponse:
    response = await _session().request(
        request.method,
        f"{UPSTREAM}/{path}",
        data=request.body,
        headers={"content-type": request.content_type or "application/json"},
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=300.0),
    )
    content_type = response.headers.get("content-type", "application/json")
    if content_type.startswith("text/event-stream"):
        return StreamingHttpResponse(_relay(response), status=response.status, content_type=content_type)
    body = await response.read()
    response.release()
    return HttpResponse(body, status=response.status, content_type=content_type)


urlpatterns = [re_path(r"^(?P<path>.*)$", forward)]


application = ASGIHandler()  # what get_asgi_application() returns (the settings are configured above)
lean_application = LeanASGIHandler()  # served the way Tokenwise serves /v1/
