"""Shared fixtures: personas, a live proxy on a loopback port, the fake upstream, the ledger."""

from __future__ import annotations

import socket
import sys
import threading
import time
from datetime import UTC

import pytest
import uvicorn
from django.conf import settings

from governance.models import Membership
from tests.factories import TeamFactory, UserFactory
from tests.fake_upstream import FakeUpstream


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def celery_worker_argv(*, queue: str, hostname: str) -> list[str]:
    """The command of one Celery worker process as the scale tests run it: solo pool, one queue, INFO logs."""
    return [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", queue,
        "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "INFO", "--hostname", hostname,
    ]  # fmt: skip


class LiveServer:
    """config.asgi served by uvicorn in a thread of the test process (so it sees the test database)."""

    def __init__(self) -> None:
        from config.asgi import application

        self.port = free_port()
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def calls_recorded_wait(timeout_s: float = 10.0) -> None:
    """Wait until the live server has recorded every call it answered: calls are settled and published
    just after their response is sent (usage/proxy/asgi.py), so a test can read the ledger a moment
    before the last call is in it."""
    from prometheus_client import REGISTRY

    def calls_in_flight() -> float:
        return REGISTRY.get_sample_value("tokenwise_proxy_calls_unrecorded") or 0

    deadline = time.monotonic() + timeout_s
    while calls_in_flight() > 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{calls_in_flight()} calls still unrecorded after {timeout_s} s")
        time.sleep(0.005)


@pytest.fixture(scope="session")
def fake_upstream():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(fake_upstream, settings):
    """The fake upstream as Tokenwise's default provider, with a clean request log."""
    fake_upstream.reset()
    settings.OPENAI_BASE_URL = fake_upstream.base_url
    settings.OPENAI_API_KEY = "sk-upstream-secret"
    settings.ANTHROPIC_BASE_URL = fake_upstream.base_url.removesuffix("/v1")  # it speaks Messages too
    settings.ANTHROPIC_API_KEY = "sk-ant-upstream-secret"
    return fake_upstream


@pytest.fixture
def redis_clean():
    """Empty the configured Redis database (the test's own) before and after the test."""
    from core.redis import get_sync_redis

    client = get_sync_redis()
    if client is not None:
        client.flushdb()
    yield client
    if client is not None:
        client.flushdb()


@pytest.fixture
def default_prices(transactional_db):
    """The default price table (a data migration's rows do not survive transactional tests' flushes)."""
    from datetime import datetime

    from governance.models import Price
    from governance.services.pricing import DEFAULT_CLAUDE_PRICES, DEFAULT_PRICES, price_snapshot_invalidate

    if not Price.objects.exists():
        valid_from = datetime(2024, 1, 1, tzinfo=UTC)
        Price.objects.bulk_create(
            Price(model=model, input_per_mtok=i, cached_input_per_mtok=c, output_per_mtok=o, valid_from=valid_from)
            for model, i, c, o in DEFAULT_PRICES
        )
        Price.objects.bulk_create(
            Price(
                model=model,
                input_per_mtok=i,
                cached_input_per_mtok=c,
                cache_write_per_mtok=w,
                output_per_mtok=o,
                valid_from=valid_from,
            )
            for model, i, c, w, o in DEFAULT_CLAUDE_PRICES
        )
    price_snapshot_invalidate()


@pytest.fixture
def live_proxy(transactional_db, default_prices, upstream, redis_clean):
    from usage.proxy.auth_throttle import auth_throttle_reset

    auth_throttle_reset()  # every test comes from 127.0.0.1: failures counted by earlier tests do not count
    with LiveServer() as server:
        yield server
    auth_throttle_reset()


@pytest.fixture
def ledger():
    """Drains the ledger the way the Celery worker does, so tests can read the events."""

    class Ledger:
        def drain(self) -> None:
            calls_recorded_wait()
            if settings.REDIS_URL:
                from django.core.management import call_command

                call_command("drain_ledger", verbosity=0)

    return Ledger()


# --- Personas --------------------------------------------------------------------------------------


@pytest.fixture
def team(db):
    return TeamFactory(slug="platform")


@pytest.fixture
def other_team(db):
    return TeamFactory(slug="research")


@pytest.fixture
def employee(team):
    user = UserFactory(email="alice@example.com")
    Membership.objects.create(user=user, team=team, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def manager(team):
    user = UserFactory(email="maria@example.com")
    Membership.objects.create(user=user, team=team, role=Membership.Role.MANAGER)
    return user


@pytest.fixture
def admin(db):
    return UserFactory(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(other_team):
    user = UserFactory(email="oscar@example.com")
    Membership.objects.create(user=user, team=other_team, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def employee_key(employee, team):
    from governance.services.keys import key_create

    key, secret = key_create(user=employee, team=team, name="laptop")
    return key, secret
