"""Tokenwise's built-in demo upstream: a fake OpenAI server whose answers are synthetic.

Used by demo mode (Tokenwise pointed at it instead of a paid provider), by the test suite (through
``tests/fake_upstream.py``) and as the benchmark's upstream. It speaks the OpenAI protocol under
``/v1`` - models, chat completions, legacy completions, embeddings, responses, with and without
streaming - counts tokens by a deterministic rule (see ``tokens``), injects faults on request (see
``faults``) and records what it received (``DemoUpstream.requests`` / ``.stats``, ``/_fake/*``).

Run it: ``python -m devtools.demo_upstream --host 127.0.0.1 --port 9100 [--api-key KEY]``.
Plain ASGI, no Django import, so it starts fast and costs little per call.
"""

from .app import DemoUpstream, make_app
from .asgi import DROP_CONNECTION, ApiError
from .faults import FAULT_NAMES, TRUNCATE_AFTER_DELTAS, Faults, parse_faults
from .payloads import DEMO_MODELS, DemoModel
from .tokens import (
    CACHE_INCREMENT_TOKENS,
    CACHE_MIN_PROMPT_TOKENS,
    DEFAULT_ANSWER_TOKENS,
    DEFAULT_LEGACY_ANSWER_TOKENS,
    MAX_ANSWER_TOKENS,
    TOKENS_PER_MESSAGE,
    TOKENS_PER_NON_TEXT_PART,
    TOKENS_PER_REPLY,
    cached_prompt_tokens,
    chat_prompt_tokens,
    count_tokens,
    responses_input_tokens,
    split_reasoning,
    synthetic_answer,
    synthetic_embedding,
)

app = make_app()

__all__ = [
    "CACHE_INCREMENT_TOKENS",
    "CACHE_MIN_PROMPT_TOKENS",
    "DEFAULT_ANSWER_TOKENS",
    "DEFAULT_LEGACY_ANSWER_TOKENS",
    "DEMO_MODELS",
    "DROP_CONNECTION",
    "FAULT_NAMES",
    "MAX_ANSWER_TOKENS",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NON_TEXT_PART",
    "TOKENS_PER_REPLY",
    "TRUNCATE_AFTER_DELTAS",
    "ApiError",
    "DemoModel",
    "DemoUpstream",
    "Faults",
    "app",
    "cached_prompt_tokens",
    "chat_prompt_tokens",
    "count_tokens",
    "make_app",
    "parse_faults",
    "responses_input_tokens",
    "split_reasoning",
    "synthetic_answer",
    "synthetic_embedding",
]
