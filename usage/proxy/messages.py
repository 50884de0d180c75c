"""Anthropic's Messages API under ``/v1/messages``, beside the OpenAI endpoints.

The same hot path as ``usage.proxy.views``: authenticate (the ``tw-`` key as ``x-api-key`` or
``Authorization: Bearer``), read, admit, route (providers of kind ``anthropic``; by default
``ANTHROPIC_BASE_URL`` / ``ANTHROPIC_API_KEY``), forward, relay, settle, record. The body goes upstream
as sent (tools, ``system`` arrays, ``cache_control``, thinking, metadata, unknown fields) unless the
served model or ``max_tokens`` change; ``anthropic-version``, every ``anthropic-beta`` value and the
query (Claude Code's ``?beta=true``) pass unchanged; upstream errors pass verbatim.

Errors Tokenwise makes itself are in Anthropic's shape, ``{"type": "error", "error": {"type",
"message"}}``, with Anthropic's statuses and types. A budget refusal carries ``x-should-retry: false``
(the SDKs, and so Claude Code, then stop at once instead of retrying); a rate limit ``retry-after``.
Claude Code asks ``max_tokens: 32000`` on every call: a call whose output does not fit the budget left
is sent with ``max_tokens`` lowered to what fits (``governance.enforcement.admission``, fitting).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from core import metrics
from governance.enforcement.admission import admission_admit, models_visible
from governance.enforcement.bounds import request_shape
from governance.exceptions import BudgetExceeded, GovernanceError, ModelNotAllowed
from usage.proxy.accounting import Tokens, output_text_of, tokens_from_anthropic_usage
from usage.proxy.auth_throttle import proxy_authenticate
from usage.proxy.call import Call
from usage.proxy.errors import ProxyError
from usage.proxy.relay import relay
from usage.proxy.upstream import Upstream, upstream_for
from usage.proxy.upstream_http import (
    UPSTREAM_ERRORS,
    broken,
    unreachable,
    upstream_release,
    upstream_session,
    upstream_timeout,
)
from usage.proxy.views import FALLBACK_STATUSES, call_answer, read_body

KIND = "anthropic"
DEFAULT_VERSION = "2023-06-01"
THINKING_MIN_BUDGET = 1024  # Anthropic's smallest thinking budget
PATHS = {"messages": "/v1/messages", "messages.count_tokens": "/v1/messages/count_tokens"}
# Anthropic's error type for each status Tokenwise answers with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
    529: "overloaded_error",
}
_PASS_HEADERS = ("retry-after", "request-id", "x-should-retry", "anthropic-organization-id")
_PASS_PREFIXES = ("anthropic-ratelimit-",)


def anthropic_error(
    *, status: int, message: str, request_id: str, headers: dict[str, str] | None = None, type: str | None = None
) -> HttpResponse:
    """An error in Anthropic's shape."""
    kind = type or ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}
    response = HttpResponse(json.dumps(body).encode(), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    response["x-request-id"] = request_id
    return response


def _response_for(exc: GovernanceError | ProxyError, *, request_id: str) -> HttpResponse:
    headers = dict(exc.headers)
    if isinstance(exc, BudgetExceeded):
        headers["x-should-retry"] = "false"  # retrying cannot help before the budget resets
    return anthropic_error(status=exc.status, message=exc.message, request_id=request_id, headers=headers)


def _authorization_from_api_key(request: HttpRequest) -> None:
    """Claude Code's ``ANTHROPIC_API_KEY`` arrives as ``x-api-key``: read it as a bearer key."""
    api_key = request.META.get("HTTP_X_API_KEY")
    if api_key and not request.META.get("HTTP_AUTHORIZATION"):
        request.META["HTTP_AUTHORIZATION"] = f"Bearer {api_key.strip()}"


def _check_body(body: dict[str, Any]) -> int:
    """The output bound the call asks: ``max_tokens`` (required), or a larger thinking budget."""
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ProxyError(
            400, "max_tokens: Field required (a positive integer)", code="invalid_value", param="max_tokens"
        )
    if "messages" not in body or not isinstance(body["messages"], list):
        raise ProxyError(400, "messages: Field required (a list)", code="invalid_value", param="messages")
    return max(max_tokens, _thinking_budget(body) or 0)


def _thinking_budget(body: dict[str, Any]) -> int | None:
    thinking = body.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    return budget if isinstance(budget, int) and not isinstance(budget, bool) else None


def forward_body(call: Call, raw: bytes, body: dict[str, Any], upstream: Upstream) -> bytes:
    """The caller's bytes, unless the served model or the output bound change (then re-serialised).

    A lowered ``max_tokens`` (a policy cap, or fitted to the budget left) lowers a thinking budget that
    no longer fits under it (the API wants ``budget_tokens < max_tokens``)."""
    changed: dict[str, Any] = {}
    if upstream.model != body["model"]:
        changed["model"] = upstream.model
    limit = call.admission.max_tokens if call.admission is not None else None
    if limit is not None and limit < body["max_tokens"]:
        changed["max_tokens"] = limit
    if limit is not None and (_thinking_budget(body) or 0) >= limit:
        changed["thinking"] = dict(body["thinking"], budget_tokens=max(THINKING_MIN_BUDGET, limit - 1))
    return json.dumps(dict(body, **changed)).encode() if changed else raw


def _upstream_headers(request: HttpRequest, upstream: Upstream) -> dict[str, str]:
    headers = {
        "accept": request.META.get("HTTP_ACCEPT") or "application/json",
        "content-type": "application/json",
        "anthropic-version": DEFAULT_VERSION,
    }
    for key, value in request.META.items():  # anthropic-version, every anthropic-beta value, as sent
        if key.startswith(("HTTP_ANTHROPIC_", "HTTP_X_CLAUDE_CODE_")):
            headers[key[5:].lower().replace("_", "-")] = value
    if upstream.api_key:
        headers["x-api-key"] = upstream.api_key
    headers.update(upstream.extra_headers)
    return headers


async def _send(call: Call, request: HttpRequest, upstream: Upstream, payload: bytes) -> aiohttp.ClientResponse:
    """POST ``payload`` to ``upstream``; the answer's body is left to read (ProxyError 502/504 before one)."""
    call.event.provider, call.event.model_served = upstream.provider, upstream.model
    base = upstream.base_url.removesuffix("/v1")
    query = request.META.get("QUERY_STRING")
    try:
        return await upstream_session().post(
            f"{base}{PATHS[call.endpoint]}" + (f"?{query}" if query else ""),
            data=payload,
            headers=_upstream_headers(request, upstream),
            timeout=upstream_timeout(),
            allow_redirects=False,
        )
    except UPSTREAM_ERRORS as exc:
        raise unreachable(exc) from exc


async def _send_with_fallback(
    call: Call, request: HttpRequest, upstream: Upstream, raw: bytes, body: dict[str, Any]
) -> aiohttp.ClientResponse:
    """As ``views.send_with_fallback``: the route's fallback provider once, when the first one fails
    before answering anything usable (unreachable, timeout, 429, 5xx)."""
    fallback = upstream.fallback
    try:
        response = await _send(call, request, upstream, forward_body(call, raw, body, upstream))
    except ProxyError as exc:
        if fallback is None:
            raise
        failure = exc.code
    else:
        if fallback is None or response.status not in FALLBACK_STATUSES:
            return response
        failure = f"status_{response.status}"
        upstream_release(response)
    metrics.UPSTREAM_ERRORS.labels(upstream.provider, metrics.UPSTREAM_KINDS.get(failure, failure)).inc()
    metrics.UPSTREAM_FALLBACKS.labels(upstream.provider, fallback.provider).inc()
    return await _send(call, request, fallback, forward_body(call, raw, body, fallback))


def _error_body(status: int, raw: bytes) -> tuple[bytes, str]:
    """An upstream error body (verbatim when it is Anthropic's shape, else wrapped) and its code."""
    try:
        data = json.loads(raw)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            return raw, str(error.get("type") or error.get("code") or f"upstream_{status}")
    except ValueError:
        pass
    text = raw[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json.dumps(
        {"type": "error", "error": {"type": kind, "message": f"Upstream error: {text}"}}
    ).encode(), f"upstream_{status}"


async def _answer_whole(call: Call, response: aiohttp.ClientResponse) -> HttpResponse:
    """Read a non-streamed (or error) upstream answer and pass it through."""
    try:
        raw = await response.read()
    except UPSTREAM_ERRORS as exc:
        raise broken(exc) from None
    finally:
        upstream_release(response)
    call.mark_first_byte()
    status = response.status
    if status >= 400:
        raw, call.event.error_code = _error_body(status, raw)
        call.event.model_served = ""  # nothing was served
    elif call.endpoint == "messages":
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict):
            call.tokens = tokens_from_anthropic_usage(data.get("usage"))
            call.output_parts.append(output_text_of("messages", data))
    out = HttpResponse(raw, status=status, content_type=response.headers.get("content-type", "application/json"))
    for name, value in response.headers.items():
        if name.lower() in _PASS_HEADERS or name.lower().startswith(_PASS_PREFIXES):
            out[name] = value
    await call.end(status=status, error_code=call.event.error_code)
    return out


async def _served_model_of(model: str) -> str | None:
    upstream = await upstream_for(model, KIND)
    return None if upstream is None else upstream.model


async def _forward_message(call: Call, request: HttpRequest) -> HttpResponseBase:
    assert call.principal is not None  # _forward identified the caller
    raw, body = read_body(request)
    asked = _check_body(body)
    call.observe_request(body)
    call.event.max_tokens = asked
    upstream = await upstream_for(body["model"], KIND)
    fit_min = settings.TOKENWISE_FIT_MIN_OUTPUT_TOKENS
    if fit_min and _thinking_budget(body) is not None:
        fit_min = max(fit_min, THINKING_MIN_BUDGET + 1)  # room for the smallest thinking budget
    shape = request_shape(
        endpoint="messages", raw_size=len(raw), body=body, betas=request.META.get("HTTP_ANTHROPIC_BETA", "")
    )
    call.admission = await admission_admit(
        principal=call.principal,
        endpoint="messages",
        model=body["model"],
        max_tokens=asked,
        shape=shape,
        served_model=None if upstream is None else upstream.model,
        serve=_served_model_of,
        request_id=call.request_id,
        fit_min_output=fit_min,
    )
    if call.admission.model != body["model"]:  # downgraded
        upstream = await upstream_for(call.admission.model, KIND)
    if upstream is None:
        raise ProxyError(
            404,
            f"model: {body['model']} is not routed to an Anthropic provider.",
            code="model_not_found",
            param="model",
        )
    upstream_response = await _send_with_fallback(call, request, upstream, raw, body)
    if call.event.stream and upstream_response.status < 400:
        response = StreamingHttpResponse(relay(call, upstream_response), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        for name, value in upstream_response.headers.items():
            if name.lower() in ("request-id",) or name.lower().startswith(_PASS_PREFIXES):
                response[name] = value
        return response
    return await _answer_whole(call, upstream_response)


async def _forward_count(call: Call, request: HttpRequest) -> HttpResponse:
    """count_tokens: the caller's policy must allow the model; recorded with no tokens and cost 0."""
    assert call.principal is not None  # _forward identified the caller
    raw, body = read_body(request)
    call.observe_request(body)
    call.tokens = Tokens()  # nothing is generated or billed: never estimated
    if not await models_visible(principal=call.principal, models=[body["model"]]):
        raise ModelNotAllowed(f"The model '{body['model']}' is not allowed by your team's policy.", param="model")
    upstream = await upstream_for(body["model"], KIND)
    if upstream is None:
        raise ProxyError(
            404,
            f"model: {body['model']} is not routed to an Anthropic provider.",
            code="model_not_found",
            param="model",
        )
    payload = raw if upstream.model == body["model"] else json.dumps(dict(body, model=upstream.model)).encode()
    return await _answer_whole(call, await _send(call, request, upstream, payload))


async def _anthropic_call(request: HttpRequest, endpoint: str) -> HttpResponseBase:
    """One proxied Messages API call: every exit path records exactly one usage event."""
    if request.method != "POST":
        return anthropic_error(
            status=405,
            message=f"Method {request.method} not allowed; use POST.",
            request_id="",
            headers={"Allow": "POST"},
        )
    call = Call.begin(endpoint, request)
    return await call_answer(call, _forward(call, request, endpoint), refusal=_response_for, failure=_server_error)


async def _forward(call: Call, request: HttpRequest, endpoint: str) -> HttpResponseBase:
    _authorization_from_api_key(request)
    call.identify(await proxy_authenticate(request))
    if endpoint == "messages":
        return await _forward_message(call, request)
    return await _forward_count(call, request)


def _server_error(
    *, status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    return anthropic_error(status=status, message=message, request_id=request_id, headers=headers)


@csrf_exempt
async def messages(request: HttpRequest) -> HttpResponseBase:
    return await _anthropic_call(request, "messages")


@csrf_exempt
async def count_tokens(request: HttpRequest) -> HttpResponseBase:
    return await _anthropic_call(request, "messages.count_tokens")


def api_hello(request: HttpRequest) -> HttpResponse:
    """Claude Code's start-up probe (``HEAD /api/hello``): a harmless answer, no key needed."""
    return HttpResponse(b'{"message":"hello"}', content_type="application/json")
