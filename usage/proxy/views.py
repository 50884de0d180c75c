"""The OpenAI-compatible endpoints under ``/v1/``: plain async Django views.

Each call follows the hot path of the design: authenticate, read the request, admit (policy check and
reservation), route, forward, relay, settle, record. Nothing here touches the database in the steady
state; every outcome - success, rejection or failure - is recorded as one usage event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from core import metrics
from governance.enforcement.admission import admission_admit, models_visible
from governance.enforcement.bounds import request_shape
from governance.exceptions import GovernanceError, KnownKeyRefused
from usage.proxy.accounting import output_text_of, requested_max_tokens, tokens_from_usage
from usage.proxy.auth_throttle import proxy_authenticate
from usage.proxy.body_limit import body_within_limit
from usage.proxy.call import Call
from usage.proxy.errors import (
    ProxyError,
    error_code_of,
    error_response,
    response_for_exception,
    upstream_error_body,
)
from usage.proxy.json_depth import json_depth_limit, json_too_deep
from usage.proxy.relay import relay
from usage.proxy.upstream import Upstream, upstream_for, upstream_headers, upstreams_all
from usage.proxy.upstream_http import (
    UPSTREAM_ERRORS,
    broken,
    unreachable,
    upstream_release,
    upstream_session,
    upstream_timeout,
)

logger = logging.getLogger(__name__)

PATHS = {
    "chat.completions": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "responses": "/responses",
}
STREAMABLE = {"chat.completions", "completions", "responses"}
FALLBACK_STATUSES = frozenset({429, 500, 502, 503, 504})  # worth retrying on another provider
_MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
MAX_TOKENS_BOUND = 2**31 - 1
_PASS_HEADERS = (
    "retry-after",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "openai-processing-ms",
)


def _method_not_allowed(request: HttpRequest, allowed: str) -> HttpResponse:
    return error_response(
        status=405,
        message=f"Method {request.method} not allowed; use {allowed}.",
        type="invalid_request_error",
        code="method_not_allowed",
        request_id="",
        headers={"Allow": allowed},
    )


def read_body(request: HttpRequest) -> tuple[bytes, dict[str, Any]]:
    """The raw body and its JSON object; ProxyError 413 when too large, 400 when not a JSON object."""
    raw = body_within_limit(request)
    if json_too_deep(raw):
        raise ProxyError(400, f"The JSON body nests deeper than {json_depth_limit()} levels.", code="invalid_json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProxyError(400, f"We could not parse the JSON body of your request: {exc}", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise ProxyError(400, "The request body must be a JSON object.", code="invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ProxyError(400, "You must provide a model parameter (a string).", code="missing_model", param="model")
    if "stream" in body and not isinstance(body["stream"], bool) and body["stream"] is not None:
        raise ProxyError(400, "'stream' must be a boolean.", code="invalid_type", param="stream")
    for name in _MAX_TOKENS_FIELDS:  # an absurd bound would overflow pricing and the ledger's columns
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_TOKENS_BOUND:
            raise ProxyError(
                400, f"'{name}' must be between 0 and {MAX_TOKENS_BOUND}.", code="invalid_value", param=name
            )
    return raw, body


_INCLUDE_USAGE = b',"stream_options":{"include_usage":true}'


def forward_body(call: Call, raw: bytes, body: dict[str, Any], upstream: Upstream) -> bytes:
    """The body sent upstream: the caller's bytes, unless the model, max_tokens or usage option change."""
    changed = False
    if upstream.model != body["model"]:
        body = dict(body, model=upstream.model)
        changed = True
    admission = call.admission
    if admission is not None and admission.max_tokens is not None:
        field, _ = requested_max_tokens(call.endpoint, body)
        if field:
            body = dict(body, **{field: admission.max_tokens})
            changed = True
    if call.event.stream and call.endpoint in ("chat.completions", "completions") and not call.caller_wants_usage:
        if not changed and "stream_options" not in body and raw.lstrip()[:1] == b"{":  # UTF-8, no BOM
            # Only the usage option to add: appended to the caller's own bytes (a JSON object with at
            # least "model", so ``...}`` becomes ``...,"stream_options":{...}}``), not re-serialised.
            end = raw.rstrip().rfind(b"}")
            return raw[:end] + _INCLUDE_USAGE + raw[end:]
        options = body.get("stream_options")
        body = dict(body, stream_options=dict(options if isinstance(options, dict) else {}, include_usage=True))
        changed = True
    return json.dumps(body).encode() if changed else raw


async def served_model_of(model: str) -> str | None:
    """The model name the route for ``model`` sends upstream; None when nothing serves it."""
    upstream = await upstream_for(model)
    return None if upstream is None else upstream.model


async def send_upstream(call: Call, upstream: Upstream, payload: bytes) -> aiohttp.ClientResponse:
    """POST ``payload`` to ``upstream``; the answer's body is left to read (ProxyError 502/504 before one)."""
    call.event.provider, call.event.model_served = upstream.provider, upstream.model
    try:
        return await upstream_session().post(
            f"{upstream.base_url}{PATHS[call.endpoint]}",
            data=payload,
            headers=upstream_headers(upstream, json_body=True),
            timeout=upstream_timeout(),
            allow_redirects=False,
        )
    except UPSTREAM_ERRORS as exc:
        raise unreachable(exc) from exc


