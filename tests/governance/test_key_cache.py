"""The proxy's key cache: an expired entry is looked up once, however many calls wait for it."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError

from governance.exceptions import AuthenticationFailed
from governance.services import keys


@pytest.fixture
def counted_lookups(monkeypatch, settings):
    """Counts ``_principal_lookup`` calls; each takes 50 ms so concurrent calls overlap."""
    settings.TOKENWISE_KEY_CACHE_TTL_S = 60.0
    seen = {"calls": 0, "fail": False}
    real = keys._principal_lookup

    async def lookup(hash_value):
        seen["calls"] += 1
        await asyncio.sleep(0.05)
        if seen["fail"]:
            raise OperationalError("database unreachable")
        return await real(hash_value)

    monkeypatch.setattr(keys, "_principal_lookup", lookup)
    keys._local_cache.clear()
    yield seen
    keys._local_cache.clear()


def _burst(secret: str, n: int = 50) -> list:
    async def burst():
        return await asyncio.gather(
            *(keys.key_authenticate(f"Bearer {secret}") for _ in range(n)), return_exceptions=True
        )

    return async_to_sync(burst)()


@pytest.mark.django_db(transaction=True)
def test_fifty_calls_on_an_expired_entry_make_one_lookup(employee_key, counted_lookups):
    key, secret = employee_key

    principals = _burst(secret)

    assert counted_lookups["calls"] == 1
    assert {p.key_id for p in principals} == {key.pk}
    _burst(secret)  # now cached: no lookup at all
    assert counted_lookups["calls"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_lookup_fails_every_waiting_call_and_the_next_call_retries(employee_key, counted_lookups):
    key, secret = employee_key
    counted_lookups["fail"] = True

    results = _burst(secret)

    assert counted_lookups["calls"] == 1
    assert all(isinstance(r, OperationalError) for r in results)
    counted_lookups["fail"] = False
    assert _burst(secret, n=3)[0].key_id == key.pk
    assert counted_lookups["calls"] == 2


@pytest.mark.django_db(transaction=True)
def test_unknown_keys_are_refused_after_one_lookup(counted_lookups):
    results = _burst("tw-not-a-real-key-at-all")

    assert counted_lookups["calls"] == 1
    assert all(isinstance(r, AuthenticationFailed) for r in results)
