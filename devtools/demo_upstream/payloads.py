"""OpenAI-shaped objects and SSE streams built by the demo upstream.

Pure functions over plain data: no I/O, no clock (callers pass ids and timestamps). Streams are
generators of ``(sse_bytes, is_delta)`` pairs, where ``is_delta`` marks content chunks (the ones
``truncate`` counts and ``slow-stream`` paces).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SYSTEM_FINGERPRINT = "fp_tokenwise_demo"
OWNED_BY = "tokenwise-demo"
DONE = b"data: [DONE]\n\n"
_PLACEHOLDER = "\x00"

StreamEvents = Iterator[tuple[bytes, bool]]


@dataclass(frozen=True, slots=True)
class DemoModel:
    """A model the demo upstream serves.

    ``kind`` says which endpoints accept it: ``chat`` (chat completions and responses), ``completion``
    (legacy completions) or ``embedding``. ``snapshot`` is the dated name reported as ``model`` in
    answers, as OpenAI does for aliases.
    """

    id: str
    kind: str
    snapshot: str
    created: int
    is_reasoning: bool = False
    dimensions: int = 0


DEMO_MODELS: tuple[DemoModel, ...] = (
    DemoModel("gpt-4o", "chat", "gpt-4o-2024-08-06", 1715367049),
    DemoModel("gpt-4o-mini", "chat", "gpt-4o-mini-2024-07-18", 1721172741),
    DemoModel("gpt-4.1", "chat", "gpt-4.1-2025-04-14", 1744316542),
    DemoModel("gpt-4.1-mini", "chat", "gpt-4.1-mini-2025-04-14", 1744318173),
    DemoModel("gpt-4.1-nano", "chat", "gpt-4.1-nano-2025-04-14", 1744321707),
    DemoModel("o3-mini", "chat", "o3-mini-2025-01-31", 1737146383, is_reasoning=True),
    DemoModel("o4-mini", "chat", "o4-mini-2025-04-16", 1744225351, is_reasoning=True),
    DemoModel("gpt-3.5-turbo-instruct", "completion", "gpt-3.5-turbo-instruct", 1692901427),
    DemoModel("text-embedding-3-small", "embedding", "text-embedding-3-small", 1705948997, dimensions=1536),
    DemoModel("text-embedding-3-large", "embedding", "text-embedding-3-large", 1705953180, dimensions=3072),
)


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(value, separators=(",", ":")).encode()


def sse(value: dict[str, Any], *, event: str | None = None) -> bytes:
    """One server-sent event: optional ``event:`` line, ``data:`` line, blank line."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + dumps(value) + b"\n\n"


def _template(value: dict[str, Any]) -> tuple[bytes, bytes]:
    """Split an SSE chunk around its placeholder string so content chunks cost one ``json.dumps``."""
    head, tail = sse(value).split(dumps(_PLACEHOLDER))
    return head, tail


def model_object(model: DemoModel) -> dict[str, Any]:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": OWNED_BY}


