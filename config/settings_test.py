"""Test settings: the real settings plus speed knobs only.

Tests read DATABASE_URL and REDIS_URL like production does; ``.ci/run`` points them at the real
PostgreSQL and Redis.
"""

import os
import tempfile

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TOKENWISE_KEY_CACHE_TTL_S = 0.0

# Each test run spools ledger events (double outages) into its own folder, never into another run's;
# proxy and worker subprocesses started by tests inherit it through the environment.
if "TOKENWISE_LEDGER_SPOOL_DIR" not in os.environ:
    os.environ["TOKENWISE_LEDGER_SPOOL_DIR"] = tempfile.mkdtemp(prefix="tokenwise-test-spool-")
TOKENWISE_LEDGER_SPOOL_DIR = os.environ["TOKENWISE_LEDGER_SPOOL_DIR"]
