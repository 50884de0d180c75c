"""ASGI entry point: Django, plus the built-in demo upstream when it is switched on."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from django.urls import get_resolver  # noqa: E402

# Import every URLconf and view now, at worker start: done lazily, it added about a second to the
# first call each worker served (docs/performance.md).
get_resolver().reverse_dict  # noqa: B018

from django.conf import settings  # noqa: E402  (settings need the Django setup above)

DEMO_PREFIX = "/demo-upstream"


def _with_demo_upstream(django_app):
    from devtools.demo_upstream import app as demo_app

    async def application(scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == DEMO_PREFIX or path.startswith(DEMO_PREFIX + "/")):
            scope = dict(scope, path=path[len(DEMO_PREFIX) :] or "/", root_path=DEMO_PREFIX)
            return await demo_app(scope, receive, send)
        return await django_app(scope, receive, send)

    return application


def _with_proxy_handler(django_app):
    """``/v1/*`` goes to Django without the web pages' middleware (see usage/proxy/asgi.py)."""
    from usage.proxy.asgi import ProxyASGIHandler

    proxy_app = ProxyASGIHandler()

    async def application(scope, receive, send):
        if scope["type"] == "http" and scope.get("path", "").startswith(PROXY_PREFIX):
            return await proxy_app(scope, receive, send)
        return await django_app(scope, receive, send)

    return application


from usage.proxy.body_limit import PREFIX as PROXY_PREFIX, body_limit  # noqa: E402

application = body_limit(_with_proxy_handler(django_application))
if settings.TOKENWISE_DEMO_UPSTREAM:
    application = _with_demo_upstream(application)

# Everything loaded so far (Django, every app, URLconf and view) lives as long as the worker: moved out
# of the garbage collector's sight, so a full collection scans only what requests create: a much
# shorter stall for whichever call is running when it happens (figures in docs/performance.md).
gc.collect()
gc.freeze()
