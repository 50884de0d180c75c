"""Test settings: the real settings plus speed knobs only.

Tests read DATABASE_URL and REDIS_URL like production does; ``.ci/run`` points them at the real
PostgreSQL and Redis.
"""

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TOKENWISE_KEY_CACHE_TTL_S = 0.0
