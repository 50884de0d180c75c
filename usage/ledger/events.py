"""The usage event as it leaves the hot path, and its publication to the ledger.

``usage_events_publish`` appends events to a Redis stream (one ``XADD`` each, in one write); a Celery
task drains the stream into the database in batches (``usage.tasks.usage_events_flush_task``). Without
Redis - embedded mode, or Redis unreachable - the events are written straight to the database. The
write is idempotent on ``request_id``, so a retried publication or a redelivered stream entry never
counts twice.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import logging
import os
import re

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import Error as DatabaseError

from core import metrics
from core.redis import REDIS_ERRORS, replicated_pipeline
from usage.ledger.event_record import UsageEventData
from usage.ledger.ingest import usage_events_ingest
from usage.ledger.spool import usage_spool_append

logger = logging.getLogger(__name__)


# Who made a recent call, so feedback can be checked before the event reaches the database.
CALL_OWNER_KEY = "tw:call-owner:{}"
CALL_OWNER_TTL_S = 7 * 24 * 3600


def new_request_id() -> str:
    """Tokenwise's own request id (never the provider's response id, which may be missing or collide):
    ``req_`` and 128 random bits in hex. Once the caller is known, ``request_id_signed`` replaces it."""
    return "req_" + os.urandom(16).hex()


# A signed request id: ``req_``, 80 random bits, then two 32-bit HMAC tags (SHA-256, keyed from
# SECRET_KEY) binding those bits to the caller's person and to the key's team - 40 characters, the
# ledger's column. The id alone proves whose call it is, so feedback can follow the answer at once,
# before the event reaches the ledger; a made-up id, or another person's (of another team), fails.
_SIGNED_ID = re.compile(r"req_([0-9a-f]{20})([0-9a-f]{8})([0-9a-f]{8})")


@functools.cache
def _request_id_mac(secret_key: str) -> hmac.HMAC:
    key = hashlib.sha256(b"tokenwise.request-id\x00" + secret_key.encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _request_id_tag(random_part: str, kind: str, owner_id: int | None) -> str:
    mac = _request_id_mac(settings.SECRET_KEY).copy()
    mac.update(f"{random_part}:{kind}:{owner_id}".encode())
    return mac.hexdigest()[:8]


def request_id_signed(request_id: str, *, user_id: int | None, team_id: int | None) -> str:
    """The request id of a call whose caller is known: the random part of ``request_id`` (a
    ``new_request_id``) with tags for the person and the team. Deterministic."""
    random_part = request_id[4:24]
    return (
        f"req_{random_part}{_request_id_tag(random_part, 'user', user_id)}"
        f"{_request_id_tag(random_part, 'team', team_id)}"
    )


def request_id_verify(request_id: str, *, user_id: int | None, team_id: int | None) -> tuple[bool, bool] | None:
    """Whether a signed request id was issued to this person, and whether to this team:
    ``(same person, same team)``, compared in constant time; None when ``request_id`` is not a signed
    id (an id of an earlier format, a made-up string): only the ledger can say whose it is."""
    match = _SIGNED_ID.fullmatch(request_id)
    if match is None:
        return None
    random_part, user_tag, team_tag = match.groups()
    return (
        hmac.compare_digest(user_tag, _request_id_tag(random_part, "user", user_id)),
        hmac.compare_digest(team_tag, _request_id_tag(random_part, "team", team_id)),
    )


_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(UsageEventData) if f.type in ("str", "str | None"))
# Integer columns (32-bit in the database) fed by callers or upstreams (a usage block can say anything).
_INT32_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
    "latency_ms",
    "time_to_first_byte_ms",
    "max_tokens",
)
_INT32_MAX = 2**31 - 1


def _storable(event: UsageEventData) -> None:
    """Make the event fit its ledger row: one that does not fits nowhere, and fails its whole batch,
    over and over. PostgreSQL text cannot hold NUL (U+0000) - replaced with U+FFFD - and integers are
    clamped to the 32-bit columns."""
    for name in _TEXT_FIELDS:
        value = getattr(event, name)
        if value and "\x00" in value:
            setattr(event, name, value.replace("\x00", "\ufffd"))
    for name in _INT32_FIELDS:
        value = getattr(event, name)
        if value is not None and not -_INT32_MAX <= value <= _INT32_MAX:
            setattr(event, name, max(-_INT32_MAX, min(_INT32_MAX, value)))


def call_owner_command(event: UsageEventData) -> tuple:
    """The Redis command that remembers whose call this is (feedback checks it before the event
    reaches the database)."""
    return (
        "SET",
        CALL_OWNER_KEY.format(event.request_id),
        f"{event.user_id}:{event.team_id or ''}",
        "EX",
        CALL_OWNER_TTL_S,
    )


async def usage_events_publish(events: list[UsageEventData]) -> None:
    """Hand events to the ledger; never raises for a storage failure it can route around.

    Redis stream first, every event in one pipeline (one ``XADD`` each), replicated to one replica where
    the topology has replicas (``core.redis.replicated_pipeline``); the events Redis did not take (any
    Redis error, or no Redis) are written directly through ``usage_events_ingest``, idempotent on
    ``request_id``; when the database fails too, they are appended to the local spool file
    (``usage.ledger.spool``), re-ingested by the next drain. Raises only if the local disk fails as well.
    """
    if not events:
        return
    for event in events:
        _storable(event)
    left = events
    if settings.REDIS_URL:
        stream = settings.TOKENWISE_LEDGER_STREAM
        try:
            # Replicated before it counts as published (Cluster, Sentinel): an event a failover loses
            # would be lost for good; one that is also written directly below is written once.
            replies = await replicated_pipeline(
                stream, [("XADD", stream, "*", "e", event.to_json()) for event in events]
            )
        except REDIS_ERRORS:
            metrics.DEPENDENCY_FAILURES.labels("redis", "ledger_publish").inc()
            logger.warning("ledger stream unreachable; writing %d event(s) directly", len(events))
        else:
            left = [event for event, reply in zip(events, replies, strict=False) if isinstance(reply, Exception)]
            published = len(events) - len(left)
            if published:
                metrics.labelled(metrics.LEDGER_PUBLISHED, "stream").inc(published)
            if left:
                metrics.DEPENDENCY_FAILURES.labels("redis", "ledger_publish").inc()
                logger.warning(
                    "ledger stream refused %d event(s) (%s); writing them directly",
                    len(left),
                    next(reply for reply in replies if isinstance(reply, Exception)),
                )
    if not left:
        return
    try:
        await sync_to_async(usage_events_ingest, thread_sensitive=True)(events=left)
        metrics.LEDGER_PUBLISHED.labels("database").inc(len(left))
        return
    except DatabaseError:
        metrics.DEPENDENCY_FAILURES.labels("database", "ledger_publish").inc()
        logger.error("ledger database unreachable too; spooling %d event(s) to local disk", len(left))
    await sync_to_async(usage_spool_append, thread_sensitive=False)(events=left)
    metrics.LEDGER_PUBLISHED.labels("spool").inc(len(left))
