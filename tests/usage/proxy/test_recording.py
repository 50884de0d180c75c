"""Recording in batches: the calls a proxy process answers within ``TOKENWISE_RECORD_DELAY_S`` are
fingerprinted and published together, each exactly once (usage/ledger/recorder.py)."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
from asgiref.sync import async_to_sync

from tests.conftest import calls_recorded_wait
from usage.ledger import events as usage_events, recorder
from usage.ledger.event_record import UsageEventData, utc_now
from usage.ledger.events import new_request_id
from usage.models import UsageEvent


@pytest.fixture
def batches(monkeypatch):
    """The sizes of the batches the proxy publishes (the real publication still runs)."""
    sizes: list[int] = []
    publish = recorder.usage_events_publish

    async def counted(events):
        sizes.append(len(events))
        await publish(events)

    monkeypatch.setattr(recorder, "usage_events_publish", counted)
    return sizes


def _calls(client, count: int) -> list[str]:
    """``count`` calls at once, half of them streamed; their request ids."""

    def one(index: int) -> str:
        messages = [{"role": "user", "content": f"question number {index} about batching"}]
        if index % 2:
            with client.chat.completions.with_streaming_response.create(
                model="gpt-4o-mini", messages=messages, stream=True
            ) as response:
                for _ in response.iter_lines():
                    pass
                return response.headers["x-request-id"]
        response = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
        return response.headers["x-request-id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_calls_answered_within_the_window_are_recorded_together_each_once(client, ledger, settings, batches):
    settings.TOKENWISE_RECORD_DELAY_S = 1.0
    request_ids = _calls(client, 6)
    ledger.drain()
    assert batches == [6]
    events = UsageEvent.objects.filter(request_id__in=request_ids)
    assert events.count() == 6
    for event in events:
        assert event.status == 200 and event.total_tokens > 0
        assert len(event.prompt_hash) == 64 and event.prompt_simhash != 0 and event.output_simhash != 0
    assert len({event.prompt_hash for event in events}) == 6


def test_a_full_batch_is_recorded_without_waiting_for_the_window(client, ledger, settings, batches, monkeypatch):
    settings.TOKENWISE_RECORD_DELAY_S = 60.0
    monkeypatch.setattr(recorder, "RECORD_BATCH_MAX", 4)
    started = time.monotonic()
    request_ids = _calls(client, 4)
    calls_recorded_wait(timeout_s=10)
    assert time.monotonic() - started < 10
    ledger.drain()
    assert batches == [4]
    assert UsageEvent.objects.filter(request_id__in=request_ids).count() == 4


def _event() -> UsageEventData:
    return UsageEventData(
        request_id=new_request_id(),
        created_at=utc_now(),
        endpoint="chat.completions",
        status=200,
        model_requested="gpt-4o-mini",
    )


@pytest.mark.django_db(transaction=True)
def test_events_the_stream_refuses_are_written_directly_once(redis_clean, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (the ledger stream); embedded mode writes every event directly")
    redis_clean.set(settings.TOKENWISE_LEDGER_STREAM, "not a stream")  # every XADD fails: WRONGTYPE
    batch = [_event() for _ in range(3)]
    async_to_sync(usage_events.usage_events_publish)(batch)
    assert redis_clean.type(settings.TOKENWISE_LEDGER_STREAM) == b"string"
    stored = UsageEvent.objects.filter(request_id__in=[event.request_id for event in batch])
    assert stored.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_goes_to_the_stream_in_order_not_to_the_database(redis_clean, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (the ledger stream)")
    batch = [_event() for _ in range(5)]
    async_to_sync(usage_events.usage_events_publish)(batch)
    entries = redis_clean.xrange(settings.TOKENWISE_LEDGER_STREAM)
    assert [UsageEventData.from_json(fields[b"e"]).request_id for _, fields in entries] == [
        event.request_id for event in batch
    ]
    assert not UsageEvent.objects.filter(request_id__in=[event.request_id for event in batch]).exists()
