"""The most a call can be billed: the token bound its reservation is made of. Pure functions, no I/O.

A reservation is only a guarantee if it is never below what the upstream bills, whatever the request
shape. The bound is built from facts that hold for every byte-level BPE tokenizer and OpenAI's billing:

- **Prompt.** Every token a byte-level BPE produces covers at least one byte of UTF-8, so the text the
  upstream tokenizes has at most as many tokens as bytes. Everything it tokenizes from the request -
  messages, system prompt, tool definitions, function arguments, response formats, every prompt of a
  list, token arrays (each token is at least one digit and a separator) - is in the raw body, whose
  JSON syntax (at least ``{"role":"","content":""}`` per message) also outweighs the few framing tokens
  per message. So the prompt bound is the byte length of the raw body, less the inline payloads of
  image, audio and file parts (base64 data, not tokenized as text), plus a worst case per such part
  and ``TOKENWISE_RESERVE_PROMPT_MARGIN_TOKENS`` (the reply primer and a request-wide preamble).
  Image parts cost at most their model's high-detail maximum (``IMAGE_TOKENS``; ``detail: low`` costs
  the base tokens), ``TOKENWISE_UNKNOWN_MODEL_IMAGE_TOKENS`` for other models; audio and file parts
  (a PDF's pages become text and images) are bounded by the model's context window only. A prompt
  cannot exceed the context window of a known model (the upstream refuses it), so that caps the
  bound; a Responses call that pulls input the body does not hold (``previous_response_id``,
  ``conversation``, a stored ``prompt``, hosted tools) is bounded by the context window alone.
- **Output.** Per choice: the caller's ``max_tokens`` / ``max_completion_tokens`` /
  ``max_output_tokens`` (after the policy's cap), else the policy's cap, else the model's maximum
  output (``MODEL_LIMITS``), else ``TOKENWISE_DEFAULT_MAX_OUTPUT_TOKENS`` - which is then sent upstream
  as ``max_tokens`` so that it holds. Times every choice billed: ``n`` (and ``best_of`` for
  completions) for every prompt of a completions list. Reasoning tokens are part of that output.

Anthropic's Messages API (``endpoint="messages"``) is bounded the same way: the prompt by the body's
bytes (``system``, ``tools``, every message and tool result are in it) less inline base64 images and
documents, plus Claude's worst image (``CLAUDE_IMAGE_TOKENS``) per image block and the context window per
document block; Anthropic-defined tools (a ``type`` such as ``bash_20250124``) add
``ANTHROPIC_TOOL_TOKENS`` each for the definition the server inserts; server tools that fetch input
(web search and fetch, code execution) and MCP servers make the call stateful (context window). The
output by ``max_tokens``, which the API requires and which includes extended thinking (a thinking
budget above it - interleaved thinking - is bounded by the view as the larger of the two). The
``context-1m`` beta lifts the context cap.

The bound is loose by design (bytes, not tokens): docs/performance.md measures what it holds back.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

# Requests larger than this cannot be billed anyway; it keeps counter arithmetic exact (Lua doubles).
MAX_BOUND_TOKENS = 2**50


@dataclasses.dataclass(frozen=True, slots=True)
class ModelLimits:
    context_tokens: int  # prompt tokens the model accepts at most
    max_output_tokens: int  # output tokens per choice at most (reasoning included)
    image_low_tokens: int  # one image part with ``detail: low``
    image_high_tokens: int  # one image part at worst (high or auto detail, any size)


def _tiles(base: int, tile: int) -> tuple[int, int]:
    # High detail: fit in 2048x2048, shortest side scaled to 768, 512-pixel tiles: 8 tiles at most
    # (a 2048x768 image); low detail: the base tokens.
    return base, base + 8 * tile


def _patches(multiplier: float) -> tuple[int, int]:
    # 32-pixel patches, capped at 1536 per image, times the model's multiplier (detail does not lower it).
    worst = math.ceil(1536 * multiplier)
    return worst, worst


def _limits(context: int, output: int, image: tuple[int, int] | None = None) -> ModelLimits:
    low, high = image if image is not None else (0, 0)
    return ModelLimits(context_tokens=context, max_output_tokens=output, image_low_tokens=low, image_high_tokens=high)


# OpenAI's published limits (context window, maximum output) and image costs; a model without vision
# (image 0, 0) takes the unknown-model image setting, in case the upstream bills images anyway.
MODEL_LIMITS: dict[str, ModelLimits] = {
    "gpt-4o": _limits(128_000, 16_384, _tiles(85, 170)),
    "gpt-4o-mini": _limits(128_000, 16_384, _tiles(2833, 5667)),
    "gpt-4.1": _limits(1_047_576, 32_768, _tiles(85, 170)),
    "gpt-4.1-mini": _limits(1_047_576, 32_768, _patches(1.62)),
    "gpt-4.1-nano": _limits(1_047_576, 32_768, _patches(2.46)),
    "gpt-5": _limits(400_000, 128_000, _tiles(70, 140)),
    "gpt-5-mini": _limits(400_000, 128_000, _patches(1.62)),
    "gpt-5-nano": _limits(400_000, 128_000, _patches(2.46)),
    "o1": _limits(200_000, 100_000, _tiles(75, 150)),
    "o3": _limits(200_000, 100_000, _tiles(75, 150)),
    "o3-mini": _limits(200_000, 100_000),
    "o4-mini": _limits(200_000, 100_000, _patches(1.72)),
    "gpt-4-turbo": _limits(128_000, 4_096, _tiles(85, 170)),
    "gpt-3.5-turbo": _limits(16_385, 4_096),
    "gpt-3.5-turbo-instruct": _limits(4_096, 4_096),
}
# Anthropic's published limits. An image costs about width x height / 750 tokens, and the API scales an
# image down to about 1.15 megapixels (1,568 pixels on the long side) first: about 1,600 tokens at most.
CLAUDE_IMAGE_TOKENS = 1_600
ANTHROPIC_TOOL_TOKENS = 2_000  # an Anthropic-defined tool's definition and system-prompt addition, at most
_CLAUDE_IMAGE = (CLAUDE_IMAGE_TOKENS, CLAUDE_IMAGE_TOKENS)
MODEL_LIMITS.update(
    {
        "claude-opus-4-5": _limits(200_000, 64_000, _CLAUDE_IMAGE),
        "claude-opus-4-1": _limits(200_000, 32_000, _CLAUDE_IMAGE),
        "claude-opus-4": _limits(200_000, 32_000, _CLAUDE_IMAGE),
        "claude-opus-4-0": _limits(200_000, 32_000, _CLAUDE_IMAGE),
        "claude-sonnet-4-5": _limits(200_000, 64_000, _CLAUDE_IMAGE),
        "claude-sonnet-4": _limits(200_000, 64_000, _CLAUDE_IMAGE),
        "claude-sonnet-4-0": _limits(200_000, 64_000, _CLAUDE_IMAGE),
        "claude-haiku-4-5": _limits(200_000, 64_000, _CLAUDE_IMAGE),
        "claude-3-5-haiku": _limits(200_000, 8_192, _CLAUDE_IMAGE),
    }
)
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")
# Anthropic server tools whose results enter the prompt within the call (their type's prefix).
_ANTHROPIC_FETCHING_TOOLS = ("web_search", "web_fetch", "code_execution")
_STATEFUL_FIELDS = ("previous_response_id", "conversation", "prompt")
_OWN_TOOLS = frozenset({"function", "custom"})


def model_limits(model: str) -> ModelLimits | None:
    """The limits of a known model (a dated snapshot, ``gpt-4o-2024-08-06``, as its model); else None."""
    limits = MODEL_LIMITS.get(model)
    if limits is None:
        match = _SNAPSHOT_SUFFIX.search(model)
        if match is not None:
            limits = MODEL_LIMITS.get(model[: match.start()])
    return limits


@dataclasses.dataclass(frozen=True, slots=True)
class RequestShape:
    """What bounds a request's billing, whatever model serves it (see ``request_shape``)."""

    text_bytes: int = 0  # bytes the upstream may tokenize as text (raw body less inline media)
    images_low: int = 0  # image parts with detail "low"
    images_high: int = 0  # other image parts
    media_parts: int = 0  # audio and file parts
    choices: int = 1  # outputs billed: n (or best_of) per prompt; 0 for embeddings
    is_stateful: bool = False  # input the body does not hold (Responses: previous response, hosted tools)
    extra_tokens: int = 0  # prompt tokens the server adds for the tools it defines (Messages)
    is_long_context: bool = False  # the context window of the model does not cap the prompt (1M beta)


