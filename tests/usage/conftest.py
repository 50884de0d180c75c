"""Fixtures of the ledger tests: a stream of the test's own, cleaned up in Redis afterwards."""

from __future__ import annotations

import uuid
from datetime import UTC

import pytest
from django.conf import settings

from core.redis import get_sync_redis
from governance.services.pricing import price_snapshot_invalidate


@pytest.fixture
def redis_keys_token() -> str:
    """A token unique to this test; every Redis key the test creates contains it."""
    return f"tw-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def ledger_stream(settings, redis_keys_token):
    """Points the ledger at a stream of this test's own and yields the Redis client (None: embedded).

    Afterwards deletes every key containing the test's token (the stream, its dirty-rollup set, its
    dead-letter stream, Celery queue keys) - and only those: other tests may share the Redis db.
    """
    settings.TOKENWISE_LEDGER_STREAM = f"{redis_keys_token}:events"
    client = get_sync_redis()
    yield client
    if client is not None:
        keys = list(client.scan_iter(match=f"*{redis_keys_token}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def redis_required():
    if not settings.REDIS_URL:
        pytest.skip(
            "SKIPPED: REDIS_URL is not set - this ledger test needs a real Redis (.ci/run and scripts/test set it)"
        )


@pytest.fixture(autouse=True)
def fresh_price_snapshot():
    """The price snapshot is per process; tests roll the table back, so start and end without one."""
    price_snapshot_invalidate()
    yield
    price_snapshot_invalidate()


@pytest.fixture
def make_event():
    """Builds a ``UsageEventData`` with sensible values; keyword arguments override any field."""
    from datetime import datetime

    from usage.ledger.event_record import UsageEventData

    counter = iter(range(1, 1_000_000))

    def build(**fields) -> UsageEventData:
        values = dict(
            request_id=f"req_test{next(counter):06d}",
            created_at=datetime(2025, 3, 10, 12, 0, tzinfo=UTC),
            endpoint="/v1/chat/completions",
            status=200,
            model_requested="gpt-4o-mini",
            model_served="gpt-4o-mini-2024-07-18",
            provider="openai",
            prompt_tokens=1000,
            completion_tokens=200,
            cached_tokens=400,
            total_tokens=1200,
            cost_usd="0.00024000",
            latency_ms=850,
        )
        values.update(fields)
        return UsageEventData(**values)

    return build