def error_body(*, message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def chat_usage(*, prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    """The ``usage`` block of chat and legacy completions."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def responses_usage(*, prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    """The ``usage`` block of the Responses API."""
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def _with_usage(body: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    if usage is not None:
        body["usage"] = usage
    return body


def chat_completion(
    *, id: str, created: int, model: str, answers: list[list[str]], usage: dict[str, Any] | None
) -> dict[str, Any]:
    choices: list[dict[str, Any]] = [
        {
            "index": index,
            "message": {"role": "assistant", "content": " ".join(words), "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
        for index, words in enumerate(answers)
    ]
    body = {"id": id, "object": "chat.completion", "created": created, "model": model, "choices": choices}
    body["service_tier"] = "default"
    body["system_fingerprint"] = SYSTEM_FINGERPRINT
    return _with_usage(body, usage)


def chat_stream(
    *, id: str, created: int, model: str, answers: list[list[str]], usage: dict[str, Any] | None, include_usage: bool
) -> StreamEvents:
    """Chat chunks: per choice a role chunk, one chunk per word, a finish chunk; then usage and [DONE]."""
    base = {"id": id, "object": "chat.completion.chunk", "created": created, "model": model}
    base |= {"service_tier": "default", "system_fingerprint": SYSTEM_FINGERPRINT}
    send_usage = include_usage and usage is not None
    extra: dict[str, Any] = {"usage": None} if send_usage else {}
    for index, words in enumerate(answers):
        role_delta = {"role": "assistant", "content": "", "refusal": None}
        role_choice = {"index": index, "delta": role_delta, "logprobs": None, "finish_reason": None}
        yield sse(base | {"choices": [role_choice]} | extra), False
        content_choice = {"index": index, "delta": {"content": _PLACEHOLDER}, "logprobs": None, "finish_reason": None}
        head, tail = _template(base | {"choices": [content_choice]} | extra)
        for position, word in enumerate(words):
            yield head + dumps(word if position == 0 else " " + word) + tail, True
        stop_choice = {"index": index, "delta": {}, "logprobs": None, "finish_reason": "stop"}
        yield sse(base | {"choices": [stop_choice]} | extra), False
    if send_usage:
        yield sse(base | {"choices": [], "usage": usage}), False
    yield DONE, False


def text_completion(
    *, id: str, created: int, model: str, answers: list[list[str]], usage: dict[str, Any] | None
) -> dict[str, Any]:
    choices = [
        {"text": " ".join(words), "index": index, "logprobs": None, "finish_reason": "stop"}
        for index, words in enumerate(answers)
    ]
    body = {"id": id, "object": "text_completion", "created": created, "model": model, "choices": choices}
    body["system_fingerprint"] = SYSTEM_FINGERPRINT
    return _with_usage(body, usage)


def text_stream(
    *, id: str, created: int, model: str, answers: list[list[str]], usage: dict[str, Any] | None, include_usage: bool
) -> StreamEvents:
    """Legacy completion chunks: one per word, a finish chunk per choice; then usage and [DONE]."""
    base = {"id": id, "object": "text_completion", "created": created, "model": model}
    base["system_fingerprint"] = SYSTEM_FINGERPRINT
    send_usage = include_usage and usage is not None
    extra: dict[str, Any] = {"usage": None} if send_usage else {}
    for index, words in enumerate(answers):
        choice = {"text": _PLACEHOLDER, "index": index, "logprobs": None, "finish_reason": None}
        head, tail = _template(base | {"choices": [choice]} | extra)
        for position, word in enumerate(words):
            yield head + dumps(word if position == 0 else " " + word) + tail, True
        stop_choice = {"text": "", "index": index, "logprobs": None, "finish_reason": "stop"}
        yield sse(base | {"choices": [stop_choice]} | extra), False
    if send_usage:
        yield sse(base | {"choices": [], "usage": usage}), False
    yield DONE, False


def embedding_list(*, model: str, embeddings: list[list[float] | str], usage: dict[str, Any] | None) -> dict[str, Any]:
    data = [{"object": "embedding", "index": index, "embedding": vector} for index, vector in enumerate(embeddings)]
    return _with_usage({"object": "list", "data": data, "model": model}, usage)


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def response_message(*, id: str, text: str | None) -> dict[str, Any]:
    """An assistant message output item; ``text=None`` gives the empty in-progress item."""
    content = [] if text is None else [_output_text(text)]
    status = "in_progress" if text is None else "completed"
    return {"id": id, "type": "message", "status": status, "role": "assistant", "content": content}


def response_object(
    *,
    id: str,
    created_at: int,
    model: str,
    request: dict[str, Any],
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    status: str = "completed",
) -> dict[str, Any]:
    """A Responses API ``response``; settings the caller sent are echoed back as OpenAI does."""
    return {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": "default",
        "store": request.get("store", True),
        "temperature": request.get("temperature", 1.0),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0),
        "truncation": request.get("truncation", "disabled"),
        "usage": usage,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def response_stream(
    *,
    id: str,
    message_id: str,
    created_at: int,
    model: str,
    request: dict[str, Any],
    words: list[str],
    usage: dict[str, Any] | None,
) -> StreamEvents:
    """Named Responses API events, numbered by ``sequence_number``, one text delta per word."""
    text = " ".join(words)
    sequence = iter(range(1 << 30))
    place = {"item_id": message_id, "output_index": 0, "content_index": 0}

    def event(type: str, **fields: Any) -> bytes:
        return sse({"type": type, "sequence_number": next(sequence), **fields}, event=type)

    pending = response_object(
        id=id, created_at=created_at, model=model, request=request, output=[], usage=None, status="in_progress"
    )
    yield event("response.created", response=pending), False
    yield event("response.in_progress", response=pending), False
    yield event("response.output_item.added", output_index=0, item=response_message(id=message_id, text=None)), False
    yield event("response.content_part.added", **place, part=_output_text("")), False
    for position, word in enumerate(words):
        yield (
            event("response.output_text.delta", **place, delta=word if position == 0 else " " + word, logprobs=[]),
            True,
        )
    yield event("response.output_text.done", **place, text=text, logprobs=[]), False
    yield event("response.content_part.done", **place, part=_output_text(text)), False
    message = response_message(id=message_id, text=text)
    yield event("response.output_item.done", output_index=0, item=message), False
    done = response_object(id=id, created_at=created_at, model=model, request=request, output=[message], usage=usage)
    yield event("response.completed", response=done), False