def _count(value: Any) -> int:
    """A count the upstream may read from ``value`` (lenient servers coerce "8" and 8.0), at least 1."""
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int):
        return max(value, 1)
    if isinstance(value, float) and value.is_integer():
        return max(int(value), 1)
    if isinstance(value, str) and value.strip().isdigit():
        return max(int(value.strip()), 1)
    return 1


def _size(text: Any) -> int:
    if not isinstance(text, str):
        return 0
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _Parts:
    __slots__ = ("inline_bytes", "images_low", "images_high", "media")

    def __init__(self) -> None:
        self.inline_bytes = self.images_low = self.images_high = self.media = 0

    def visit(self, value: Any, depth: int = 0) -> None:
        """Count the media parts found in a message list / content / input item, recursively."""
        if depth > 8:
            return
        if isinstance(value, list):
            for item in value:
                if isinstance(item, (dict, list)):
                    self.visit(item, depth + 1)
        elif isinstance(value, dict):
            kind = value.get("type")
            if isinstance(kind, str) and ("image" in kind or "audio" in kind or "file" in kind or kind == "document"):
                if self.part(kind, value):
                    return
            for key in ("content", "input", "output"):  # messages, tool results that carry parts
                inner = value.get(key)
                if isinstance(inner, (dict, list)):
                    self.visit(inner, depth + 1)

    def part(self, kind: str, part: dict[str, Any]) -> bool:
        """Count one media part; False when it is something else (e.g. a ``file_search_call``)."""
        if "image" in kind and kind in ("image_url", "input_image", "image"):
            image = part.get("image_url")
            detail = part.get("detail")
            if isinstance(image, dict):
                detail = image.get("detail", detail)
                url = image.get("url")
            else:
                url = image
            if isinstance(url, str) and url.startswith("data:"):
                self.inline_bytes += _size(url)
            source = part.get("source")  # Anthropic: {"type": "base64", "media_type", "data"}
            if isinstance(source, dict):
                self.inline_bytes += _size(source.get("data"))
            if detail == "low":
                self.images_low += 1
            else:
                self.images_high += 1
            return True
        if kind == "document":  # Anthropic: a PDF (pages become text and images) or a text document
            source = part.get("source")
            if isinstance(source, dict):
                self.inline_bytes += _size(source.get("data"))
            self.media += 1
            return True
        if kind in ("input_audio", "audio", "file", "input_file"):
            nested = part.get(kind)
            inner = nested if isinstance(nested, dict) else part
            for field in ("data", "file_data"):
                self.inline_bytes += _size(inner.get(field))
            self.media += 1
            return True
        return False


