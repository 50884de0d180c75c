"""Anthropic's Messages API as the demo upstream speaks it: counts, message objects and SSE streams.

Pure functions over plain data (the prompt cache is the caller's set). A stream's events come in the
order Anthropic sends them: ``message_start`` (input usage, ``output_tokens`` 1), per content block
``content_block_start`` / ``content_block_delta``... / ``content_block_stop`` with a ``ping`` after the
first block starts, ``message_delta`` (stop reason, cumulative ``output_tokens``), ``message_stop`` - or
an ``error`` event (``overloaded_error``) part-way, for the ``stream-error`` fault.

Tokens: a word is a token (as for the OpenAI endpoints). Prompt caching: the prompt up to the last block
marked ``cache_control`` (in Anthropic's order: tools, system, messages) is cacheable when it holds at
least ``CACHE_MIN_PROMPT_TOKENS``; the first request with that prefix writes it
(``cache_creation_input_tokens``), later ones read it (``cache_read_input_tokens``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import tokens
from .payloads import StreamEvents, sse

TOKENS_PER_MESSAGE = 3
TOOL_USE_OUTPUT_TOKENS = 10


def _segments(payload: dict[str, Any]) -> list[tuple[str, int, bool]]:
    """The prompt's pieces in Anthropic's order: (canonical JSON, tokens, marked for caching)."""
    pieces: list[tuple[Any, int, bool]] = []
    for tool in payload.get("tools") or ():
        if isinstance(tool, dict):
            pieces.append((tool, tokens.count_tokens(json.dumps(tool)), "cache_control" in tool))
    system = payload.get("system")
    if isinstance(system, str):
        pieces.append((system, tokens.count_tokens(system), False))
    elif isinstance(system, list):
        for block in system:
            if isinstance(block, dict):
                pieces.append((block, tokens.count_tokens(str(block.get("text", ""))), "cache_control" in block))
    for message in payload.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        blocks = content if isinstance(content, list) else [content]
        pieces.append((message.get("role"), TOKENS_PER_MESSAGE, False))
        for block in blocks:
            text = block if isinstance(block, str) else _block_text(block)
            pieces.append((block, tokens.count_tokens(text) or 1, isinstance(block, dict) and "cache_control" in block))
    return [(json.dumps(value, sort_keys=True), count, marked) for value, count, marked in pieces]


def _block_text(block: Any) -> str:
    if not isinstance(block, dict):
        return ""
    if isinstance(block.get("text"), str):
        return block["text"]
    if block.get("type") == "tool_use":
        return json.dumps(block.get("input"))
    if block.get("type") == "tool_result":
        return tokens.content_text(block.get("content"))
    return ""


def input_usage(payload: dict[str, Any], cache: set[str] | None) -> tuple[int, int, int]:
    """``(input_tokens, cache_creation_input_tokens, cache_read_input_tokens)`` of a request; the
    prompt cache ``cache`` learns a written prefix (None: count only, as count_tokens does)."""
    segments = _segments(payload)
    total = sum(count for _, count, _ in segments)
    last = max((index for index, (_, _, marked) in enumerate(segments) if marked), default=-1)
    prefix = sum(count for _, count, _ in segments[: last + 1])
    if cache is None or last < 0 or prefix < tokens.CACHE_MIN_PROMPT_TOKENS:
        return total, 0, 0
    key = hashlib.blake2b("\n".join(text for text, _, _ in segments[: last + 1]).encode(), digest_size=16).hexdigest()
    if key in cache:
        return total - prefix, 0, prefix
    cache.add(key)
    return total - prefix, prefix, 0


def seed_text(payload: dict[str, Any]) -> str:
    """The last user text of a request (the synthetic answer is seeded with it)."""
    for message in reversed(payload.get("messages") or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            blocks = content if isinstance(content, list) else [content]
            return " ".join(block if isinstance(block, str) else _block_text(block) for block in blocks)
    return ""


def scripted_tool_call(payload: dict[str, Any], script: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict] | None:
    """The first call of ``script`` (tool name, input) whose tool the request offers, taken off it."""
    offered = {tool.get("name") for tool in payload.get("tools") or () if isinstance(tool, dict)}
    for position, (name, _input) in enumerate(script):
        if name in offered:
            return script.pop(position)
    return None


def tool_to_use(payload: dict[str, Any]) -> str | None:
    """The tool the answer calls: when ``tool_choice`` asks for one (``tool``) or any (``any``)."""
    choice = payload.get("tool_choice")
    tools = [tool for tool in payload.get("tools") or () if isinstance(tool, dict) and tool.get("name")]
    if not isinstance(choice, dict) or not tools:
        return None
    if choice.get("type") == "tool":
        return choice.get("name") if any(tool["name"] == choice.get("name") for tool in tools) else None
    return tools[0]["name"] if choice.get("type") == "any" else None


def usage_block(*, input: tuple[int, int, int], output: int) -> dict[str, Any]:
    uncached, written, read = input
    return {
        "input_tokens": uncached,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": output,
        "service_tier": "standard",
    }


Tool = tuple[str, str, dict[str, Any]]  # a tool call's id, the tool's name, its input


def message_object(
    *, id: str, model: str, words: list[str], tool: Tool | None, usage: dict[str, Any] | None
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": " ".join(words)}] if words else []
    if tool is not None:
        content.append({"type": "tool_use", "id": tool[0], "name": tool[1], "input": tool[2]})
    body: dict[str, Any] = {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if tool is not None else "end_turn",
        "stop_sequence": None,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def message_stream(
    *,
    id: str,
    model: str,
    words: list[str],
    tool: Tool | None,
    usage: dict[str, Any] | None,
    error_after: int | None = None,
) -> StreamEvents:
    """The SSE events of one streamed answer (``error_after``: an ``overloaded_error`` event after that
    many text deltas, and nothing more)."""

    def event(type: str, **fields: Any) -> bytes:
        return sse({"type": type, **fields}, event=type)

    start = message_object(id=id, model=model, words=[], tool=None, usage=None)
    start["stop_reason"] = None
    if usage is not None:
        start["usage"] = dict(usage, output_tokens=1)
    yield event("message_start", message=start), False
    index = 0
    if words:
        yield event("content_block_start", index=0, content_block={"type": "text", "text": ""}), False
        yield event("ping"), False
        for position, word in enumerate(words):
            if error_after is not None and position >= error_after:
                yield event("error", error={"type": "overloaded_error", "message": "Overloaded"}), False
                return
            yield (
                event(
                    "content_block_delta",
                    index=0,
                    delta={"type": "text_delta", "text": word if position == 0 else " " + word},
                ),
                True,
            )
        yield event("content_block_stop", index=0), False
        index = 1
    if tool is not None:
        yield (
            event(
                "content_block_start",
                index=index,
                content_block={"type": "tool_use", "id": tool[0], "name": tool[1], "input": {}},
            ),
            False,
        )
        yield (
            event(
                "content_block_delta",
                index=index,
                delta={"type": "input_json_delta", "partial_json": json.dumps(tool[2])},
            ),
            True,
        )
        yield event("content_block_stop", index=index), False
    delta = {"stop_reason": "tool_use" if tool is not None else "end_turn", "stop_sequence": None}
    fields: dict[str, Any] = {"delta": delta}
    if usage is not None:
        fields["usage"] = {"output_tokens": usage["output_tokens"]}
    yield event("message_delta", **fields), False
    yield event("message_stop"), False


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """An error in Anthropic's shape."""
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
