"""Fault directives: how a test asks the demo upstream to misbehave.

A request carries directives in the body field ``fake_fault`` (set it with the openai client's
``extra_body``; the proxy passes unknown fields through) and/or the header ``x-fake-fault``. Several
directives may be combined with commas, e.g. ``"slow-stream:20,long-stream:500"``.

- ``slow:<ms>``        wait before answering (the wait ends early if the client goes away)
- ``stall``            never answer; the request ends when the client disconnects
- ``reset``            drop the TCP connection without sending any response
- ``status:<code>``    answer with that HTTP status (400-599) and an OpenAI-shaped error body;
                       429 carries ``retry-after: 1``
- ``truncate``         streams: drop the connection after ``TRUNCATE_AFTER_DELTAS`` content chunks
                       (no finish chunk, no usage, no ``[DONE]``); non-streams: drop it half-way
                       through the JSON body
- ``no-usage``         omit the usage block everywhere (no usage chunk even if the caller asked)
- ``slow-stream:<ms>`` wait that long after each content chunk
- ``long-stream:<n>``  answer with exactly n words, i.e. n content chunks when streaming (reasoning
                       models additionally report n reasoning tokens); overrides ``max_tokens``
- ``stream-error``     Messages streams: an ``error`` event (``overloaded_error``) after
                       ``TRUNCATE_AFTER_DELTAS`` text deltas, instead of the rest
- ``framing:<name>``   streams: write the events as that server does (``openai``, ``azure``, ``vllm``,
                       ``ollama``, ``split``, ``crlf``; see ``framing``)

``slow`` applies first, so ``slow:200,status:503`` is a late 503.
"""

from __future__ import annotations

from dataclasses import dataclass

from .framing import framing_check

FAULT_NAMES = (
    "slow",
    "stall",
    "reset",
    "status",
    "truncate",
    "no-usage",
    "slow-stream",
    "long-stream",
    "framing",
    "stream-error",
)
TRUNCATE_AFTER_DELTAS = 3
MAX_LONG_STREAM = 100_000


@dataclass(slots=True)
class Faults:
    """The parsed directives of one request (all off by default)."""

    slow_ms: float = 0.0
    stall: bool = False
    reset: bool = False
    status: int | None = None
    truncate: bool = False
    no_usage: bool = False
    slow_stream_ms: float | None = None
    answer_words: int | None = None
    framing: str | None = None
    stream_error: bool = False


def _number(name: str, argument: str) -> float:
    try:
        value = float(argument)
    except ValueError:
        raise ValueError(f"fake fault '{name}' needs a number of milliseconds, got {argument!r}") from None
    if not 0 <= value <= 3_600_000:
        raise ValueError(f"fake fault '{name}' needs 0..3600000 ms, got {argument!r}")
    return value


def _integer(name: str, argument: str, *, low: int, high: int) -> int:
    if not argument.isdigit() or not low <= int(argument) <= high:
        raise ValueError(f"fake fault '{name}' needs an integer in {low}..{high}, got {argument!r}")
    return int(argument)


def parse_faults(*specs: object) -> Faults:
    """Parse directive strings (None and empty strings are skipped) into one ``Faults``.

    Raises ``ValueError`` with a readable message for a non-string spec, an unknown directive or a
    bad argument, so a typo in a test fails loudly (the app answers 400) instead of being ignored.
    """
    faults = Faults()
    for spec in specs:
        if spec is None or spec == "":
            continue
        if not isinstance(spec, str):
            raise ValueError("fake_fault must be a string")
        for directive in spec.split(","):
            name, _, argument = directive.strip().partition(":")
            _apply(faults, name.strip(), argument.strip())
    return faults


def _apply(faults: Faults, name: str, argument: str) -> None:
    if name == "slow":
        faults.slow_ms = _number(name, argument)
    elif name == "stall":
        faults.stall = True
    elif name == "reset":
        faults.reset = True
    elif name == "status":
        faults.status = _integer(name, argument, low=400, high=599)
    elif name == "truncate":
        faults.truncate = True
    elif name == "no-usage":
        faults.no_usage = True
    elif name == "slow-stream":
        faults.slow_stream_ms = _number(name, argument)
    elif name == "long-stream":
        faults.answer_words = _integer(name, argument, low=0, high=MAX_LONG_STREAM)
    elif name == "framing":
        faults.framing = framing_check(argument)
    elif name == "stream-error":
        faults.stream_error = True
    elif name:
        raise ValueError(f"unknown fake fault {name!r}; known: {', '.join(FAULT_NAMES)}")
