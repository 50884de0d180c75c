"""Fixtures for admission tests: both counter backends, a movable clock, a principal, eager alert tasks."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync

from core import clock as enforcement_clock
from core.redis import get_sync_redis
from governance.enforcement.counters import local_counters
from governance.enforcement.effective import policy_cache_clear
from governance.models import Membership, Policy
from governance.services.keys import KeyPrincipal
from governance.services.policies import policy_set
from tests.factories import UserFactory


@dataclasses.dataclass
class Clock:
    t: float

    def __call__(self) -> float:
        return self.t

    def set(self, text: str, tz: str = "UTC") -> None:
        """Move to a local wall time, e.g. ``clock.set("2025-03-09 23:59:30", "Asia/Tokyo")``."""
        self.t = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()

    def move(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock():
    moving = Clock(t=datetime(2025, 3, 12, 10, 0, tzinfo=ZoneInfo("UTC")).timestamp())
    enforcement_clock.clock_set(moving)
    yield moving
    enforcement_clock.clock_set(None)


class Counters:
    """Reads the counters of either backend the same way."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _state(self, key: str) -> dict[str, float] | None:
        if self.name == "redis":
            values = get_sync_redis().hgetall(key)
            return {k.decode(): float(v) for k, v in values.items()} if values else None
        return local_counters.budgets.get(key)

    def budget(self, key: str) -> dict[str, int]:
        """``{"u": settled, "r": held}``, or ``{}`` when the counter does not exist."""
        state = self._state(key)
        return {} if state is None else {"u": int(state.get("u", 0)), "r": int(state.get("r", 0))}

    def alert_level(self, key: str) -> int:
        state = self._state(key) or {}
        return int(state.get("a", 0))

    def set_used(self, key: str, used: int) -> None:
        """Make a counter drift (what a lost settlement does)."""
        if self.name == "redis":
            get_sync_redis().hset(key, "u", used)
        else:
            local_counters.budgets[key]["u"] = used

    def reservations(self) -> int:
        if self.name == "redis":
            client = get_sync_redis()
            return sum(client.hlen(key) for key in client.scan_iter(match="tw:{t*}:resv"))
        return len(local_counters.reservations)


def _prices() -> None:
    from governance.models import Price
    from governance.services.pricing import DEFAULT_PRICES, price_snapshot_invalidate

    if not Price.objects.exists():
        valid_from = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))
        Price.objects.bulk_create(
            Price(model=model, input_per_mtok=i, cached_input_per_mtok=c, output_per_mtok=o, valid_from=valid_from)
            for model, i, c, o in DEFAULT_PRICES
        )
    price_snapshot_invalidate()


@pytest.fixture(params=["redis", "local"])
def counters(request, settings, db):
    """Each test runs against the shared Redis counters and against the in-process (embedded) ones."""
    policy_cache_clear()
    _prices()
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("the Redis backend needs REDIS_URL (embedded run: in-process counters only)")
        get_sync_redis().flushdb()
        yield Counters("redis")
        get_sync_redis().flushdb()
    else:
        settings.REDIS_URL = ""
        local_counters.reset()
        yield Counters("local")
        local_counters.reset()
    policy_cache_clear()


async def _result(awaitable):
    return await awaitable


@pytest.fixture
def run():
    """Await a coroutine from the test; the database work it hands to a thread runs on the test's connection."""

    def run_(awaitable):
        return async_to_sync(_result)(awaitable)

    return run_


@pytest.fixture
def eager_tasks():
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def principal_of(user, team) -> KeyPrincipal:
    return KeyPrincipal(
        key_id=1,
        key_hash="0" * 64,
        user_id=user.pk,
        team_id=team.pk,
        user_email=user.email,
        team_slug=team.slug,
        is_service=False,
        expires_at=None,
        revoked=False,
    )


@pytest.fixture
def alice(employee, team):
    return principal_of(employee, team)


@pytest.fixture
def bob(team):
    user = UserFactory(email="bob@example.com")
    Membership.objects.create(user=user, team=team)
    return principal_of(user, team)


@pytest.fixture
def team_policy(team):
    def set_policy(**values) -> Policy:
        return policy_set(scope="team", team=team, values=values)

    return set_policy


@pytest.fixture
def person_policy(team, employee):
    def set_policy(**values) -> Policy:
        return policy_set(scope="user", team=team, user=employee, values=values)

    return set_policy
