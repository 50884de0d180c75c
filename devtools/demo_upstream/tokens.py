"""Token counting and synthetic content for the demo upstream.

Every number here is a deterministic rule, so tests can compute the exact usage they expect:

- ``count_tokens(text)``: one token per whitespace-separated word (``len(text.split())``).
- Chat prompt (``chat_prompt_tokens``): ``TOKENS_PER_MESSAGE`` (3) per message, plus the words of its
  content (a string, or every text part of a list; each non-text part - image, audio, file - counts
  ``TOKENS_PER_NON_TEXT_PART``), plus 1 if the message has a ``name``, plus for each tool call 1 + the
  words of its arguments; then ``TOKENS_PER_REPLY`` (3) for the reply primer.
  ``[{"role": "user", "content": "hello there"}]`` is therefore 3 + 2 + 3 = 8 tokens.
- Responses input (``responses_input_tokens``): the same rule, with ``instructions`` as one system
  message, a string ``input`` as one user message and each list item as one message (items without
  ``content`` count the words of their ``output`` / ``arguments`` text).
- Legacy completions prompt and embeddings input: words of each string, length of each token array;
  no per-message overhead.
- Completion length: ``max_completion_tokens`` / ``max_tokens`` / ``max_output_tokens`` when given
  (capped at ``MAX_ANSWER_TOKENS``), else ``DEFAULT_ANSWER_TOKENS`` (12; 16 for legacy completions,
  OpenAI's default). Reasoning models (o3-mini, o4-mini) spend ``completion // 2`` of those tokens on
  reasoning (reported as ``reasoning_tokens``, included in the completion count as OpenAI does) and the
  visible answer has the rest.
- Cached prompt tokens (``cached_prompt_tokens``): like OpenAI's prompt caching, prompts of at least
  ``CACHE_MIN_PROMPT_TOKENS`` (1024) tokens report their length rounded down to a multiple of
  ``CACHE_INCREMENT_TOKENS`` (128) as cached; shorter prompts report 0. Stateless on purpose: the
  answer never depends on request order or on which worker served it.
"""

from __future__ import annotations

import array
import base64
import hashlib
import math
import random
import sys
from functools import lru_cache
from typing import Any

DEFAULT_ANSWER_TOKENS = 12
DEFAULT_LEGACY_ANSWER_TOKENS = 16
MAX_ANSWER_TOKENS = 4096
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3
TOKENS_PER_NON_TEXT_PART = 85
CACHE_MIN_PROMPT_TOKENS = 1024
CACHE_INCREMENT_TOKENS = 128
ANSWER_PREFIX = "(demo)"

_VOCABULARY = (
    "the",
    "team",
    "budget",
    "value",
    "result",
    "ticket",
    "review",
    "policy",
    "report",
    "signal",
    "answer",
    "draft",
    "summary",
    "plan",
    "metric",
    "cost",
    "outcome",
    "release",
    "feature",
    "test",
    "customer",
    "issue",
    "deploy",
    "change",
    "quarter",
    "latency",
    "model",
    "prompt",
    "usage",
    "goal",
    "owner",
    "risk",
    "update",
    "design",
    "fix",
    "note",
    "check",
    "data",
    "trend",
    "insight",
    "and",
    "of",
    "to",
    "for",
    "with",
    "on",
    "is",
    "a",
    "this",
    "that",
    "clear",
    "short",
    "useful",
    "next",
    "first",
    "final",
    "small",
    "steady",
    "likely",
    "simple",
    "improves",
    "reduces",
    "tracks",
    "shows",
)


def count_tokens(text: str) -> int:
    """Return the demo token count of ``text``: its number of whitespace-separated words."""
    return len(text.split())


def content_text(content: Any) -> str:
    """Return the text of a message ``content`` (a string or a list of parts), parts joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part if isinstance(part, str) else part.get("text") for part in content if isinstance(part, (str, dict))
        ]
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return count_tokens(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for part in content:
        if isinstance(part, str):
            total += count_tokens(part)
        elif isinstance(part, dict):
            text = part.get("text")
            total += count_tokens(text) if isinstance(text, str) else TOKENS_PER_NON_TEXT_PART
    return total


def _message_tokens(message: dict[str, Any]) -> int:
    total = TOKENS_PER_MESSAGE + _content_tokens(message.get("content"))
    if message.get("name"):
        total += 1
    for call in message.get("tool_calls") or ():
        arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
        total += 1 + (count_tokens(arguments) if isinstance(arguments, str) else 0)
    return total


def chat_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Return the prompt tokens of a chat ``messages`` list (rule in the module docstring)."""
    return TOKENS_PER_REPLY + sum(_message_tokens(message) for message in messages)


