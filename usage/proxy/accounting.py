"""Usage extraction and estimation for each endpoint.

Upstreams report usage in three shapes: chat/completions/embeddings use ``prompt_tokens`` /
``completion_tokens`` with ``*_details``; the Responses API uses ``input_tokens`` / ``output_tokens``;
Anthropic's Messages API ``input_tokens`` (not cached), ``cache_creation_input_tokens``,
``cache_read_input_tokens`` and ``output_tokens`` (``tokens_from_anthropic_usage``).
When an upstream reports nothing, tokens are estimated (about four characters a token) and the event is
marked ``is_estimated``.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(slots=True)
class Tokens:
    prompt: int = 0
    completion: int = 0
    cached: int = 0
    reasoning: int = 0
    total: int = 0
    cache_write: int = 0  # prompt tokens written to the provider's cache (part of ``prompt``)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def tokens_from_usage(usage: Any) -> Tokens | None:
    """Parse an OpenAI ``usage`` block of any endpoint; None when it is absent or not a dict."""
    if not isinstance(usage, dict):
        return None
    if "input_tokens" in usage or "output_tokens" in usage:
        prompt, completion = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
        prompt_details = usage.get("input_tokens_details") or {}
        completion_details = usage.get("output_tokens_details") or {}
    else:
        prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
    cached = _int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    reasoning = _int(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
    total = _int(usage.get("total_tokens")) or prompt + completion
    return Tokens(prompt=prompt, completion=completion, cached=cached, reasoning=reasoning, total=total)


def tokens_from_anthropic_usage(usage: Any, previous: Tokens | None = None) -> Tokens | None:
    """Parse a Messages API ``usage`` block; None when it is not a dict.

    The ledger's contract: ``prompt`` = input + cache writes + cache reads, ``cached`` = cache reads,
    ``cache_write`` = cache writes, ``completion`` = output. ``previous`` is what earlier events of the
    same stream said (``message_start``): ``message_delta`` repeats the output count cumulatively and may
    leave the input counts out, so a field it does not carry keeps its earlier value.
    """
    if not isinstance(usage, dict):
        return None
    before = previous or Tokens()

    def field(name: str, earlier: int) -> int:
        return _int(usage[name]) if name in usage and usage[name] is not None else earlier

    read = field("cache_read_input_tokens", before.cached)
    written = field("cache_creation_input_tokens", before.cache_write)
    uncached = field("input_tokens", before.prompt - before.cached - before.cache_write)
    output = field("output_tokens", before.completion)
    prompt = uncached + written + read
    return Tokens(prompt=prompt, completion=output, cached=read, cache_write=written, total=prompt + output)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters a token, at least one for non-empty text."""
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)


def requested_max_tokens(endpoint: str, body: dict[str, Any]) -> tuple[str | None, int | None]:
    """The body field that bounds the output of this endpoint, and its value."""
    fields = {
        "responses": ("max_output_tokens",),
        "chat.completions": ("max_completion_tokens", "max_tokens"),
        "completions": ("max_tokens",),
        "messages": ("max_tokens",),
    }.get(endpoint, ())
    for name in fields:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return name, value
    return (fields[-1] if fields else None), None


def output_text_of(endpoint: str, data: dict[str, Any]) -> str:
    """The generated text of a non-streamed response (for the output fingerprint and estimates)."""
    parts: list[str] = []
    if endpoint == "chat.completions":
        for choice in data.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                parts.append(message["content"])
    elif endpoint == "completions":
        parts.extend(c.get("text", "") for c in data.get("choices") or () if isinstance(c, dict))
    elif endpoint == "messages":
        for block in data.get("content") or ():
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.append(block["text"])
    elif endpoint == "responses":
        for item in data.get("output") or ():
            for content in (item.get("content") or ()) if isinstance(item, dict) else ():
                if isinstance(content, dict) and isinstance(content.get("text"), str):
                    parts.append(content["text"])
    return "".join(p for p in parts if isinstance(p, str))


def delta_text_of(endpoint: str, chunk: dict[str, Any]) -> str:
    """The text a stream chunk adds (chat/completions chunks, Responses ``output_text.delta`` events)."""
    if endpoint == "responses":
        delta = chunk.get("delta") if chunk.get("type") == "response.output_text.delta" else None
        return delta if isinstance(delta, str) else ""
    if endpoint == "messages":  # content_block_delta events of text blocks
        delta = chunk.get("delta") if chunk.get("type") == "content_block_delta" else None
        text = delta.get("text") if isinstance(delta, dict) else None
        return text if isinstance(text, str) else ""
    out = []
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if endpoint == "chat.completions":
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
        else:
            content = choice.get("text")
        if isinstance(content, str):
            out.append(content)
    return "".join(out)
