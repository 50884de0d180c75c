"""The hot path's command path (``core.redis.execute`` / ``pipeline``) on a standalone Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.exceptions
from django.conf import settings

import core.redis

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)")


def test_replies_error_replies_and_pipelines(redis_clean):
    async def scenario():
        assert await core.redis.execute("SET", "tw:{lanes}:a", "1") == b"OK"
        with pytest.raises(redis.exceptions.NoScriptError):
            await core.redis.execute("EVALSHA", "0" * 40, 0)
        replies = await core.redis.pipeline(
            [("INCR", "tw:{lanes}:a"), ("HGET", "tw:{lanes}:a", "f"), ("GET", "tw:{lanes}:a")]
        )
        assert replies[0] == 2 and replies[2] == b"2"
        assert isinstance(replies[1], redis.exceptions.ResponseError)  # WRONGTYPE, in its place
        return await core.redis.execute("GET", "tw:{lanes}:a")

    assert asyncio.run(scenario()) == b"2"


def test_a_connection_the_server_closed_while_idle_is_reconnected_before_use(redis_clean):
    async def scenario():
        first = await core.redis.execute("CLIENT", "ID")
        killer = core.redis.get_sync_redis()
        assert killer is not None
        assert killer.execute_command("CLIENT", "KILL", "ID", first) == 1
        (idle,) = core.redis._lanes[asyncio.get_running_loop()]._idle
        assert await idle._reader.read() == b""  # the loop has seen the close
        return first, await core.redis.execute("CLIENT", "ID")

    first, second = asyncio.run(scenario())
    assert second != first
