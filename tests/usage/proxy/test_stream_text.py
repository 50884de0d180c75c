"""The answer's text read back from relayed SSE bytes (what the output fingerprint is computed over)."""

from __future__ import annotations

import json

import pytest

from usage.ledger.event_record import UsageEventData, utc_now
from usage.proxy.call import Call


def _sse(*chunks: dict | str) -> bytes:
    return b"".join(
        b"data: " + (c.encode() if isinstance(c, str) else json.dumps(c).encode()) + b"\n\n" for c in chunks
    )


def _text(endpoint: str, *pieces: bytes) -> str:
    call = Call(
        endpoint=endpoint,
        request_id="req_test",
        started=0.0,
        event=UsageEventData(request_id="req_test", created_at=utc_now(), endpoint=endpoint),
    )
    for piece in pieces:
        call.stream_keep(piece)
    return call.output_text()


def _chat(content, **extra) -> dict:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": content, **extra}, "logprobs": None}],
    }


def test_chat_text_is_every_content_delta_in_order_with_escapes_and_unicode():
    pieces = [
        _sse(_chat("", role="assistant")),
        _sse(_chat('He said "hi"\n'), _chat("café ☕ \\ done")),
        _sse({"choices": [], "usage": {"prompt_tokens": 3}}, "[DONE]"),
    ]

    assert _text("chat.completions", *pieces) == 'He said "hi"\ncafé ☕ \\ done'


def test_chat_text_skips_what_is_not_content_text():
    chunk = {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "content": None,
                    "tool_calls": [{"index": 0, "function": {"name": "f", "arguments": '{"content": "not text"}'}}],
                },
                "logprobs": {"content": [{"token": "x", "logprob": -0.1}]},
            }
        ]
    }

    assert _text("chat.completions", _sse(chunk, _chat("ok"))) == "ok"


def test_several_choices_and_batches_keep_their_order():
    many = [_sse(_chat(f"w{i} ")) for i in range(2000)]  # several 8 KB batches

    assert _text("chat.completions", *many) == "".join(f"w{i} " for i in range(2000))


def test_completions_text_and_responses_output_text_deltas_only():
    completions = _sse({"choices": [{"index": 0, "text": "one "}]}, {"choices": [{"index": 0, "text": "two"}]})
    responses = _sse(
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "response.function_call_arguments.delta", "delta": '{"a": 1}'},
        {"type": "response.output_text.delta", "delta": "lo"},
        {"type": "response.completed", "response": {"usage": {"input_tokens": 1}}},
    )

    assert _text("completions", completions) == "one two"
    assert _text("responses", responses) == "Hello"


@pytest.mark.parametrize("endpoint", ["chat.completions", "responses"])
def test_a_malformed_event_is_skipped_not_fatal(endpoint):
    good = _chat("fine") if endpoint == "chat.completions" else {"type": "response.output_text.delta", "delta": "fine"}
    broken = b'data: {"choices": [{"delta": {"content": "bro\\q"}}]}\n\ndata: {not json\n\n'

    assert _text(endpoint, broken, _sse(good)) == "fine"
