"""The stream relay's framing: recorded upstream streams, cut anywhere, with any line ends, come out exact.

Each fixture under ``fixtures/streams/`` is a stream as a real server sends it (OpenAI, Azure OpenAI, vLLM,
Ollama, and the SSE spec's rarer shapes), stored with LF line ends; ``manifest.json`` gives its endpoint,
its usage (prompt, completion, cached, reasoning, total), the index of the usage chunk a caller gets
only when it asked for usage (``null``: none), and the error code it reports. The bytes are fed through
``_pass`` the way ``relay`` feeds them - each read appended to what was held back, and what is left
when the stream ends passed with ``final=True``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from usage.ledger.event_record import UsageEventData, utc_now
from usage.proxy.accounting import Tokens
from usage.proxy.call import Call
from usage.proxy.relay import _pass

FIXTURES = Path(__file__).parent / "fixtures" / "streams"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
LINE_ENDS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}
USAGE = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[],'
    b'"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}\n\n'
)


def _call(endpoint: str, *, caller_wants_usage: bool = False) -> Call:
    call = Call(
        endpoint=endpoint,
        request_id="req_test",
        started=0.0,
        event=UsageEventData(request_id="req_test", created_at=utc_now(), endpoint=endpoint),
    )
    call.caller_wants_usage = caller_wants_usage
    return call


def _relayed(call: Call, pieces: list[bytes]) -> bytes:
    """What the caller receives of ``pieces`` (the reads), passed as ``relay`` passes them."""
    out, rest = [], b""
    for piece in pieces:
        passed, rest = _pass(call, rest + piece)
        out.append(passed)
    passed, rest = _pass(call, rest, final=True)
    return b"".join(out) + passed + rest


def _events(name: str, line_end: str | list[bytes]) -> list[bytes]:
    """The fixture's events, each through its blank line, with the line ends asked for: one kind, or
    the line end of each line in turn."""
    raw = (FIXTURES / name).read_bytes()
    events = [event + b"\n\n" for event in raw.split(b"\n\n")[:-1]]
    assert b"".join(events) == raw
    if isinstance(line_end, str):
        return [event.replace(b"\n", LINE_ENDS[line_end]) for event in events]
    ends, converted, previous = iter(line_end), [], b""
    for event in events:
        lines = []
        for line in event.split(b"\n")[:-1]:
            end = next(ends)
            if previous == b"\r" and not line and end == b"\n":
                end = b"\r\n"  # CR then LF would be one line end (CRLF), and the blank line gone
            lines.append(line + end)
            previous = end
        converted.append(b"".join(lines))
    return converted


def _cut(data: bytes, positions: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(positions)), len(data)]
    return [data[start:stop] for start, stop in zip(bounds, bounds[1:], strict=False)]


def _tokens(expected: list[int] | None) -> Tokens | None:
    if expected is None:
        return None
    prompt, completion, cached, reasoning, total = expected
    return Tokens(prompt=prompt, completion=completion, cached=cached, reasoning=reasoning, total=total)


@pytest.mark.parametrize("caller_wants_usage", [False, True], ids=["caller-did-not-ask", "caller-asked"])
@pytest.mark.parametrize("name", sorted(MANIFEST))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), line_end=st.sampled_from([*sorted(LINE_ENDS), "mixed"]))
def test_a_recorded_stream_cut_anywhere_is_relayed_exactly_with_exact_tokens(name, caller_wants_usage, data, line_end):
    expected = MANIFEST[name]
    if line_end == "mixed":
        lines = (FIXTURES / name).read_bytes().count(b"\n")
        line_end = data.draw(st.lists(st.sampled_from(list(LINE_ENDS.values())), min_size=lines, max_size=lines))
    events = _events(name, line_end)
    stream = b"".join(events)
    cuts = data.draw(st.lists(st.integers(min_value=1, max_value=max(len(stream) - 1, 1)), max_size=40), label="cuts")
    hidden = expected["usage_event"] if not caller_wants_usage else None
    call = _call(expected["endpoint"], caller_wants_usage=caller_wants_usage)

    relayed = _relayed(call, _cut(stream, cuts))

    assert relayed == b"".join(event for index, event in enumerate(events) if index != hidden)
    assert call.tokens == _tokens(expected["tokens"])
    assert call.event.error_code == expected["error_code"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
@pytest.mark.parametrize("line_end", sorted(LINE_ENDS))
def test_each_event_written_in_two_halves(name, line_end):
    expected = MANIFEST[name]
    events = _events(name, line_end)
    call = _call(expected["endpoint"])

    relayed = _relayed(
        call, [half for event in events for half in (event[: len(event) // 2], event[len(event) // 2 :])]
    )

    hidden = expected["usage_event"]
    assert relayed == b"".join(event for index, event in enumerate(events) if index != hidden)
    assert call.tokens == _tokens(expected["tokens"])


def test_usage_chunk_first_in_a_read_is_read_and_dropped():
    call = _call("chat.completions")

    passed, rest = _pass(call, USAGE + b"data: [DONE]\n\n")

    assert (passed, rest) == (b"data: [DONE]\n\n", b"")
    assert call.tokens == Tokens(prompt=9, completion=3, total=12)
    assert call.event.is_estimated is False


def test_usage_chunk_alone_in_a_read_is_read_and_dropped():
    call = _call("chat.completions")
    content = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'

    relayed = _relayed(call, [content, USAGE, b"data: [DONE]\n\n"])

    assert relayed == content + b"data: [DONE]\n\n"
    assert call.tokens == Tokens(prompt=9, completion=3, total=12)


def test_usage_chunk_is_kept_when_the_caller_asked():
    call = _call("chat.completions", caller_wants_usage=True)

    assert _pass(call, USAGE) == (USAGE, b"")
    assert call.tokens == Tokens(prompt=9, completion=3, total=12)


def test_a_dropped_chunk_ending_in_cr_waits_for_the_next_byte_a_passed_one_does_not():
    dropped, kept = _call("chat.completions"), _call("chat.completions", caller_wants_usage=True)
    usage = USAGE.replace(b"\n", b"\r\n")

    assert _pass(dropped, usage[:-1]) == (b"", usage[:-1])  # its LF may follow: dropped with it
    assert _pass(dropped, usage + b"data: [DONE]\r\n\r\n") == (b"data: [DONE]\r\n\r\n", b"")
    assert _pass(dropped, usage[:-1], final=True) == (b"", b"")
    assert _pass(kept, usage[:-1]) == (usage[:-1], b"")  # complete: a blank line ends at its CR
    assert _pass(kept, b"\ndata: [DONE]\r\n\r\n") == (b"\ndata: [DONE]\r\n\r\n", b"")  # its LF: a blank line


def test_an_incomplete_trailing_event_is_held_back_until_its_blank_line():
    call = _call("chat.completions")

    assert _pass(call, USAGE[:40]) == (b"", USAGE[:40])
    assert _pass(call, USAGE[:-1]) == (b"", USAGE[:-1])
    assert call.tokens is None