def _messages_shape(raw_size: int, body: dict[str, Any], betas: str) -> RequestShape:
    """A Messages API request's shape (see the module docstring)."""
    parts = _Parts()
    parts.visit(body.get("messages"))
    parts.visit(body.get("system"))
    tools = body.get("tools")
    given = [tool.get("type") for tool in tools if isinstance(tool, dict)] if isinstance(tools, list) else []
    typed = [kind for kind in given if isinstance(kind, str) and kind != "custom"]
    is_stateful = (
        bool(body.get("mcp_servers"))
        or body.get("container") is not None
        or any(kind.startswith(_ANTHROPIC_FETCHING_TOOLS) for kind in typed)
    )
    return RequestShape(
        text_bytes=max(raw_size - parts.inline_bytes, 0),
        images_low=0,
        images_high=parts.images_low + parts.images_high,
        media_parts=parts.media,
        choices=1,
        is_stateful=is_stateful,
        extra_tokens=len(typed) * ANTHROPIC_TOOL_TOKENS,
        is_long_context="context-1m" in betas,
    )


def request_shape(*, endpoint: str, raw_size: int, body: dict[str, Any], betas: str = "") -> RequestShape:
    """The shape of a parsed request body whose raw JSON is ``raw_size`` bytes long.

    One walk over the messages / input items for media parts; never raises on an unexpected shape
    (what it does not recognise stays counted as text bytes, which only makes the bound larger).
    """
    if endpoint == "messages":  # ``betas``: the call's anthropic-beta header values
        return _messages_shape(raw_size, body, betas)
    parts = _Parts()
    choices = 1
    is_stateful = False
    if endpoint == "embeddings":
        choices = 0
    elif endpoint == "completions":
        prompt = body.get("prompt")
        prompts = 1
        if (
            isinstance(prompt, list)
            and prompt
            and not all(isinstance(token, int) and not isinstance(token, bool) for token in prompt)
        ):
            prompts = len(prompt)
        choices = prompts * max(_count(body.get("n")), _count(body.get("best_of")))
    elif endpoint == "chat.completions":
        messages = body.get("messages")
        if not (
            isinstance(messages, list)  # the common case: text messages only, nothing to walk
            and all(type(m) is dict and type(m.get("content")) is str for m in messages)
        ):
            parts.visit(messages)
        n = body.get("n")
        choices = 1 if n is None else _count(n)
    elif endpoint == "responses":
        parts.visit(body.get("input"))
        tools = body.get("tools")
        is_stateful = any(body.get(field) is not None for field in _STATEFUL_FIELDS) or (
            isinstance(tools, list)
            and any(isinstance(tool, dict) and tool.get("type") not in _OWN_TOOLS for tool in tools)
        )
    return RequestShape(
        text_bytes=max(raw_size - parts.inline_bytes, 0),
        images_low=parts.images_low,
        images_high=parts.images_high,
        media_parts=parts.media,
        choices=choices,
        is_stateful=is_stateful,
    )