async def send_with_fallback(
    call: Call, upstream: Upstream, raw: bytes, body: dict[str, Any]
) -> aiohttp.ClientResponse:
    """Send to the route's provider; when it fails before answering anything usable (unreachable,
    timeout, 429 or 5xx), send once to the route's fallback provider, if it has one.

    Nothing has reached the caller yet at that point, so the retry is invisible to it. The primary's
    failure is counted in ``tokenwise_upstream_errors_total``; the event records the provider that served.
    """
    fallback = upstream.fallback
    try:
        response = await send_upstream(call, upstream, forward_body(call, raw, body, upstream))
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
    logger.warning(
        "upstream %s failed (%s) for %s; trying fallback %s",
        upstream.provider,
        failure,
        call.request_id,
        fallback.provider,
    )
    return await send_upstream(call, fallback, forward_body(call, raw, body, fallback))


async def answer_whole(call: Call, response: aiohttp.ClientResponse) -> HttpResponse:
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
        raw = upstream_error_body(status, raw)
        try:
            call.event.error_code = str(json.loads(raw)["error"].get("code") or f"upstream_{status}")
        except (ValueError, KeyError, AttributeError, TypeError):
            call.event.error_code = f"upstream_{status}"
        call.event.model_served = ""  # nothing was served
    else:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict):
            call.tokens = tokens_from_usage(data.get("usage"))
            call.output_parts.append(output_text_of(call.endpoint, data))
    out = HttpResponse(raw, status=status, content_type=response.headers.get("content-type", "application/json"))
    for name in _PASS_HEADERS:
        if name in response.headers:
            out[name] = response.headers[name]
    await call.end(status=status, error_code=call.event.error_code)
    return out


async def proxy(request: HttpRequest, endpoint: str) -> HttpResponseBase:
    """One proxied POST: every exit path records exactly one usage event."""
    if request.method != "POST":
        return _method_not_allowed(request, "POST")
    call = Call.begin(endpoint, request)
    return await call_answer(
        call, _forward(call, request, endpoint), refusal=response_for_exception, failure=_server_error
    )


