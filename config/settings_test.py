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

# Embedded-mode tests serve the proxy from a thread: an in-memory SQLite database (shared cache) fails
# concurrent writers at once ("table is locked") instead of waiting, so they use a file like production.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.mkdtemp(prefix="tokenwise-test-db-"), "test.sqlite3"),
    }