def prompt_bound(
    shape: RequestShape, *, model: str, margin: int, unknown_image_tokens: int, unknown_context_tokens: int
) -> int:
    """The most prompt tokens ``model`` can bill for a request of this shape."""
    limits = model_limits(model)
    context = unknown_context_tokens if limits is None else limits.context_tokens
    if limits is None or not limits.image_high_tokens:
        low = high = unknown_image_tokens
    else:
        low, high = limits.image_low_tokens, limits.image_high_tokens
    if shape.is_long_context:
        context = max(context, 1_000_000)
    if shape.is_stateful:
        return context + margin + shape.extra_tokens
    bound = (
        shape.text_bytes
        + margin
        + shape.extra_tokens
        + shape.images_low * low
        + shape.images_high * high
        + shape.media_parts * context
    )
    if limits is not None:
        bound = min(bound, max(limits.context_tokens, context) + margin + shape.extra_tokens)
    return min(bound, MAX_BOUND_TOKENS)


def output_limit(*, model: str, requested: int | None, default: int) -> tuple[int, bool]:
    """(the most output tokens one choice can bill, whether that must be sent upstream to hold).

    ``requested`` is what the request (after the policy's cap) asks per choice, None when nothing
    does: then the model's maximum output, else ``default`` (which only holds if it is sent).
    """
    limits = model_limits(model)
    if requested is not None:
        return (requested if limits is None else min(requested, limits.max_output_tokens)), False
    if limits is not None:
        return limits.max_output_tokens, False
    return default, True


def output_bound(shape: RequestShape, *, per_choice: int) -> int:
    """The most output tokens the call can bill: ``per_choice`` for every choice it generates."""
    return min(per_choice * shape.choices, MAX_BOUND_TOKENS)
