"""The ledger stream: draining the Redis stream of usage events into the database.

``usage_events_publish`` XADDs one entry ``{"e": <UsageEventData JSON>}`` per call to
``settings.TOKENWISE_LEDGER_STREAM``. Workers read it through one consumer group, so each entry goes to
one consumer; an entry is acknowledged and deleted only after its batch is committed. Entries left
pending by a consumer that died (or whose database write failed) are reclaimed with XAUTOCLAIM once
idle long enough. Redelivery is harmless: ingest is idempotent on ``request_id`` and rollups are
recomputed, never incremented. An entry that cannot be parsed goes to ``<stream>:dead`` for a human
and is removed, so it never blocks the stream.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from typing import cast

import redis
from django.conf import settings

from core.redis import SyncRedis, get_sync_redis
from usage.ledger.event_record import UsageEventData
from usage.ledger.ingest import usage_events_ingest

logger = logging.getLogger(__name__)

GROUP = "ledger"
CLAIM_IDLE_MS = 60_000  # a pending entry this idle belongs to a dead or failed consumer
CONSUMER_FORGET_IDLE_MS = 24 * 3600 * 1000  # consumers with nothing pending, idle this long, are removed


@dataclasses.dataclass(slots=True)
class DrainResult:
    read: int = 0  # entries read or reclaimed
    inserted: int = 0  # events new to the ledger
    dead: int = 0  # unparseable entries moved to the dead-letter stream
    exhausted: bool = False  # the stream had nothing more to read when the drain stopped


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _group_ensure(client: SyncRedis, stream: str) -> None:
    try:
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _consumers_forget(client: SyncRedis, stream: str, *, keep: str) -> None:
    """Remove long-idle consumers with nothing pending (one per worker process ever started)."""
    for info in client.xinfo_consumers(stream, GROUP):
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name != keep and info["pending"] == 0 and info["idle"] > CONSUMER_FORGET_IDLE_MS:
            client.xgroup_delconsumer(stream, GROUP, name)


def _entries_process(client: SyncRedis, stream: str, entries: list) -> tuple[int, int]:
    """Ingest one batch of entries, then XACK + XDEL them; returns (inserted, dead).

    A database error propagates before anything is acknowledged: the entries stay pending.
    """
    events: list[UsageEventData] = []
    dead: list[tuple[bytes, dict]] = []
    ids = []
    for entry_id, fields in entries:
        if fields is None:  # deleted while pending: nothing left to write
            ids.append(entry_id)
            continue
        ids.append(entry_id)
        try:
            events.append(UsageEventData.from_json(fields[b"e"]))
        except (KeyError, TypeError, ValueError) as exc:
            logger.error("ledger entry %s unreadable (%s); moved to %s:dead", entry_id, exc, stream)
            dead.append((entry_id, fields))
    inserted = usage_events_ingest(events=events) if events else 0
    pipe = client.pipeline(transaction=False)
    for entry_id, fields in dead:
        pipe.xadd(f"{stream}:dead", {**fields, b"id": entry_id})
    pipe.xack(stream, GROUP, *ids)
    pipe.xdel(stream, *ids)
    pipe.execute()
    return inserted, len(dead)


def usage_stream_drain(
    *,
    time_budget_s: float = 4.0,
    batch_size: int | None = None,
    claim_idle_ms: int = CLAIM_IDLE_MS,
) -> DrainResult:
    """Move usage events from the Redis stream into the ledger, in batches, within a time budget.

    First reclaims entries pending longer than ``claim_idle_ms`` (dead consumers, failed writes), then
    reads new entries (``batch_size``, default ``TOKENWISE_LEDGER_BATCH_SIZE``) until the stream is
    empty or ``time_budget_s`` is spent. Each batch is acknowledged and deleted only after it is
    committed; a database error propagates and leaves the batch pending (nothing lost, retried later
    by whichever worker reclaims it). Safe on several workers at once. Without Redis: does nothing.
    """
    client = get_sync_redis()
    result = DrainResult()
    if client is None:
        result.exhausted = True
        return result
    stream, me = settings.TOKENWISE_LEDGER_STREAM, consumer_name()
    count = batch_size or settings.TOKENWISE_LEDGER_BATCH_SIZE
    deadline = time.monotonic() + time_budget_s
    _group_ensure(client, stream)

    start_id = "0-0"
    while time.monotonic() < deadline:
        start_id, claimed, *_ = client.xautoclaim(stream, GROUP, me, claim_idle_ms, start_id=start_id, count=count)
        if claimed:
            inserted, dead = _entries_process(client, stream, claimed)
            result.read, result.inserted, result.dead = (
                result.read + len(claimed),
                result.inserted + inserted,
                result.dead + dead,
            )
        if start_id in (b"0-0", "0-0"):
            break

    while time.monotonic() < deadline:
        # RESP2: a list of [stream, entries] (redis-py's annotation gives RESP3's dict).
        response = cast(list, client.xreadgroup(GROUP, me, {stream: ">"}, count=count))
        entries = response[0][1] if response else []
        if not entries:
            result.exhausted = True
            break
        inserted, dead = _entries_process(client, stream, entries)
        result.read, result.inserted, result.dead = (
            result.read + len(entries),
            result.inserted + inserted,
            result.dead + dead,
        )

    _consumers_forget(client, stream, keep=me)
    return result


def usage_stream_backlog() -> tuple[int, int]:
    """(entries in the stream, entries of them pending with some consumer); (0, 0) without Redis."""
    client = get_sync_redis()
    if client is None:
        return 0, 0
    stream = settings.TOKENWISE_LEDGER_STREAM
    length = client.xlen(stream)
    if not length:
        return 0, 0
    try:
        pending = client.xpending(stream, GROUP)["pending"]
    except redis.exceptions.ResponseError:  # no group yet: nothing was ever read
        pending = 0
    return length, pending
