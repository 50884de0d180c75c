"""Django's Redis cache backend on Tokenwise's own Redis clients (``core.redis``).

Django's ``RedisCache`` opens its own connection pools to the servers in ``LOCATION`` and so speaks only
to a standalone Redis; this one asks ``core.redis.get_sync_redis`` for its client, so the cache lives
wherever the counters do - one server, a Redis Cluster or the primary that Sentinel names.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache, RedisCacheClient

from core.redis import get_sync_redis


class _Client(RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        return get_sync_redis()

    def get_many(self, keys):
        # A Cluster cannot MGET keys of different slots in one command; split per slot there.
        client = self.get_client(None)
        values = client.mget_nonatomic(keys) if hasattr(client, "mget_nonatomic") else client.mget(keys)
        return {
            key: self._serializer.loads(value) for key, value in zip(keys, values, strict=False) if value is not None
        }


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _Client
