"""Relaying a server-sent-event stream as it arrives (steps 6 to 8 for streams).

Events are passed through byte for byte, split only at event boundaries as the WHATWG SSE spec frames
them: lines end in CRLF, LF or CR, and an event ends at a blank line. Only the incomplete trailing event
of what has arrived is held back. The relay reads the usage block (``usage`` of a chat or completions
chunk, ``response.usage`` of a Responses API event; for Anthropic's Messages API ``message.usage`` of
``message_start`` and the cumulative ``usage`` of ``message_delta``), records an error event's code
(a Messages ``error`` event: its error type, e.g. ``overloaded_error``), and drops the one
chunk the caller did not ask for: the usage chunk (usage, no choices) Tokenwise asked for on its
behalf. Settlement runs whether the stream completes, breaks upstream, or the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from usage.proxy.accounting import tokens_from_anthropic_usage, tokens_from_usage
from usage.proxy.call import Call
from usage.proxy.upstream_http import upstream_release

_EOL = rb"(?:\r\n|\r(?!\n)|\n)"  # a CR that ends the bytes at hand ends its line (see ``_pass``)
_EVENT = re.compile(rb"(?:[^\r\n]++" + _EOL + rb")*+" + _EOL)  # non-blank lines, then the blank one

# An event is parsed as it passes only when it may carry what must be acted on at once: a usage block
# (dropped when Tokenwise asked for it on the caller's behalf) or an error - "usage" or "error" as a key
# holding anything but null (OpenAI sends "usage": null in every chunk of a stream that asked for
# usage), or "error" as a value (an error event's "type", an error object's "object"). The others - the
# text deltas, nearly all of a stream - pass as they came, their text parsed later in batches
# (``Call.stream_keep``).
_ACT_NOW = re.compile(rb'"(?:usage|error)"\s*(?::(?!\s*null)|[,}])')


def _data_of(event: bytes) -> bytes | None:
    """The event's data: the values of its ``data`` lines joined with LF; None when it has none."""
    values = []
    for line in event.splitlines():  # bytes split at CRLF, LF and CR only
        field, _, value = line.partition(b":")
        if field == b"data":
            values.append(value[1:] if value[:1] == b" " else value)
    return b"\n".join(values) if values else None


def _error_code(chunk: dict[str, Any]) -> str | None:
    """The code of an error the upstream reported mid-stream: a chunk ``{"error": {...}}``, a Responses
    API ``error`` event or ``response.failed``, or an error object sent as a chunk."""
    error = chunk.get("error")
    if not isinstance(error, dict):
        response = chunk.get("response")
        error = response.get("error") if isinstance(response, dict) else None
    if not isinstance(error, dict):
        error = chunk if "error" in (chunk.get("type"), chunk.get("object")) else None
    if error is None:
        return None
    return str(error.get("code") or "upstream_stream_error")[:64]


def observe_event(call: Call, event: bytes) -> bool:
    """Account for one SSE event; return False when it must not reach the caller."""
    data = _data_of(event)
    if data is None or _ACT_NOW.search(data) is None:
        return True
    try:
        chunk = json.loads(data)
    except ValueError:
        return True
    if not isinstance(chunk, dict):
        return True
    if call.endpoint == "messages":
        _observe_message_event(call, chunk)
        return True  # a Messages stream is relayed whole (no usage is asked on the caller's behalf)
    code = _error_code(chunk)
    if code is not None:
        call.event.error_code = code
    if call.endpoint == "responses":
        response = chunk.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
    else:
        usage = chunk.get("usage")
    if not usage:
        return True
    call.tokens = tokens_from_usage(usage) or call.tokens
    # The usage chunk Tokenwise asked for on the caller's behalf: usage, no choices, not an error.
    asked_for_caller = call.endpoint != "responses" and not call.caller_wants_usage
    return not (asked_for_caller and code is None and not chunk.get("choices"))


def _observe_message_event(call: Call, chunk: dict[str, Any]) -> None:
    """Account for one Messages API event: ``message_start`` holds the input counts (and the first
    output count), ``message_delta`` the output so far (and, from some servers, the input counts
    again); an ``error`` event names its type."""
    kind = chunk.get("type")
    if kind == "error":
        error = chunk.get("error")
        kind_of_error = error.get("type") if isinstance(error, dict) else None
        call.event.error_code = str(kind_of_error or "upstream_stream_error")[:64]
        return
    if kind == "message_start":
        message = chunk.get("message")
        usage = message.get("usage") if isinstance(message, dict) else None
    elif kind == "message_delta":
        usage = chunk.get("usage")
    else:
        return
    call.tokens = tokens_from_anthropic_usage(usage, call.tokens) or call.tokens


