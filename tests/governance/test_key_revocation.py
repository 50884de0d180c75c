"""A revoked key is refused on every replica within TOKENWISE_KEY_CACHE_TTL_S of ``key_revoke`` returning,
in every interleaving of lookups with the revocation (governance/services/keys.py's module docstring).

A "replica" whose in-process cache is cold is this process with ``_local_cache`` cleared: it sees only
the shared cache (Redis) and the database.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings

from governance.exceptions import KeyRevoked
from governance.models import ApiKey
from governance.services import keys
from governance.services.keys import key_authenticate, key_create, key_hash, key_revoke

WAIT_S = 30  # a bound on waiting for a condition, never a pause


@pytest.fixture(autouse=True)
def cold_caches():
    keys._local_cache.clear()
    yield
    keys._local_cache.clear()
    gc.collect()  # the callers' threads are gone: close their database connections now


def _authenticate(secret: str):
    try:
        return async_to_sync(key_authenticate)(f"Bearer {secret}")
    except KeyRevoked as exc:
        return exc


def _on_a_fresh_replica(secret: str):
    saved = dict(keys._local_cache)
    keys._local_cache.clear()
    try:
        return _authenticate(secret)
    finally:
        keys._local_cache.clear()
        keys._local_cache.update(saved)


@pytest.fixture
def paused_database_read(monkeypatch):
    """The next database read of a key pauses right after reading until ``resume`` is set."""
    read, resume = threading.Event(), threading.Event()
    real = keys._principal_from_db

    def paused(hash_value):
        principal = real(hash_value)
        read.set()
        assert resume.wait(WAIT_S)
        return principal

    monkeypatch.setattr(keys, "_principal_from_db", paused)
    return read, resume


@pytest.mark.django_db(transaction=True)
def test_a_read_taken_before_the_revoke_is_not_cached_after_the_eviction(employee, team, paused_database_read):
    read, resume = paused_database_read
    key, secret = key_create(user=employee, team=team)
    results = []
    caller = threading.Thread(target=lambda: results.append(_authenticate(secret)))
    caller.start()
    assert read.wait(WAIT_S)  # the caller has read the key, not yet revoked

    key_revoke(key=key)
    resume.set()
    caller.join(WAIT_S)

    assert results[0].key_id == key.pk  # a call that began before the revocation may pass
    assert key_hash(secret) not in keys._local_cache
    assert isinstance(_authenticate(secret), KeyRevoked)  # this process
    assert isinstance(_on_a_fresh_replica(secret), KeyRevoked)  # every other one


@pytest.mark.django_db(transaction=True)
def test_the_shared_cache_keeps_no_answer_read_before_the_revoke(employee, team, paused_database_read):
    if not django_settings.REDIS_URL:
        pytest.skip("the shared cache is Redis")
    from core.redis import get_sync_redis

    read, resume = paused_database_read
    key, secret = key_create(user=employee, team=team)
    caller = threading.Thread(target=lambda: _authenticate(secret))
    caller.start()
    assert read.wait(WAIT_S)

    key_revoke(key=key)
    resume.set()
    caller.join(WAIT_S)

    assert get_sync_redis().get(keys._CACHE_KEY.format(key_hash(secret))) is None


@pytest.mark.django_db(transaction=True)
def test_an_answer_read_after_the_revoke_is_cached_again(employee, team):
    key, secret = key_create(user=employee, team=team)
    key_revoke(key=key)

    first = _authenticate(secret)

    assert isinstance(first, KeyRevoked)
    assert keys._local_cache[key_hash(secret)][1].revoked is True


def _burst_rounds(*, rounds: int, callers: int, secrets: list[str]) -> list[list]:
    """``callers`` threads, each with its own event loop (so no two share a lookup), call
    ``key_authenticate`` once per round after a barrier; returns each round's results."""
    start, done = threading.Barrier(callers + 1), threading.Barrier(callers + 1)
    results: list[list] = [[] for _ in range(rounds)]
    lock = threading.Lock()

    def caller():
        async def main():
            for index in range(rounds):
                start.wait(WAIT_S)
                try:
                    outcome = await key_authenticate(f"Bearer {secrets[index]}")
                except KeyRevoked as exc:
                    outcome = exc
                with lock:
                    results[index].append(outcome)
                done.wait(WAIT_S)

        asyncio.run(main())

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    return threads, start, done, results


@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_during_bursts_of_calls_is_refused_everywhere_within_the_ttl(employee, team, settings):
    settings.TOKENWISE_KEY_CACHE_TTL_S = 5.0
    rounds, callers = 50, 20
    created = [key_create(user=employee, team=team, name=f"burst-{i}") for i in range(rounds)]
    threads, start, done, results = _burst_rounds(
        rounds=rounds, callers=callers, secrets=[secret for _, secret in created]
    )
    violations = []

    for index, (key, secret) in enumerate(created):
        keys._local_cache.clear()
        start.wait(WAIT_S)
        key_revoke(key=key)
        revoked_at = time.monotonic()
        done.wait(WAIT_S)

        entry = keys._local_cache.get(key_hash(secret))
        if entry is not None and not entry[1].revoked and entry[0] > revoked_at + settings.TOKENWISE_KEY_CACHE_TTL_S:
            violations.append((index, "local entry outlives the bound"))
        if not isinstance(_on_a_fresh_replica(secret), KeyRevoked):
            violations.append((index, "accepted on another replica"))
    for thread in threads:
        thread.join(WAIT_S)

    assert violations == []
    assert sum(len(r) for r in results) == rounds * callers
    assert ApiKey.objects.filter(revoked_at__isnull=True, name__startswith="burst-").count() == 0
