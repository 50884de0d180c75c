"""Relaying a server-sent-event stream as it arrives (steps 6 to 8 for streams).

Events are passed through byte for byte, split only at event boundaries. The relay reads the usage
block the proxy asked for and drops that extra chunk when the caller did not ask for it. Settlement runs
whether the stream completes, breaks upstream, or the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import httpx

from usage.proxy.accounting import tokens_from_usage
from usage.proxy.call import Call

_SEPARATORS = (b"\n\n", b"\r\n\r\n")


def _data_of(event: bytes) -> bytes | None:
    """The first ``data:`` line's value of an event."""
    if event.startswith(b"data:"):  # the usual shape: no event name, one data line
        end = event.find(b"\n")
        return event[5:end].strip() if end >= 0 else event[5:].strip()
    for line in event.splitlines():
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


# A chunk is parsed as it passes only when it may carry what must be acted on at once: a usage block
# (dropped when Tokenwise asked for it on the caller's behalf) or an error - an object under the key
# "usage" or "error" (OpenAI sends "usage": null in every chunk of a stream that asked for usage). The
# others - the text deltas, nearly all of a stream - pass as they came, and their text is parsed later
# in batches (``Call.stream_keep``).
_ACT_NOW = re.compile(rb'"(?:usage|error)"\s*:\s*\{')


def observe_event(call: Call, event: bytes) -> bool:
    """Account for one SSE event; return False when it must not reach the caller."""
    data = _data_of(event)
    if not data or data == b"[DONE]" or not data.startswith(b"{"):
        return True
    if _ACT_NOW.search(data) is None:
        return True
    try:
        chunk = json.loads(data)
    except ValueError:
        return True
    if not isinstance(chunk, dict):
        return True
    if isinstance(chunk.get("error"), dict):
        call.event.error_code = str(chunk["error"].get("code") or "upstream_stream_error")[:64]
        return True
    if call.endpoint == "responses":
        response = chunk.get("response")
        if isinstance(response, dict) and response.get("usage"):
            call.tokens = tokens_from_usage(response["usage"]) or call.tokens
    elif chunk.get("usage"):
        call.tokens = tokens_from_usage(chunk["usage"]) or call.tokens
        if not call.caller_wants_usage and not chunk.get("choices"):
            return False  # the usage chunk Tokenwise asked for on the caller's behalf
    return True


def _split(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete events at the start of ``buffer`` (each with its blank line), and the rest; for
    pieces with CR line ends (``_pass`` handles LF-only pieces itself)."""
    events = []
    while True:
        cut = min(((buffer.find(sep), sep) for sep in _SEPARATORS if buffer.find(sep) >= 0), default=None)
        if cut is None:
            return events, buffer
        index, sep = cut
        events.append(buffer[: index + len(sep)])
        buffer = buffer[index + len(sep):]


def _pass(call: Call, data: bytes) -> tuple[bytes, bytes]:
    """What of ``data`` goes to the caller now (its complete events, but a dropped usage chunk), and
    the rest (an incomplete event). The usual piece - LF line ends, no usage or error object - is
    passed whole after one search; otherwise the events before the first match still pass whole and
    only the rest is looked at event by event."""
    if b"\r" not in data:
        end = data.rfind(b"\n\n")
        if end < 0:
            return b"", data
        complete, rest = data[:end + 2], data[end + 2:]
        match = _ACT_NOW.search(complete)
        if match is None:
            return complete, rest
        cut = complete.rfind(b"\n\n", 0, match.start()) + 2  # the start of the event that matched
        head, events = complete[:cut], [event + b"\n\n" for event in complete[cut:-2].split(b"\n\n")]
    else:
        head, (events, rest) = b"", _split(data)
    return head + b"".join(event for event in events if observe_event(call, event)), rest


def _stream_error(message: str, code: str) -> bytes:
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": code}}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def relay(call: Call, upstream: httpx.Response) -> AsyncIterator[bytes]:
    """Yield the upstream's events as they arrive; settle and record when the stream ends in any way."""
    status, error_code = 200, ""
    buffer = b""
    try:
        async for piece in upstream.aiter_bytes():
            call.mark_first_byte()
            out, buffer = _pass(call, buffer + piece if buffer else piece)
            if out:
                call.stream_keep(out)  # the text is read from it later, in batches
                yield out
        if buffer.strip():
            yield buffer
    except httpx.TimeoutException:
        error_code = "upstream_timeout"
        yield _stream_error("The upstream stopped sending within the timeout.", error_code)
    except httpx.HTTPError:
        error_code = "upstream_stream_interrupted"
        yield _stream_error("The upstream connection broke before the stream ended.", error_code)
    except (asyncio.CancelledError, GeneratorExit):
        call.event.client_disconnected = True
        error_code = "client_disconnected"
        raise
    finally:
        await _close_quietly(upstream)  # cancels the upstream generation when the client left
        try:
            await call.end(status=status, error_code=error_code or call.event.error_code)
        except (asyncio.CancelledError, RuntimeError):
            pass  # the settlement task goes on by itself


async def _close_quietly(upstream: httpx.Response) -> None:
    try:
        await asyncio.shield(upstream.aclose())
    except (asyncio.CancelledError, httpx.HTTPError, RuntimeError):
        pass
