"""Security middleware: a Content Security Policy on every response; on ``/api/``, a body size limit and
JSON error bodies for errors Django answers itself.

Django 5.2 has no built-in CSP. The policy comes from ``settings.TOKENWISE_CSP``; a view that needs a
different one (the API docs, which run Swagger UI) sets the ``Content-Security-Policy`` header itself and
it is kept. Both middlewares are sync and async capable, so the ``/v1/`` hot path stays async.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import JsonResponse


class _Middleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        early = self.before(request)
        return early if early is not None else self.after(request, self.get_response(request))

    async def _acall(self, request):
        early = self.before(request)
        return early if early is not None else self.after(request, await self.get_response(request))

    def before(self, request):
        return None

    def after(self, request, response):
        return response


class ContentSecurityPolicyMiddleware(_Middleware):
    """Adds ``Content-Security-Policy`` (unless the view set one) when ``TOKENWISE_CSP`` is not empty."""

    def after(self, request, response):
        policy = settings.TOKENWISE_CSP
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


_API_PREFIX = "/api/"
_API_PAGES = ("/api/docs/", "/api/schema/")  # HTML and YAML by design
_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 500: "server_error"}


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"status": status, "code": code, "message": message, "fields": None}}, status=status)


class ApiEdgeMiddleware(_Middleware):
    """The edge of ``/api/``: refuses bodies declared over ``TOKENWISE_API_MAX_BODY_BYTES`` (413), and turns
    any error Django answers itself (an unknown URL, a server error page) into the API's JSON error body.

    DRF reads only the declared length, so a body without one is read as empty: the limit holds.
    """

    def before(self, request):
        if not request.path.startswith(_API_PREFIX):
            return None
        limit = settings.TOKENWISE_API_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared <= limit:
            return None
        return _api_error(413, "request_too_large", f"The request body is larger than the {limit}-byte limit.")

    def after(self, request, response):
        if (
            response.status_code < 400
            or not request.path.startswith(_API_PREFIX)
            or request.path.startswith(_API_PAGES)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        status = response.status_code
        reason = response.reason_phrase or "Error"
        return _api_error(status, _ERROR_CODES.get(status, reason.lower().replace(" ", "_")), f"{reason}.")