def responses_input_tokens(*, input: str | list[Any], instructions: str | None = None) -> int:
    """Return the input tokens of a Responses API call (rule in the module docstring)."""
    total = TOKENS_PER_REPLY
    if isinstance(instructions, str):
        total += TOKENS_PER_MESSAGE + count_tokens(instructions)
    if isinstance(input, str):
        return total + TOKENS_PER_MESSAGE + count_tokens(input)
    for item in input:
        if isinstance(item, str):
            total += TOKENS_PER_MESSAGE + count_tokens(item)
        elif isinstance(item, dict) and "content" in item:
            total += _message_tokens(item)
        elif isinstance(item, dict):
            texts = (item.get("output"), item.get("arguments"))
            total += TOKENS_PER_MESSAGE + sum(count_tokens(text) for text in texts if isinstance(text, str))
    return total


def split_prompts(prompt: Any) -> list[tuple[str, int]]:
    """Split a legacy ``prompt`` / embeddings ``input`` into ``(seed text, tokens)`` per item.

    Accepts a string, a list of strings, a token array (list of ints) or a list of token arrays.
    Raises ``ValueError`` for anything else (the caller turns it into a 400).
    """
    if isinstance(prompt, str):
        return [(prompt, count_tokens(prompt))]
    if not isinstance(prompt, list) or not prompt:
        raise ValueError("expected a string, an array of strings or an array of token arrays")
    if all(isinstance(token, int) and not isinstance(token, bool) for token in prompt):
        return [(" ".join(map(str, prompt)), len(prompt))]
    items = []
    for item in prompt:
        if isinstance(item, str):
            items.append((item, count_tokens(item)))
        elif isinstance(item, list) and all(isinstance(token, int) for token in item):
            items.append((" ".join(map(str, item)), len(item)))
        else:
            raise ValueError("expected a string, an array of strings or an array of token arrays")
    return items


def cached_prompt_tokens(prompt_tokens: int) -> int:
    """Return the cached share of a prompt: 0 below 1024 tokens, else rounded down to 128s."""
    if prompt_tokens < CACHE_MIN_PROMPT_TOKENS:
        return 0
    return prompt_tokens // CACHE_INCREMENT_TOKENS * CACHE_INCREMENT_TOKENS


def completion_budget(requested: Any, *, default: int = DEFAULT_ANSWER_TOKENS) -> int:
    """Return the completion length for a requested maximum (None -> ``default``; capped at 4096)."""
    if requested is None:
        return default
    return max(0, min(int(requested), MAX_ANSWER_TOKENS))


def split_reasoning(completion_tokens: int, *, is_reasoning: bool) -> tuple[int, int]:
    """Return ``(visible tokens, reasoning tokens)``: reasoning models think for half the budget."""
    reasoning = completion_tokens // 2 if is_reasoning else 0
    return completion_tokens - reasoning, reasoning


def synthetic_words(*, seed_text: str, tokens: int) -> list[str]:
    """Return ``tokens`` words of a deterministic synthetic answer to ``seed_text``.

    The first word is ``(demo)`` so nobody mistakes it for a model's answer; the rest are drawn from a
    small vocabulary by a generator seeded with a hash of the prompt, so equal prompts get equal answers.
    """
    if tokens <= 0:
        return []
    seed = int.from_bytes(hashlib.blake2b(seed_text.encode(), digest_size=8).digest(), "big")
    return [ANSWER_PREFIX, *random.Random(seed).choices(_VOCABULARY, k=tokens - 1)]


def synthetic_answer(*, seed_text: str, tokens: int) -> str:
    """Return the synthetic answer text (``synthetic_words`` joined by single spaces)."""
    return " ".join(synthetic_words(seed_text=seed_text, tokens=tokens))


@lru_cache(maxsize=2048)
def synthetic_embedding(*, text: str, dimensions: int) -> tuple[float, ...]:
    """Return a deterministic unit-length vector for ``text`` with ``dimensions`` components."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    vector = [rng.random() * 2.0 - 1.0 for _ in range(dimensions)]
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return tuple(round(value / norm, 8) for value in vector)


def embedding_base64(vector: tuple[float, ...]) -> str:
    """Encode a vector as OpenAI does for ``encoding_format="base64"``: little-endian float32."""
    packed = array.array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