def _pass(call: Call, data: bytes, *, final: bool = False) -> tuple[bytes, bytes]:
    """What of ``data`` goes to the caller now, and what is held back until more bytes arrive.

    Goes now: every complete event (through its blank line), byte for byte, but a dropped usage chunk.
    Held back: the incomplete trailing event, and a dropped event whose last byte is a CR ending
    ``data`` - the next byte may be the LF of that CRLF, to be dropped with it (``final``: no byte
    follows). A passed event ending in such a CR goes at once: an LF after it is then a blank line of its
    own, passed with the event after it (a blank line alone dispatches nothing). The usual piece - LF
    line ends, nothing to act on - is passed whole after one search; otherwise the events before the
    first one to act on still pass whole, and only the rest is looked at event by event.
    """
    has_cr = b"\r" in data
    if has_cr:
        end = _last_event_end(data, len(data), has_cr)
    else:  # the usual piece: ``_last_event_end``'s one search, inline
        index = data.rfind(b"\n\n")
        end = index + 2 if index >= 0 else 0
    match = _ACT_NOW.search(data, 0, end)
    if match is None:
        return data[:end], data[end:]
    start = _last_event_end(data, match.start(), has_cr)  # where the event to act on begins
    out = [data[:start]]
    while start < end:
        whole = _EVENT.match(data, start)
        assert whole is not None  # [start, end) holds whole events: one begins at start
        stop = whole.end()
        event = data[start:stop]
        if observe_event(call, event):
            out.append(event)
        elif stop == len(data) and data[-1:] == b"\r" and not final:
            return b"".join(out), event
        start = stop
    return b"".join(out), data[end:]


def _last_event_end(data: bytes, position: int, has_cr: bool) -> int:
    """Where the last event that is complete before ``position`` ends (0: none is).

    A blank line follows a line end: its two line ends hold LF LF, LF CR or CR CR (LF CR LF and CR CR LF
    when the blank line ends in CRLF), so the last of those three pairs marks where the last event ends.
    """
    index = data.rfind(b"\n\n", 0, position)
    if has_cr:
        index = max(index, data.rfind(b"\n\r", 0, position), data.rfind(b"\r\r", 0, position))
    if index < 0:
        return 0
    if data[index + 1] == 13 and data[index + 2 : index + 3] == b"\n":  # the blank line ends in CRLF
        return index + 3
    return index + 2


def _stream_error(message: str, code: str, endpoint: str = "") -> bytes:
    if endpoint == "messages":  # Anthropic's error event
        body = {"type": "error", "error": {"type": "api_error", "message": message}}
        return b"event: error\ndata: " + json.dumps(body).encode() + b"\n\n"
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def relay(call: Call, upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """Yield the upstream's events as they arrive; settle and record when the stream ends in any way."""
    status, error_code = 200, ""
    buffer = b""
    try:
        async for piece in upstream.content.iter_any():
            call.mark_first_byte()
            out, buffer = _pass(call, buffer + piece if buffer else piece)
            if out:
                call.stream_keep(out)  # the text is read from it later, in batches
                yield out
        if buffer:  # the stream ended: what was held back, and an incomplete event as it came
            out, buffer = _pass(call, buffer, final=True)
            if out + buffer:
                call.stream_keep(out)
                yield out + buffer
    except TimeoutError:  # aiohttp's read timeout (checked first: it is a ClientError too)
        error_code = "upstream_timeout"
        yield _stream_error("The upstream stopped sending within the timeout.", error_code, call.endpoint)
    except aiohttp.ClientError:
        error_code = "upstream_stream_interrupted"
        yield _stream_error("The upstream connection broke before the stream ended.", error_code, call.endpoint)
    except (asyncio.CancelledError, GeneratorExit):
        call.event.client_disconnected = True
        error_code = "client_disconnected"
        raise
    finally:
        _close_quietly(upstream)  # cancels the upstream generation when the client left
        try:
            await call.end(status=status, error_code=error_code or call.event.error_code)
        except (asyncio.CancelledError, RuntimeError):
            pass  # the settlement task goes on by itself


def _close_quietly(upstream: aiohttp.ClientResponse) -> None:
    try:
        upstream_release(upstream)
    except RuntimeError:  # the event loop is closing
        pass
