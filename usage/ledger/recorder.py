"""The recorder: the proxy's finished calls are recorded in batches, off the path of the calls that follow.

A call's record - fingerprints, its settlement's answer, metrics, the ledger event - is work for after
its answer. Done per call, right after it, that work lands in the middle of the caller's next call
(docs/performance.md). The calls one event loop answers within ``TOKENWISE_RECORD_DELAY_S`` are recorded
together instead: fingerprinted in slices, their settlements' answers read, published in one write (one
XADD each, ``usage_events_publish``). Each call still waits for its batch - inside its own request when
the proxy's handler serves it, so a graceful stop waits for every record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import weakref
from collections.abc import Awaitable
from typing import Protocol

from django.conf import settings

from core.metrics import metrics_observe_call
from usage.ledger.event_record import UsageEventData
from usage.ledger.events import usage_events_publish

logger = logging.getLogger(__name__)

RECORD_BATCH_MAX = 128  # calls recorded together at most; a full batch is recorded at once
RECORD_SLICE = 4  # calls fingerprinted between two yields to the event loop


class RecordedCall(Protocol):
    """What the recorder reads of a finished call (``usage.proxy.call.Call``)."""

    @property
    def request_id(self) -> str: ...

    @property
    def event(self) -> UsageEventData: ...

    @property
    def settling(self) -> Awaitable[None] | None: ...  # the settlement's answer, not read yet

    def fingerprint(self) -> None: ...


@dataclasses.dataclass(slots=True)
class _RecordBatch:
    calls: list[RecordedCall]
    done: asyncio.Future
    timer: asyncio.TimerHandle | None = None


_open_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _RecordBatch] = weakref.WeakKeyDictionary()
_running: set[asyncio.Task] = set()  # batches being recorded, kept referenced until done


async def call_record(call: RecordedCall) -> None:
    """Record a finished call with the other calls of this event loop's window; return once published.

    The batch is recorded when ``TOKENWISE_RECORD_DELAY_S`` has passed since it opened, or at once when
    it reaches ``RECORD_BATCH_MAX`` calls, in a task of its own (a cancelled waiter does not stop it).
    Raises what ``usage_events_publish`` raised - only when the local disk failed too.
    """
    loop = asyncio.get_running_loop()
    batch = _open_batches.get(loop)
    if batch is None:
        batch = _open_batches[loop] = _RecordBatch(calls=[], done=loop.create_future())
        batch.timer = loop.call_later(settings.TOKENWISE_RECORD_DELAY_S, _record_batch_start, loop, batch)
    batch.calls.append(call)
    if len(batch.calls) >= RECORD_BATCH_MAX:
        assert batch.timer is not None  # set when the batch opened
        batch.timer.cancel()
        _record_batch_start(loop, batch)
    await asyncio.shield(batch.done)


def _record_batch_start(loop: asyncio.AbstractEventLoop, batch: _RecordBatch) -> None:
    if _open_batches.get(loop) is batch:
        del _open_batches[loop]
    task = asyncio.ensure_future(_record_batch_run(batch))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _record_batch_run(batch: _RecordBatch) -> None:
    try:
        for index, call in enumerate(batch.calls, start=1):
            try:
                call.fingerprint()
            except Exception:  # a fingerprint is never worth an event
                logger.exception("fingerprints failed for %s", call.request_id)
            if index % RECORD_SLICE == 0:
                await asyncio.sleep(0)  # other calls' I/O in between
        for call in batch.calls:
            if call.settling is not None:
                await call.settling
            metrics_observe_call(call.event)
        await usage_events_publish([call.event for call in batch.calls])
    except asyncio.CancelledError:
        batch.done.cancel()
        raise
    except Exception as exc:  # noqa: BLE001 - the local disk failed too (``usage_events_publish``): the waiters get it
        batch.done.set_exception(exc)
    else:
        batch.done.set_result(None)
