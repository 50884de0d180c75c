"""The demo upstream's ASGI application: auth, faults, recording and the OpenAI endpoints.

A plain ASGI callable (no framework, no Django) so it stays fast enough to be the benchmark's upstream.
"""

from __future__ import annotations

import hmac
import itertools
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from . import anthropic, payloads, tokens
from .asgi import (
    DROP_CONNECTION,
    EVENT_STREAM,
    JSON,
    ApiError,
    Exchange,
    Receive,
    Scope,
    Send,
    headers_of,
    integer_parameter,
    missing_parameter,
    quiet_uvicorn_drops,
    route_of,
)
from .faults import TRUNCATE_AFTER_DELTAS, Faults, parse_faults
from .framing import frame, framing_check
from .payloads import DEMO_MODELS, DemoModel

MAX_CHOICES = 8

_STATUS_ERRORS = {
    400: ("invalid_request_error", None, "The request was rejected (fake fault)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (fake fault)."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Access denied (fake fault)."),
    404: ("invalid_request_error", None, "Not found (fake fault)."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (fake fault)."),
    500: ("server_error", None, "The server had an error while processing your request (fake fault)."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later (fake fault)."),
}


def _mask(key: str) -> str:
    return f"{key[:3]}{'*' * max(len(key) - 7, 0)}{key[-4:]}" if len(key) > 7 else "*" * len(key)


def _chat_seed(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return tokens.content_text(message.get("content"))
    return " ".join(tokens.content_text(message.get("content")) for message in messages)


def _responses_seed(input: str | list[Any]) -> str:
    if isinstance(input, str):
        return input
    for item in reversed(input):
        if isinstance(item, str):
            return item
        if isinstance(item, dict) and item.get("role", "user") == "user" and "content" in item:
            return tokens.content_text(item["content"])
    return ""


class DemoUpstream:
    """Tokenwise's built-in demo upstream: an OpenAI-compatible server whose answers are synthetic.

    In-process observability: ``requests`` (the most recent ``max_recorded_requests`` API requests as
    ``{"method", "path", "query", "headers", "json"}``, headers lower-cased, ``json`` None when the body
    was not JSON), ``stats`` and ``reset()``; the same over HTTP at ``GET /_fake/requests``,
    ``GET /_fake/stats`` and ``POST /_fake/reset``. Not thread-safe beyond what the GIL gives: read it
    from another thread, mutate it from the server's loop only (or through ``reset()`` between tests).

    ``stats`` counters: ``requests`` (API calls received), ``streams_started`` / ``streams_completed`` /
    ``streams_cancelled`` (the client went away mid-stream) / ``streams_truncated`` (``truncate`` fault),
    ``connections_dropped`` (``reset`` / ``truncate``); plus the gauge ``in_flight`` (API calls being
    handled right now, which ``reset()`` leaves alone).

    ``tool_calls``: scripted tool calls, (tool name, input), for a coding agent to carry out: the next
    Messages request offering that tool is answered with a call of it (first in, first out; ``reset()``
    empties it). Otherwise an answer calls a tool only when ``tool_choice`` asks for one, with no input.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        latency_ms: float = 0.0,
        chunk_delay_ms: float = 0.0,
        models: Iterable[DemoModel] = DEMO_MODELS,
        max_recorded_requests: int = 10_000,
        framing: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.framing = framing_check(framing)  # streams' default framing (``framing``); a request's own wins
        self.latency_ms = latency_ms
        self.chunk_delay_ms = chunk_delay_ms
        self.models = tuple(models)
        self._by_name = {name: model for model in self.models for name in (model.id, model.snapshot)}
        self.max_recorded_requests = max_recorded_requests
        self.requests: list[dict[str, Any]] = []
        self.stats: dict[str, int] = {}
        self.tool_calls: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()
        self._routes: dict[tuple[str, str], Callable[..., Awaitable[Any]]] = {
            ("POST", "/chat/completions"): self._chat,
            ("POST", "/completions"): self._completions,
            ("POST", "/embeddings"): self._embeddings,
            ("POST", "/responses"): self._responses,
            ("GET", "/models"): self._models,
            ("POST", "/messages"): self._messages,
            ("POST", "/messages/count_tokens"): self._count_tokens,
        }
        self.prompt_cache: set[str] = set()  # Messages prompt prefixes written to the cache
        self.reset()
        quiet_uvicorn_drops()

    def reset(self) -> None:
        """Forget recorded requests and scripted tool calls, and zero the counters."""
        self.requests.clear()
        self.prompt_cache.clear()
        self.tool_calls.clear()
        self.stats.update(
            requests=0,
            streams_started=0,
            streams_completed=0,
            streams_cancelled=0,
            streams_truncated=0,
            connections_dropped=0,
        )
        self.stats.setdefault("in_flight", 0)  # a live gauge, not a counter: reset keeps it

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{self._id_prefix}{next(self._ids):016x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] == "http":
            return await self._http(scope, receive, send)
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return None

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> Any:
        exchange = Exchange(receive, send, self._new_id("req_"))
        route = route_of(scope)
        try:
            if route.startswith("/_fake/") or route in ("/", "/healthz"):
                return await self._control(scope["method"], route, exchange)
            self.stats["in_flight"] += 1
            try:
                body = await exchange.read_body()
                return await self._api(scope, route, body, exchange)
            finally:
                self.stats["in_flight"] -= 1
        except ApiError as error:
            answer = error.body
            if route.startswith("/messages"):  # Anthropic's error shape
                answer = anthropic.error_body(error.status, error.body["error"]["message"])
            await exchange.json(error.status, answer, error.headers)
            return None
        finally:
            exchange.close()

    async def _control(self, method: str, route: str, exchange: Exchange) -> None:
        if (method, route) == ("GET", "/_fake/requests"):
            await exchange.json(200, self.requests)
        elif (method, route) == ("GET", "/_fake/stats"):
            await exchange.json(200, self.stats)
        elif (method, route) == ("POST", "/_fake/reset"):
            self.reset()
            await exchange.json(200, {"status": "reset"})
        elif method == "GET" and route in ("/", "/healthz"):
            await exchange.json(200, {"service": "Tokenwise demo upstream", "answers": "synthetic"})
        else:
            raise ApiError(404, f"Invalid URL ({method} {route})")

    def _record(self, scope: Scope, headers: dict[str, str], parsed: Any) -> None:
        self.stats["requests"] += 1
        if len(self.requests) >= 2 * self.max_recorded_requests:
            del self.requests[: len(self.requests) - self.max_recorded_requests + 1]
        self.requests.append(
            {
                "method": scope["method"],
                "path": scope.get("path", ""),
                "query": scope.get("query_string", b"").decode("latin-1"),
                "headers": headers,
                "json": parsed,
            }
        )

    def _authenticate(self, headers: dict[str, str]) -> None:
        if self.api_key is None:
            return
        authorization = headers.get("authorization", "")
        if not authorization and headers.get("x-api-key"):  # Anthropic's header
            authorization = f"Bearer {headers['x-api-key']}"
        if not authorization:
            message = "You didn't provide an API key. Provide it in an Authorization header (Bearer auth)."
            raise ApiError(401, message, code="invalid_api_key")
        given = authorization.removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise ApiError(401, f"Incorrect API key provided: {_mask(given)}.", code="invalid_api_key")

    async def _api(self, scope: Scope, route: str, body: bytes, exchange: Exchange) -> Any:
        method, headers = scope["method"], headers_of(scope)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
            malformed = True
        else:
            malformed = False
        self._record(scope, headers, parsed)
        self._authenticate(headers)
        handler, argument = self._resolve(method, route)
        payload: dict[str, Any] = {}
        if method == "POST":
            if malformed or not isinstance(parsed, dict):
                raise ApiError(400, "We could not parse the JSON body of your request. The body must be a JSON object.")
            payload = parsed
        try:
            faults = parse_faults(headers.get("x-fake-fault"), payload.get("fake_fault"))
        except ValueError as error:
            raise ApiError(400, str(error), param="fake_fault") from None
        if not await self._before_answer(faults, exchange):
            return None
        if faults.reset:
            self.stats["connections_dropped"] += 1
            return DROP_CONNECTION
        if faults.stall:
            await exchange.watch()
            return None
        if faults.status is not None:
            raise self._status_error(faults.status)
        return await handler(payload, faults, exchange, *argument)

    async def _before_answer(self, faults: Faults, exchange: Exchange) -> bool:
        delay = self.latency_ms + faults.slow_ms
        return await exchange.pause(delay) if delay > 0 else True

    def _resolve(self, method: str, route: str) -> tuple[Callable[..., Awaitable[Any]], tuple[str, ...]]:
        handler = self._routes.get((method, route))
        if handler is not None:
            return handler, ()
        if method == "GET" and route.startswith("/models/"):
            return self._model_detail, (route.removeprefix("/models/"),)
        if any(known == route for _, known in self._routes) or route.startswith("/models/"):
            raise ApiError(405, f"Method not allowed ({method} {route}).")
        raise ApiError(404, f"Invalid URL ({method} /v1{route})")

    @staticmethod
    def _status_error(status: int) -> ApiError:
        type, code, message = _STATUS_ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status} (fake fault).")
        )
        headers = [(b"retry-after", b"1")] if status == 429 else []
        return ApiError(status, message, type=type, code=code, headers=headers)

    def _model(self, payload: dict[str, Any], *, kind: str, endpoint: str) -> tuple[DemoModel, str]:
        """Return the model asked for and the name to report as served (the snapshot for an alias)."""
        name = payload.get("model")
        if name is None:
            raise missing_parameter("model")
        if not isinstance(name, str):
            raise ApiError(400, "Invalid type for 'model': expected a string.", param="model", code="invalid_type")
        model = self._by_name.get(name)
        if model is None:
            message = f"The model `{name}` does not exist or you do not have access to it."
            raise ApiError(404, message, param="model", code="model_not_found")
        if model.kind != kind:
            raise ApiError(404, f"The model `{name}` is not supported by the {endpoint} endpoint.", param="model")
        return model, model.snapshot if name == model.id else name

    async def _answer(self, exchange: Exchange, body: dict[str, Any], faults: Faults) -> Any:
        if not faults.truncate:
            await exchange.json(200, body)
            return None
        data = payloads.dumps(body)
        await exchange.start(200, JSON, length=len(data))
        await exchange.body(data[: len(data) // 2], more=True)
        self.stats["connections_dropped"] += 1
        return DROP_CONNECTION

    async def _stream(self, exchange: Exchange, events: payloads.StreamEvents, faults: Faults) -> Any:
        """Send SSE events one by one, counting started / completed / cancelled / truncated streams."""
        exchange.watch()
        await exchange.start(200, EVENT_STREAM)
        self.stats["streams_started"] += 1
        pace = self.chunk_delay_ms if faults.slow_stream_ms is None else faults.slow_stream_ms
        deltas = 0
        for data, is_delta, pause_ms in frame(faults.framing or self.framing, events):
            if exchange.client_gone or (pause_ms and not await exchange.pause(pause_ms)):
                self.stats["streams_cancelled"] += 1
                return None
            await exchange.body(data, more=True)
            if not is_delta:
                continue
            deltas += 1
            if faults.truncate and deltas >= TRUNCATE_AFTER_DELTAS:
                self.stats["streams_truncated"] += 1
                self.stats["connections_dropped"] += 1
                return DROP_CONNECTION
            if not await exchange.pause(pace):
                self.stats["streams_cancelled"] += 1
                return None
        await exchange.body(b"")
        self.stats["streams_completed"] += 1
        return None

    @staticmethod
    def _budget(
        payload: dict[str, Any], faults: Faults, model: DemoModel, *names: str, default: int
    ) -> tuple[int, int]:
        """Return ``(visible words, reasoning tokens)`` of one answer."""
        if faults.answer_words is not None:
            return faults.answer_words, faults.answer_words if model.is_reasoning else 0
        requested = None
        for name in names:
            requested = integer_parameter(payload, name, minimum=1) if requested is None else requested
        budget = tokens.completion_budget(requested, default=default)
        return tokens.split_reasoning(budget, is_reasoning=model.is_reasoning)

    @staticmethod
    def _choices(payload: dict[str, Any]) -> int:
        count = integer_parameter(payload, "n", minimum=1) or 1
        if count > MAX_CHOICES:
            raise ApiError(400, f"Invalid 'n': at most {MAX_CHOICES} in the demo upstream.", param="n")
        return count

    @staticmethod
    def _usage(
        faults: Faults, *, prompt: int, visible: int, reasoning: int, answers: int, shape: Callable[..., Any]
    ) -> Any:
        if faults.no_usage:
            return None
        completion = (visible + reasoning) * answers
        return shape(
            prompt=prompt,
            completion=completion,
            cached=tokens.cached_prompt_tokens(prompt),
            reasoning=reasoning * answers,
        )

    async def _models(self, payload: dict[str, Any], faults: Faults, exchange: Exchange) -> Any:
        await exchange.json(200, {"object": "list", "data": [payloads.model_object(model) for model in self.models]})

    async def _model_detail(self, payload: dict[str, Any], faults: Faults, exchange: Exchange, name: str) -> Any:
        model = self._by_name.get(name)
        if model is None:
            message = f"The model `{name}` does not exist or you do not have access to it."
            raise ApiError(404, message, param="model", code="model_not_found")
        await exchange.json(200, payloads.model_object(model))

    async def _chat(self, payload: dict[str, Any], faults: Faults, exchange: Exchange) -> Any:
        model, served = self._model(payload, kind="chat", endpoint="/v1/chat/completions")
        messages = payload.get("messages")
        if messages is None:
            raise missing_parameter("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise ApiError(400, "Invalid 'messages': expected a non-empty array of message objects.", param="messages")
        count = self._choices(payload)
        visible, reasoning = self._budget(
            payload, faults, model, "max_completion_tokens", "max_tokens", default=tokens.DEFAULT_ANSWER_TOKENS
        )
        seed = _chat_seed(messages)
        answers = [
            tokens.synthetic_words(seed_text=seed if index == 0 else f"{seed}#{index}", tokens=visible)
            for index in range(count)
        ]
        usage = self._usage(
            faults,
            prompt=tokens.chat_prompt_tokens(messages),
            visible=visible,
            reasoning=reasoning,
            answers=count,
            shape=payloads.chat_usage,
        )
        fields = {
            "id": self._new_id("chatcmpl-"),
            "created": int(time.time()),
            "model": served,
            "answers": answers,
            "usage": usage,
        }
        if payload.get("stream"):
            include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            return await self._stream(exchange, payloads.chat_stream(**fields, include_usage=include_usage), faults)
        return await self._answer(exchange, payloads.chat_completion(**fields), faults)

    async def _completions(self, payload: dict[str, Any], faults: Faults, exchange: Exchange) -> Any:
        model, served = self._model(payload, kind="completion", endpoint="/v1/completions")
        if payload.get("prompt") is None:
            raise missing_parameter("prompt")
        try:
            prompts = tokens.split_prompts(payload["prompt"])
        except ValueError as error:
            raise ApiError(400, f"Invalid 'prompt': {error}.", param="prompt") from None
        count = self._choices(payload)
        visible, reasoning = self._budget(
            payload, faults, model, "max_tokens", default=tokens.DEFAULT_LEGACY_ANSWER_TOKENS
        )
        answers = [
            tokens.synthetic_words(seed_text=seed if index == 0 else f"{seed}#{index}", tokens=visible)
            for seed, _ in prompts
            for index in range(count)
        ]
        usage = self._usage(
            faults,
            prompt=sum(size for _, size in prompts),
            visible=visible,
            reasoning=reasoning,
            answers=len(answers),
            shape=payloads.chat_usage,
        )
        fields = {
            "id": self._new_id("cmpl-"),
            "created": int(time.time()),
            "model": served,
            "answers": answers,
            "usage": usage,
        }
        if payload.get("stream"):
            include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            return await self._stream(exchange, payloads.text_stream(**fields, include_usage=include_usage), faults)
        return await self._answer(exchange, payloads.text_completion(**fields), faults)

    async def _embeddings(self, payload: dict[str, Any], faults: Faults, exchange: Exchange) -> Any:
        model, served = self._model(payload, kind="embedding", endpoint="/v1/embeddings")
        if payload.get("input") is None:
            raise missing_parameter("input")
        try:
            inputs = tokens.split_prompts(payload["input"])
        except ValueError as error:
            raise ApiError(400, f"Invalid 'input': {error}.", param="input") from None
        encoding = payload.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise ApiError(400, "Invalid 'encoding_format': expected 'float' or 'base64'.", param="encoding_format")
        dimensions = integer_parameter(payload, "dimensions", minimum=1) or model.dimensions
        if dimensions > model.dimensions:
            message = f"Invalid 'dimensions': at most {model.dimensions} for {model.id}."
            raise ApiError(400, message, param="dimensions")
        vectors = [tokens.synthetic_embedding(text=text, dimensions=dimensions) for text, _ in inputs]
        embeddings = [tokens.embedding_base64(vector) if encoding == "base64" else list(vector) for vector in vectors]
        prompt = sum(size for _, size in inputs)
        usage = None if faults.no_usage else {"prompt_tokens": prompt, "total_tokens": prompt}
        return await self._answer(
            exchange, payloads.embedding_list(model=served, embeddings=embeddings, usage=usage), faults
        )

    async def _responses(self, payload: dict[str, Any], faults: Faults, exchange: Exchange) -> Any:
        model, served = self._model(payload, kind="chat", endpoint="/v1/responses")
        request_input = payload.get("input")
        if request_input is None:
            raise missing_parameter("input")
        if not isinstance(request_input, (str, list)):
            raise ApiError(400, "Invalid 'input': expected a string or an array of input items.", param="input")
        instructions = payload.get("instructions")
        visible, reasoning = self._budget(
            payload, faults, model, "max_output_tokens", default=tokens.DEFAULT_ANSWER_TOKENS
        )
        words = tokens.synthetic_words(seed_text=_responses_seed(request_input), tokens=visible)
        prompt = tokens.responses_input_tokens(
            input=request_input, instructions=instructions if isinstance(instructions, str) else None
        )
        usage = self._usage(
            faults, prompt=prompt, visible=visible, reasoning=reasoning, answers=1, shape=payloads.responses_usage
        )
        response_id, message_id, created_at = self._new_id("resp_"), self._new_id("msg_"), int(time.time())
        if payload.get("stream"):
            events = payloads.response_stream(
                id=response_id,
                message_id=message_id,
                created_at=created_at,
                model=served,
                request=payload,
                words=words,
                usage=usage,
            )
            return await self._stream(exchange, events, faults)
        message = payloads.response_message(id=message_id, text=" ".join(words))
        body = payloads.response_object(
            id=response_id, created_at=created_at, model=served, request=payload, output=[message], usage=usage
        )
        return await self._answer(exchange, body, faults)

    @staticmethod
    def _anthropic_model(payload: dict[str, Any]) -> str:
        name = payload.get("model")
        if not isinstance(name, str):
            raise missing_parameter("model")
        if not name.startswith("claude-"):
            raise ApiError(404, f"model: {name}", param="model")
        return name

    async def _messages(self, payload: dict[str, Any], faults: Faults, exchange: Exchange) -> Any:
        """Anthropic's Messages API: any ``claude-*`` model; see ``devtools.demo_upstream.anthropic``."""
        model = self._anthropic_model(payload)
        if not isinstance(payload.get("messages"), list) or not payload["messages"]:
            raise ApiError(400, "messages: Field required", param="messages")
        max_tokens = integer_parameter(payload, "max_tokens", minimum=1)
        if max_tokens is None:
            raise ApiError(400, "max_tokens: Field required", param="max_tokens")
        scripted = anthropic.scripted_tool_call(payload, self.tool_calls)
        tool_name = anthropic.tool_to_use(payload)
        tool: tuple[str, str, dict] | None
        if scripted is not None:
            tool = (self._new_id("toolu_"), *scripted)
        else:
            tool = None if tool_name is None else (self._new_id("toolu_"), tool_name, {})
        if faults.answer_words is not None:
            count = faults.answer_words
        else:
            reserved = anthropic.TOOL_USE_OUTPUT_TOKENS if tool else 0
            count = min(tokens.DEFAULT_ANSWER_TOKENS, max(0, max_tokens - reserved))
        words = tokens.synthetic_words(seed_text=anthropic.seed_text(payload), tokens=count)
        output = len(words) + (anthropic.TOOL_USE_OUTPUT_TOKENS if tool else 0)
        usage = (
            None
            if faults.no_usage
            else anthropic.usage_block(input=anthropic.input_usage(payload, self.prompt_cache), output=output)
        )
        fields: dict[str, Any] = {
            "id": self._new_id("msg_"),
            "model": model,
            "words": words,
            "tool": tool,
            "usage": usage,
        }
        if payload.get("stream"):
            error_after = TRUNCATE_AFTER_DELTAS if faults.stream_error else None
            return await self._stream(exchange, anthropic.message_stream(**fields, error_after=error_after), faults)
        return await self._answer(exchange, anthropic.message_object(**fields), faults)

    async def _count_tokens(self, payload: dict[str, Any], faults: Faults, exchange: Exchange) -> Any:
        self._anthropic_model(payload)
        uncached, _, _ = anthropic.input_usage(payload, None)
        await exchange.json(200, {"input_tokens": uncached})


def make_app(
    api_key: str | None = None,
    latency_ms: float = 0.0,
    *,
    chunk_delay_ms: float = 0.0,
    models: Iterable[DemoModel] = DEMO_MODELS,
    max_recorded_requests: int = 10_000,
    framing: str | None = None,
) -> DemoUpstream:
    """Build a demo upstream.

    ``api_key``: when set, every ``/v1`` call must send ``Authorization: Bearer <api_key>`` (else 401).
    ``latency_ms``: wait before every answer (time to first byte). ``chunk_delay_ms``: wait after each
    streamed content chunk (a ``slow-stream`` fault overrides it per request). ``framing``: how streams
    are written by default (``devtools.demo_upstream.framing``; a ``framing:<name>`` fault overrides it).
    """
    return DemoUpstream(
        api_key=api_key,
        latency_ms=latency_ms,
        chunk_delay_ms=chunk_delay_ms,
        models=models,
        max_recorded_requests=max_recorded_requests,
        framing=framing,
    )
