"""The state of one proxied call, and its settlement (steps 7 and 8 of the hot path)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from core.log_context import current_request_id
from core.metrics import CALLS_UNRECORDED, metrics_observe_call
from governance.enforcement.admission import Admission, admission_settlement, settlement_send
from governance.services.keys import KeyPrincipal
from governance.services.pricing import cost_usd, price_quote
from usage.fingerprints import prompt_fingerprints, simhash64, text_of_messages
from usage.ledger.event_record import UsageEventData, utc_now
from usage.ledger.events import call_owner_command, new_request_id, request_id_signed
from usage.ledger.recorder import call_record
from usage.proxy.accounting import Tokens, delta_text_of, estimate_tokens, requested_max_tokens
from usage.proxy.client_info import call_context_read

PURPOSE_HEADER = "HTTP_X_TOKENWISE_PURPOSE"
# The ASGI scope entry where the proxy's handler (usage/proxy/asgi.py) collects what a call still has to
# do once its response is sent: settle and record. The caller has its answer a round trip sooner.
AFTER_RESPONSE = "tokenwise.after_response"
STREAM_BATCH_BYTES = 32768  # relayed stream bytes parsed together (a short answer's: once, when recorded)
# Settlement tasks that must outlive a cancelled request (client disconnect); kept referenced here.
_background: set[asyncio.Task] = set()


# The text of a relayed chat or completions stream, read without parsing every chunk: the string values
# under "content" (chat: ``choices[].delta.content``) or "text" (completions: ``choices[].text``). A
# key can only appear unescaped as a key (quotes inside JSON strings are escaped), and no other member
# of those chunks holds a string under that name (logprobs' "content" is a list). The Responses API's
# events carry several kinds of "delta": parsed one by one (``delta_text_of``).
_JSON_STRING = rb'("(?:[^"\\]++|\\.)*+")'  # possessive: runs of plain characters at once, no backtracking
_TEXT_FIELDS = {
    "chat.completions": re.compile(rb'"content"\s*:\s*' + _JSON_STRING),
    "completions": re.compile(rb'"text"\s*:\s*' + _JSON_STRING),
}


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _in_background(work: Awaitable[None]) -> asyncio.Task:
    """``work`` in a task of its own, kept referenced until done (a cancelled request does not stop it)."""
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def after_response_run(steps: list[Callable[[], Awaitable[None]]]) -> None:
    """Run what calls left for after their response, each in its own task (a cancelled request -
    a worker shutting down - does not stop it) and wait for them."""
    for step in steps:
        await asyncio.shield(_in_background(step()))


@dataclasses.dataclass(slots=True)
class Call:
    endpoint: str
    request_id: str
    started: float
    event: UsageEventData
    principal: KeyPrincipal | None = None
    admission: Admission | None = None
    body: dict[str, Any] | None = None
    prompt_text: str = ""
    caller_wants_usage: bool = False
    output_parts: list[str] = dataclasses.field(default_factory=list)
    stream_raw: list[bytes] = dataclasses.field(default_factory=list)  # relayed SSE bytes, not parsed yet
    stream_raw_bytes: int = 0
    tokens: Tokens | None = None
    ended: bool = False
    finished: bool = False
    settling: Awaitable[None] | None = None  # the settlement's answer, read when the call is recorded
    after_response: list[Callable[[], Awaitable[None]]] | None = None

    @classmethod
    def begin(cls, endpoint: str, request) -> Call:
        request_id = new_request_id()
        current_request_id.set(request_id)
        event = UsageEventData(request_id=request_id, created_at=utc_now(), endpoint=endpoint)
        event.purpose = (request.META.get(PURPOSE_HEADER) or "")[:100]
        call_context_read(event, request.META)
        CALLS_UNRECORDED.inc()
        return cls(
            endpoint=endpoint,
            request_id=request_id,
            started=time.perf_counter(),
            event=event,
            after_response=getattr(request, "scope", {}).get(AFTER_RESPONSE),
        )

    async def end(self, *, status: int, error_code: str = "") -> None:
        """The call is answered (or refused, or broken off): settle it now, record it after.

        Settlement - the reservation replaced by the actual usage - is queued for the counters before
        the answer is written, and written right after it in the same event-loop turn (not waited for:
        commands on the connection run in order), so it reaches Redis before anything the caller can
        send next: a caller's next call never meets this call's reservation. The rest - fingerprints,
        the ledger event - is recorded with the other calls of this window (``usage.ledger.recorder``),
        waited for after the response is sent when the proxy's handler serves the call
        (``AFTER_RESPONSE``), else now, in a task of its own that a cancelled request cannot stop.
        """
        if self.ended:
            return
        self.ended = True
        try:
            await self._settle(status=status, error_code=error_code)
        finally:
            if self.after_response is not None:
                self.after_response.append(self.finish)
            else:
                await asyncio.shield(self.finish_in_background())

    def abandon(self) -> None:
        """The caller went away before its answer (the request task is being cancelled): settle the
        reservation and record the call anyway, in a task of its own (``client_disconnected``, 499)."""
        if self.ended:
            return
        if self.principal is None:  # no known key yet: not a call of anyone's
            self.discard(status=499, error_code="client_disconnected")
            return
        self.event.client_disconnected = True
        self.after_response = None  # the request's own tail may be gone: record by itself
        _in_background(self.end(status=499, error_code="client_disconnected"))

    def discard(self, *, status: int, error_code: str) -> None:
        """End a call that came with no known key (none, or an unknown one): counted in the metrics,
        not recorded - the ledger holds the calls of known keys (``usage.proxy.auth_throttle`` counts
        the failures per address)."""
        if self.ended:
            return
        self.ended = self.finished = True
        event = self.event
        event.status, event.error_code = status, error_code[:64]
        event.latency_ms = int((time.perf_counter() - self.started) * 1000)
        metrics_observe_call(event)
        CALLS_UNRECORDED.dec()

    def identify(self, principal: KeyPrincipal) -> None:
        """The caller is known: attribute the call, and sign its request id for them (the id then proves
        whose call it is: feedback needs no ledger lookup)."""
        self.principal = principal
        self.event.key_id, self.event.user_id, self.event.team_id = (
            principal.key_id,
            principal.user_id,
            principal.team_id,
        )
        self.request_id = self.event.request_id = request_id_signed(
            self.request_id, user_id=principal.user_id, team_id=principal.team_id
        )
        current_request_id.set(self.request_id)

    def observe_request(self, body: dict[str, Any]) -> None:
        """Note what the caller asked for; fingerprint the prompt (the text itself is not kept)."""
        self.body = body
        event = self.event
        event.model_requested = body["model"][:200]
        event.stream = body.get("stream") is True
        _, event.max_tokens = requested_max_tokens(self.endpoint, body)
        metadata = body.get("metadata")
        if not event.purpose and isinstance(metadata, dict) and isinstance(metadata.get("purpose"), str):
            event.purpose = metadata["purpose"][:100]
        options = body.get("stream_options")
        self.caller_wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        self.prompt_text = text_of_messages(body)  # fingerprinted in ``finish``, off the response's path

    def mark_first_byte(self) -> None:
        if self.event.time_to_first_byte_ms is None:
            self.event.time_to_first_byte_ms = int((time.perf_counter() - self.started) * 1000)

    async def _settle(self, *, status: int, error_code: str) -> None:
        """Usage, cost and the settlement (dispatched: its answer is read by ``finish``)."""
        event = self.event
        event.status, event.error_code = status, error_code[:64]
        event.latency_ms = int((time.perf_counter() - self.started) * 1000)
        self._count_tokens(self.output_text() if self.tokens is None else "")  # text: only to estimate
        cost: Decimal | None = Decimal(0)  # nothing consumed costs nothing
        if event.total_tokens:
            quote = await price_quote(event.model_served or event.model_requested)
            cost = (
                None
                if quote is None
                else cost_usd(
                    quote,
                    prompt_tokens=event.prompt_tokens,
                    cached_tokens=event.cached_tokens,
                    completion_tokens=event.completion_tokens,
                    cache_write_tokens=event.cache_write_tokens,
                )
            )
            event.price_id = None if quote is None else quote.id
        event.cost_usd = None if cost is None else str(cost)
        settlement = None
        if self.admission is not None:
            event.policy_action = self.admission.action
            settlement = admission_settlement(self.admission, total_tokens=event.total_tokens, cost_usd=cost)
        # Whose call this is goes in the same write, so feedback can follow the answer at once.
        owner = (call_owner_command(event),) if event.user_id is not None else ()
        self.settling = await settlement_send(settlement, request_id=self.request_id, also=owner)

    async def finish(self) -> None:
        """Record the call (and read its settlement's answer); runs once per call, whatever happened."""
        if self.finished:
            return
        self.finished = True
        try:
            if self.admission is not None and not self.admission.settled:  # ``end`` was cut short
                await self._settle(status=self.event.status, error_code=self.event.error_code)
            await call_record(self)
        finally:
            CALLS_UNRECORDED.dec()

    def fingerprint(self) -> None:
        """Fingerprint the prompt and the answer (their text is kept only when the policy says so)."""
        event, output = self.event, self.output_text()
        if self.body is not None:  # the request was read
            event.prompt_hash, event.prompt_simhash = prompt_fingerprints(self.prompt_text)
        if output:
            event.output_simhash = simhash64(output)
        if self.admission is not None and self.admission.store_text:
            event.prompt_text, event.output_text = self.prompt_text, output

    def stream_keep(self, data: bytes) -> None:
        """Keep relayed SSE bytes for the answer's text; parsed in batches (one ``json.loads`` per
        ``STREAM_BATCH_BYTES``), so a long stream holds little of them."""
        self.stream_raw.append(data)
        self.stream_raw_bytes += len(data)
        if self.stream_raw_bytes >= STREAM_BATCH_BYTES:
            self._chunks_absorb()

    def _chunks_absorb(self) -> None:
        raw, self.stream_raw, self.stream_raw_bytes = b"".join(self.stream_raw), [], 0
        if not raw:
            return
        field = _TEXT_FIELDS.get(self.endpoint)
        if field is not None:  # chat and completions chunks: their text is every string under one key
            try:
                self.output_parts.extend(json.loads(b"[" + b",".join(field.findall(raw)) + b"]"))
                return
            except ValueError:
                pass  # not the JSON expected: parse the events themselves
        chunks = [line[5:].strip() for line in raw.splitlines() if line.startswith(b"data:")]  # CRLF, LF, CR
        chunks = [chunk for chunk in chunks if chunk.startswith(b"{")]
        if not chunks:
            return
        try:
            parsed = json.loads(b"[" + b",".join(chunks) + b"]")
        except ValueError:  # one malformed event: parse them one by one, skipping it
            parsed = [_json_or_none(chunk) for chunk in chunks]
        for chunk in parsed:
            if isinstance(chunk, dict):
                self.output_parts.append(delta_text_of(self.endpoint, chunk))

    def output_text(self) -> str:
        """The generated text: of a whole answer, or of every relayed stream event."""
        self._chunks_absorb()
        return "".join(self.output_parts)

    def _count_tokens(self, output: str) -> None:
        event, tokens = self.event, self.tokens
        if tokens is None:
            if not event.model_served:
                return  # never reached the upstream: nothing was consumed
            tokens = Tokens(prompt=estimate_tokens(self.prompt_text), completion=estimate_tokens(output))
            tokens.total = tokens.prompt + tokens.completion
            event.is_estimated = True
        event.prompt_tokens, event.completion_tokens = tokens.prompt, tokens.completion
        event.cached_tokens, event.reasoning_tokens, event.total_tokens = (
            tokens.cached,
            tokens.reasoning,
            tokens.total,
        )
        event.cache_write_tokens = tokens.cache_write

    def finish_in_background(self) -> asyncio.Task:
        """Run ``finish`` in its own task, so a cancelled request (client gone) is still recorded."""
        return _in_background(self.finish())