def _server_error(
    *, status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    return error_response(
        status=status, message=message, type="server_error", code=code, request_id=request_id, headers=headers
    )


async def call_answer(
    call: Call,
    forward: Awaitable[HttpResponseBase],
    *,
    refusal: Callable[..., HttpResponse],
    failure: Callable[..., HttpResponse],
) -> HttpResponseBase:
    """Await ``forward`` (the call's authentication, admission and forwarding) and answer, whatever happens,
    recording exactly one usage event: ``refusal(exc, request_id=...)`` shapes a governance or proxy
    refusal and ``failure(status=, code=, message=, request_id=, headers=)`` Tokenwise's own 503 and 500,
    each in the protocol's error shape (OpenAI's on /v1/chat..., Anthropic's on /v1/messages)."""
    response: HttpResponseBase
    try:
        response = await forward
    except (GovernanceError, ProxyError) as exc:
        if isinstance(exc, KnownKeyRefused) and exc.principal is not None:
            call.identify(exc.principal)
        response = refusal(exc, request_id=call.request_id)
        if call.principal is None:  # no known key: not a call of anyone's (usage.proxy.auth_throttle)
            call.discard(status=exc.status, error_code=error_code_of(exc))
        else:
            await call.end(status=exc.status, error_code=error_code_of(exc))
    except asyncio.CancelledError:  # the caller left before the answer began: still settled and recorded
        call.abandon()
        raise
    except DatabaseError as exc:
        # A store this call needed (a key not cached anywhere, a route table never loaded) is down.
        logger.warning("proxy: database unavailable for %s: %s", call.request_id, str(exc).strip()[:200])
        response = failure(
            status=503,
            code="service_unavailable",
            request_id=call.request_id,
            message="Tokenwise cannot reach its database; retry shortly.",
            headers={"Retry-After": "5"},
        )
        await call.end(status=503, error_code="service_unavailable")
    except Exception:
        # A defect, not bad input: still answer in the protocol's shape and record the call.
        logger.exception("proxy failure on %s", call.request_id)
        response = failure(
            status=500,
            code="internal_error",
            request_id=call.request_id,
            message="Tokenwise failed to handle this request.",
        )
        await call.end(status=500, error_code="internal_error")
    response["x-request-id"] = call.request_id
    if call.admission is not None:
        for name, value in call.admission.headers.items():
            response[name] = value
    return response


async def _forward(call: Call, request: HttpRequest, endpoint: str) -> HttpResponseBase:
    """Authenticate, admit and forward one OpenAI API call; raises what ``call_answer`` turns into errors."""
    principal = await proxy_authenticate(request)
    call.identify(principal)
    raw, body = read_body(request)
    if body.get("stream") is True and endpoint not in STREAMABLE:
        raise ProxyError(
            400, f"Streaming is not supported on {PATHS[endpoint]}.", code="invalid_stream", param="stream"
        )
    call.observe_request(body)
    upstream = await upstream_for(body["model"])  # priced as the model it will serve
    call.admission = await admission_admit(
        principal=principal,
        endpoint=endpoint,
        model=body["model"],
        max_tokens=call.event.max_tokens,
        shape=request_shape(endpoint=endpoint, raw_size=len(raw), body=body),
        served_model=None if upstream is None else upstream.model,
        serve=served_model_of,
        request_id=call.request_id,
    )
    if call.admission.model != body["model"]:  # downgraded
        upstream = await upstream_for(call.admission.model)
    if upstream is None:
        raise ProxyError(
            404,
            f"The model '{body['model']}' does not exist or is not routed to a provider.",
            code="model_not_found",
            param="model",
        )
    upstream_response = await send_with_fallback(call, upstream, raw, body)
    if call.event.stream and upstream_response.status < 400:
        response = StreamingHttpResponse(relay(call, upstream_response), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    return await answer_whole(call, upstream_response)


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    return await proxy(request, "chat.completions")


@csrf_exempt
async def completions(request: HttpRequest) -> HttpResponseBase:
    return await proxy(request, "completions")


@csrf_exempt
async def embeddings(request: HttpRequest) -> HttpResponseBase:
    return await proxy(request, "embeddings")


@csrf_exempt
async def responses(request: HttpRequest) -> HttpResponseBase:
    return await proxy(request, "responses")


_models_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
MODELS_TTL_S = 60.0


async def _provider_models(upstream: Upstream) -> list[dict[str, Any]]:
    cached = _models_cache.get(upstream.provider)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    models: list[dict[str, Any]] = []
    try:
        async with upstream_session().get(
            f"{upstream.base_url}/models",
            headers=upstream_headers(upstream, json_body=False),
            timeout=upstream_timeout(),
            allow_redirects=False,
        ) as response:
            data = json.loads(await response.read()) if response.status == 200 else {}
        models = [m for m in data.get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except (*UPSTREAM_ERRORS, ValueError, AttributeError):
        models = []  # an unreachable provider lists nothing; retried after the TTL
    _models_cache[upstream.provider] = (time.monotonic() + MODELS_TTL_S, models)
    return models


async def _models_visible(principal) -> dict[str, dict[str, Any]]:
    """Every provider's models that the caller's policy allows, by id (the first provider's entry)."""
    by_id: dict[str, dict[str, Any]] = {}
    for upstream in await upstreams_all():
        for model in await _provider_models(upstream):
            by_id.setdefault(model["id"], model)
    allowed = set(await models_visible(principal=principal, models=list(by_id)))
    return {model_id: model for model_id, model in sorted(by_id.items()) if model_id in allowed}


async def _models_answer(request: HttpRequest, answer) -> HttpResponse:
    """Authenticate a ``GET`` on the models endpoints and answer with ``answer(models visible)``."""
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    call = Call.begin("models", request)
    try:
        principal = await proxy_authenticate(request)
    except (GovernanceError, ProxyError) as exc:
        if isinstance(exc, KnownKeyRefused) and exc.principal is not None:
            call.identify(exc.principal)
            await call.end(status=exc.status, error_code=error_code_of(exc))
        else:
            call.discard(status=exc.status, error_code=error_code_of(exc))
        return response_for_exception(exc, request_id=call.request_id)
    call.identify(principal)
    try:
        response, error_code = answer(await _models_visible(principal)), ""
    except ProxyError as exc:
        response, error_code = response_for_exception(exc, request_id=call.request_id), exc.code
    response["x-request-id"] = call.request_id
    await call.end(status=response.status_code, error_code=error_code)
    return response


@csrf_exempt
async def models_list(request: HttpRequest) -> HttpResponse:
    """``GET /v1/models``: the models of every provider that the caller's policy allows."""
    return await _models_answer(
        request,
        lambda models: HttpResponse(
            json.dumps({"object": "list", "data": list(models.values())}), content_type="application/json"
        ),
    )


@csrf_exempt
async def model_retrieve(request: HttpRequest, model_id: str) -> HttpResponse:
    """``GET /v1/models/{model}``: the model object, as in the list, when the caller's policy allows it;
    404 ``model_not_found`` otherwise (the same answer for a model that exists but is not allowed)."""

    def answer(models: dict[str, dict[str, Any]]) -> HttpResponse:
        if model_id not in models:
            raise ProxyError(
                404,
                f"The model '{model_id}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        return HttpResponse(json.dumps(models[model_id]), content_type="application/json")

    return await _models_answer(request, answer)


@csrf_exempt
async def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any other ``/v1/...`` path: 404 in OpenAI's shape (not a page), whatever the method."""
    return error_response(
        status=404,
        message=f"Invalid URL ({request.method} {request.path}).",
        type="invalid_request_error",
        code="unknown_url",
        request_id="",
    )
