"""How the demo upstream writes a stream: the framings real servers send, to test a relay against.

A framing is chosen per request with the fault directive ``framing:<name>`` (``x-fake-fault`` header or
``fake_fault`` body field, see ``faults``), else the upstream's default (``make_app(framing=...)``,
``--framing``). Without one, each event goes in its own write with no pause (the benchmark's upstream).

- ``openai``  each event in its own write; the usage chunk comes after a pause, alone in its write, as
              OpenAI sends it once the answer is counted
- ``azure``   Azure OpenAI's chat and completions chunks: first a chunk with ``prompt_filter_results``
              and no choices, then ``content_filter_results`` in every choice; keys sorted
- ``vllm``    vLLM's: events written as its generator yields them, two at a time, and the finish chunk,
              the usage chunk and ``[DONE]`` in one write
- ``ollama``  Ollama's OpenAI-compatible endpoint: each event in its own write, the usage chunk and
              ``[DONE]`` together
- ``split``   each event written in two halves (cut inside its JSON), a moment apart
- ``crlf``    CRLF line ends; each event in its own write

Pure generators over ``payloads.StreamEvents``: they yield ``(bytes, is_delta, pause_ms)`` writes, where
``is_delta`` says the write holds a content chunk and ``pause_ms`` is a wait before the write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .payloads import DONE, StreamEvents

FRAMINGS = ("openai", "azure", "vllm", "ollama", "split", "crlf")
USAGE_PAUSE_MS = 20.0
SPLIT_PAUSE_MS = 2.0  # between the halves of an event: long enough for a reader to see them apart

Writes = Iterator[tuple[bytes, bool, float]]

_SAFE = {"filtered": False, "severity": "safe"}
_FILTER_RESULTS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_PROMPT_FILTER_CHUNK = (
    b"data: "
    + json.dumps(
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTER_RESULTS}],
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    + b"\n\n"
)


def framing_check(name: str | None) -> str | None:
    """``name`` when it is a framing (or None); raises ``ValueError`` naming the known ones."""
    if name is not None and name not in FRAMINGS:
        raise ValueError(f"unknown framing {name!r}; known: {', '.join(FRAMINGS)}")
    return name


def _is_usage_chunk(event: bytes) -> bool:
    return event.startswith(b"data: {") and b'"choices":[],' in event and b'"usage":{' in event


def frame(name: str | None, events: StreamEvents) -> Writes:
    """The writes that send ``events`` in the framing ``name`` (None: one write per event, no pause)."""
    if name is None:
        return ((event, is_delta, 0.0) for event, is_delta in events)
    return _FRAMERS[name](events)


def _openai(events: StreamEvents) -> Writes:
    for event, is_delta in events:
        yield event, is_delta, USAGE_PAUSE_MS if _is_usage_chunk(event) else 0.0


def _azure_chunk(event: bytes) -> bytes:
    chunk: dict[str, Any] = json.loads(event[len(b"data: ") :])
    for choice in chunk.get("choices") or ():
        choice["content_filter_results"] = _FILTER_RESULTS if choice.get("finish_reason") is None else {}
    return b"data: " + json.dumps(chunk, separators=(",", ":"), sort_keys=True).encode() + b"\n\n"


def _azure(events: StreamEvents) -> Writes:
    first = True
    for event, is_delta in events:
        if not event.startswith(b"data: {"):  # [DONE], and the Responses API's named events, as they are
            yield event, is_delta, 0.0
            continue
        if first and b'"choices":' in event:
            yield _PROMPT_FILTER_CHUNK, False, 0.0
        first = False
        yield _azure_chunk(event), is_delta, 0.0


def _vllm(events: StreamEvents) -> Writes:
    batch: list[tuple[bytes, bool]] = []
    ending = False  # from the first finish chunk on, the rest goes in one write
    for event, is_delta in events:
        batch.append((event, is_delta))
        ending = ending or b'"finish_reason":"' in event or _is_usage_chunk(event)
        if (len(batch) == 2 and not ending) or event == DONE:
            yield b"".join(data for data, _ in batch), any(delta for _, delta in batch), 0.0
            batch = []
    if batch:
        yield b"".join(data for data, _ in batch), any(delta for _, delta in batch), 0.0


def _ollama(events: StreamEvents) -> Writes:
    held = b""
    for event, is_delta in events:
        if _is_usage_chunk(event):
            held = event
            continue
        yield held + event, is_delta, 0.0
        held = b""
    if held:
        yield held, False, 0.0


def _split(events: StreamEvents) -> Writes:
    for event, is_delta in events:
        half = len(event) // 2
        yield event[:half], False, 0.0
        yield event[half:], is_delta, SPLIT_PAUSE_MS


def _crlf(events: StreamEvents) -> Writes:
    for event, is_delta in events:
        yield event.replace(b"\n", b"\r\n"), is_delta, 0.0


_FRAMERS = {"openai": _openai, "azure": _azure, "vllm": _vllm, "ollama": _ollama, "split": _split, "crlf": _crlf}
