"""Tokenwise settings.

Every value comes from the environment (see README's configuration table). With nothing set, Tokenwise
runs in its embedded quick-start mode: SQLite, in-process caches and counters, eager Celery tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
PRODUCTION = env_bool("TOKENWISE_PRODUCTION", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise RuntimeError("SECRET_KEY must be set when TOKENWISE_PRODUCTION is on")
    # Local quick start only: a fixed key is fine on a laptop, never in production.
    SECRET_KEY = "tokenwise-insecure-local-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "governance",
    "usage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data stores -----------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several uvicorn tasks write at once in the quick start; wait for the lock instead of failing.
    # WAL lets the pages read while the ledger writes.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not REDIS_URL
# The Redis topology (core/redis.py, docs/scaling.md): "standalone" (REDIS_URL names the server),
# "cluster" (REDIS_URL names any node of a Redis Cluster) or "sentinel" (the primary that the sentinels
# report for TOKENWISE_REDIS_SENTINEL_MASTER; REDIS_URL gives the database, credentials and TLS).
TOKENWISE_REDIS_MODE = env_str("TOKENWISE_REDIS_MODE", "standalone").strip().lower()
if TOKENWISE_REDIS_MODE not in ("standalone", "cluster", "sentinel"):
    raise RuntimeError(f"TOKENWISE_REDIS_MODE must be standalone, cluster or sentinel, got {TOKENWISE_REDIS_MODE!r}")
TOKENWISE_REDIS_SENTINELS = env_list("TOKENWISE_REDIS_SENTINELS", [])
# Cluster mode: more seed nodes (host:port,...) besides the one REDIS_URL names, so a process that starts
# (or rebuilds its client) while that node is down still finds the cluster.
TOKENWISE_REDIS_CLUSTER_NODES = env_list("TOKENWISE_REDIS_CLUSTER_NODES", [])
TOKENWISE_REDIS_SENTINEL_MASTER = env_str("TOKENWISE_REDIS_SENTINEL_MASTER", "mymaster")
if TOKENWISE_REDIS_MODE == "sentinel" and REDIS_URL and not TOKENWISE_REDIS_SENTINELS:
    raise RuntimeError("TOKENWISE_REDIS_MODE=sentinel needs TOKENWISE_REDIS_SENTINELS=host:port,...")

if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache on Tokenwise's own clients (core/redis.py): any topology.
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tw",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ----------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {
    "usage-events-flush": {"task": "usage.tasks.usage_events_flush_task", "schedule": 1.0},
    "usage-rollups-refresh": {"task": "usage.tasks.usage_rollups_refresh_task", "schedule": 30.0},
}

# --- Auth, i18n, static ----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TOKENWISE_TIME_ZONE", "UTC")  # the organisation's time zone: budget periods follow it
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tokenwise@localhost")
TOKENWISE_BASE_URL = env_str("TOKENWISE_BASE_URL", "http://127.0.0.1:8000")

# --- REST API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tokenwise API",
    "DESCRIPTION": "Token-usage governance: teams, keys, policies, usage, reports, outcomes and flags.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- The proxy -------------------------------------------------------------------------------------
# The default upstream is configured the way the openai package is configured.
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
# The default upstream of /v1/messages, configured the way the anthropic package is configured.
ANTHROPIC_BASE_URL = env_str("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY")
TOKENWISE_MAX_BODY_BYTES = env_int("TOKENWISE_MAX_BODY_BYTES", 8 * 1024 * 1024)
# JSON bodies (/v1 and /api) nested deeper than this (arrays and objects) are refused with 400. Deep tool
# and response-format schemas stay far below it; Python's parser itself fails near 1,000 levels.
TOKENWISE_MAX_JSON_DEPTH = env_int("TOKENWISE_MAX_JSON_DEPTH", 128)
DATA_UPLOAD_MAX_MEMORY_SIZE = TOKENWISE_MAX_BODY_BYTES
TOKENWISE_UPSTREAM_CONNECT_TIMEOUT_S = env_float("TOKENWISE_UPSTREAM_CONNECT_TIMEOUT_S", 5.0)
TOKENWISE_UPSTREAM_READ_TIMEOUT_S = env_float("TOKENWISE_UPSTREAM_READ_TIMEOUT_S", 300.0)
TOKENWISE_KEY_CACHE_TTL_S = env_float("TOKENWISE_KEY_CACHE_TTL_S", 5.0)
# Failed /v1 authentications (no key, unknown key) per client address per minute before that address
# gets 429 for the rest of the minute (usage/proxy/auth_throttle.py).
TOKENWISE_AUTH_FAILURES_PER_MINUTE = env_int("TOKENWISE_AUTH_FAILURES_PER_MINUTE", 20)
TOKENWISE_LEDGER_STREAM = env_str("TOKENWISE_LEDGER_STREAM", "tokenwise:events")
TOKENWISE_LEDGER_BATCH_SIZE = env_int("TOKENWISE_LEDGER_BATCH_SIZE", 2000)
# Mount the built-in demo upstream (synthetic answers) at /demo-upstream/v1 for trying Tokenwise.
TOKENWISE_DEMO_UPSTREAM = env_bool("TOKENWISE_DEMO_UPSTREAM", EMBEDDED)
# Encrypts provider secrets stored in the database; derived from SECRET_KEY when unset.
TOKENWISE_SECRETS_KEY = env_str("TOKENWISE_SECRETS_KEY")

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every upstream URL at INFO; keep request details out of the logs.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
    },
}

# --- Web pages: sign-in, single sign-on, weekly digest ----------------------------------------------
# After this many failed sign-ins for one username from one address, that pair is locked out for
# TOKENWISE_LOGIN_LOCKOUT_S seconds (HTTP 429).
TOKENWISE_LOGIN_MAX_FAILURES = env_int("TOKENWISE_LOGIN_MAX_FAILURES", 5)
TOKENWISE_LOGIN_LOCKOUT_S = env_int("TOKENWISE_LOGIN_LOCKOUT_S", 900)
# Optional OpenID Connect single sign-on (mozilla-django-oidc): on when a client id is set.
TOKENWISE_OIDC_ENABLED = bool(env_str("TOKENWISE_OIDC_CLIENT_ID"))
if TOKENWISE_OIDC_ENABLED:
    INSTALLED_APPS += ["mozilla_django_oidc"]
    AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "governance.oidc.TokenwiseOIDCBackend",
    ]
    OIDC_RP_CLIENT_ID = env_str("TOKENWISE_OIDC_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env_str("TOKENWISE_OIDC_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("TOKENWISE_OIDC_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env_str("TOKENWISE_OIDC_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env_str("TOKENWISE_OIDC_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env_str("TOKENWISE_OIDC_JWKS_ENDPOINT")
    OIDC_RP_SIGN_ALGO = env_str("TOKENWISE_OIDC_SIGN_ALGO", "RS256")
    OIDC_RP_SCOPES = env_str("TOKENWISE_OIDC_SCOPES", "openid email profile")
    OIDC_CREATE_USER = env_bool("TOKENWISE_OIDC_CREATE_USERS", True)
    TOKENWISE_OIDC_LABEL = env_str("TOKENWISE_OIDC_LABEL", "Sign in with single sign-on")
# The weekly digest to managers goes out on this day and hour (organisation time zone is not used by
# Celery beat: CELERY_TIMEZONE applies).
TOKENWISE_DIGEST_DAY_OF_WEEK = env_str("TOKENWISE_DIGEST_DAY_OF_WEEK", "mon")
TOKENWISE_DIGEST_HOUR = env_int("TOKENWISE_DIGEST_HOUR", 7)
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE["governance-weekly-digest"] = {
    "task": "governance.tasks.weekly_digest_send_task",
    "schedule": crontab(day_of_week=TOKENWISE_DIGEST_DAY_OF_WEEK, hour=TOKENWISE_DIGEST_HOUR, minute=0),
}

# --- REST API (/api/) and security hardening --------------------------------------------------------
INSTALLED_APPS += ["drf_spectacular_sidecar"]  # Swagger UI served from our own static files, no CDN
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "config.middleware.ContentSecurityPolicyMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("config.middleware.ContentSecurityPolicyMiddleware") + 1, "config.middleware.ApiEdgeMiddleware"
)
REST_FRAMEWORK.update(
    {
        # API tokens (Bearer twa-...) first, so a missing credential answers 401 with WWW-Authenticate.
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "governance.apis.auth.ApiTokenAuthentication",
            "rest_framework.authentication.SessionAuthentication",  # enforces CSRF for the browser
        ],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["governance.apis.parsers.DepthLimitedJSONParser"],
        "EXCEPTION_HANDLER": "governance.apis.errors.api_exception_handler",
        "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    }
)
SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "COMPONENT_SPLIT_REQUEST": True,  # write-only fields (provider secrets) only in request schemas
        "SCHEMA_PATH_PREFIX": "/api/",
        "SERVE_AUTHENTICATION": [],  # the schema and docs are public and the same for everyone
    }
)
TOKENWISE_API_MAX_BODY_BYTES = env_int("TOKENWISE_API_MAX_BODY_BYTES", 1024 * 1024)
# Failed API-token attempts per client address per minute before that address gets 429 for the minute.
TOKENWISE_API_AUTH_FAILURES_PER_MINUTE = env_int("TOKENWISE_API_AUTH_FAILURES_PER_MINUTE", 20)
# Content Security Policy for every response (empty: none). Pages load scripts and styles from
# /static/ only; inline styles are allowed for chart libraries.
TOKENWISE_CSP = env_str(
    "TOKENWISE_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)

if PRODUCTION:
    DEBUG = False  # never on in production, whatever DEBUG says
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SECURE_SSL_REDIRECT = env_bool("TOKENWISE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = env_list("TOKENWISE_SSL_REDIRECT_EXEMPT", [])  # regexes, e.g. ^healthz$
    SECURE_HSTS_SECONDS = env_int("TOKENWISE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("TOKENWISE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("TOKENWISE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
    if env_bool("TOKENWISE_TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Reliability and operations (docs/operations.md) -------------------------------------------------
# When Redis (counters, reservations) is unreachable, admission either lets calls through under a local
# in-process limiter ("open", the default: LLM access stays up, budgets are enforced per process only)
# or refuses them with 503 ("closed": no call without the shared counters).
TOKENWISE_REDIS_FAILURE_MODE = env_str("TOKENWISE_REDIS_FAILURE_MODE", "open").strip().lower()
if TOKENWISE_REDIS_FAILURE_MODE not in ("open", "closed"):
    raise RuntimeError(f"TOKENWISE_REDIS_FAILURE_MODE must be 'open' or 'closed', got {TOKENWISE_REDIS_FAILURE_MODE!r}")
# Usage events that neither Redis nor the database accepted are appended here (local disk) and
# re-ingested by the next ledger drain on this host.
TOKENWISE_LEDGER_SPOOL_DIR = env_str("TOKENWISE_LEDGER_SPOOL_DIR", str(BASE_DIR / "var" / "ledger-spool"))
# A ledger stream entry pending this long with a consumer (a worker that died mid-batch) is taken over.
TOKENWISE_LEDGER_CLAIM_IDLE_MS = env_int("TOKENWISE_LEDGER_CLAIM_IDLE_MS", 60_000)
# /readyz answers 503 when more usage events than this wait in the stream and spool.
TOKENWISE_READYZ_MAX_BACKLOG = env_int("TOKENWISE_READYZ_MAX_BACKLOG", 100_000)
# /metrics requires "Authorization: Bearer <token>" when set.
TOKENWISE_METRICS_TOKEN = env_str("TOKENWISE_METRICS_TOKEN")
# Raw usage events older than this many days are deleted daily (daily rollups are kept); 0 keeps all.
TOKENWISE_RETENTION_DAYS = env_int("TOKENWISE_RETENTION_DAYS", 400)
CELERY_BEAT_SCHEDULE["usage-events-prune"] = {
    "task": "usage.tasks.usage_events_prune_task",
    "schedule": crontab(hour=3, minute=17),
}
# PostgreSQL: the usage-event table is partitioned by month; create the coming months ahead of time.
CELERY_BEAT_SCHEDULE["usage-partitions-ensure"] = {
    "task": "usage.tasks.usage_partitions_ensure_task",
    "schedule": crontab(hour=2, minute=41),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast when PostgreSQL is unreachable, so the ledger falls back instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT_S", 3)
    )
    # PostgreSQL's JIT compiles any query it estimates as big, and compiling report and ledger
    # aggregates costs more than running them (docs/performance.md). Off unless asked.
    if not env_bool("DATABASE_JIT", False):
        DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")
# TOKENWISE_LOG_FORMAT=json: one JSON object per log line (python-json-logger), with the request id.
TOKENWISE_LOG_FORMAT = env_str("TOKENWISE_LOG_FORMAT", "plain").strip().lower()
LOGGING["filters"] = {"request_id": {"()": "core.log_context.RequestIdFilter"}}
LOGGING["handlers"]["console"]["filters"] = ["request_id"]
LOGGING["formatters"]["json"] = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
}
if TOKENWISE_LOG_FORMAT == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING too: one JSON object per line
# Set for several uvicorn workers (prometheus-client reads it too): an empty directory, wiped at start.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")

# --- Policy enforcement (governance/enforcement) --------------------------------------------------
# The effective policy is cached in each process this long (changes also propagate at once through a
# version in Redis that every admission reads).
TOKENWISE_POLICY_CACHE_TTL_S = env_float("TOKENWISE_POLICY_CACHE_TTL_S", 30.0)
# A reservation not settled within this time (its process died) is released by the next admission.
TOKENWISE_RESERVATION_TTL_S = env_float("TOKENWISE_RESERVATION_TTL_S", 900.0)
# The calls a proxy process answers within this window are recorded together (fingerprints, ledger
# events in one write), once the window ends: off the path of the calls that follow (usage/ledger/recorder.py).
TOKENWISE_RECORD_DELAY_S = env_float("TOKENWISE_RECORD_DELAY_S", 0.025)
# Worst case reserved per call (governance/enforcement/bounds.py): the request's bytes + media parts +
# this margin (the reply primer, a request-wide preamble), + the output bound of every choice.
TOKENWISE_RESERVE_PROMPT_MARGIN_TOKENS = env_int("TOKENWISE_RESERVE_PROMPT_MARGIN_TOKENS", 16)
# A model missing from the bounds' table: its maximum output per choice when nothing caps it (then sent
# upstream as max_tokens, so that it holds), its worst image part, and its context window (the bound of
# an audio or file part, and of a Responses call whose input the body does not hold).
TOKENWISE_DEFAULT_MAX_OUTPUT_TOKENS = env_int("TOKENWISE_DEFAULT_MAX_OUTPUT_TOKENS", 4096)
TOKENWISE_UNKNOWN_MODEL_IMAGE_TOKENS = env_int("TOKENWISE_UNKNOWN_MODEL_IMAGE_TOKENS", 4096)
TOKENWISE_UNKNOWN_MODEL_CONTEXT_TOKENS = env_int("TOKENWISE_UNKNOWN_MODEL_CONTEXT_TOKENS", 200_000)
# /v1/messages: a call whose max_tokens does not fit the budget left is sent with max_tokens lowered to
# what fits (the reservation stays a true upper bound), when at least this many output tokens fit;
# 0 turns fitting off (the call is refused, as on the OpenAI endpoints).
TOKENWISE_FIT_MIN_OUTPUT_TOKENS = env_int("TOKENWISE_FIT_MIN_OUTPUT_TOKENS", 1024)
# A request header naming the caller's agent session, read when the known ones are absent
# (X-Claude-Code-Session-Id, Codex CLI's session-id).
TOKENWISE_SESSION_HEADER = env_str("TOKENWISE_SESSION_HEADER")
# Reconcile repairs a budget counter from the ledger once it has had no settlement for this long.
TOKENWISE_RECONCILE_QUIET_S = env_float("TOKENWISE_RECONCILE_QUIET_S", 120.0)
# Budget alerts also go to this Slack-compatible webhook ({"text": ...}) when set.
TOKENWISE_ALERT_WEBHOOK_URL = env_str("TOKENWISE_ALERT_WEBHOOK_URL")
CELERY_BEAT_SCHEDULE["governance-counters-reconcile"] = {
    "task": "governance.tasks.counters_reconcile_task",
    "schedule": 300.0,
}

# --- Usage-chasing detection (governance/selectors/detection.py, governance/services/flags.py) -----
# Each run judges the trailing window of this many days; flags are de-duplicated across runs.
TOKENWISE_DETECTION_WINDOW_DAYS = env_int("TOKENWISE_DETECTION_WINDOW_DAYS", 30)
TOKENWISE_DETECTION_INTERVAL_S = env_int("TOKENWISE_DETECTION_INTERVAL_S", 3600)
CELERY_BEAT_SCHEDULE["governance-flags-detect"] = {
    "task": "governance.tasks.flags_detect_task",
    "schedule": float(TOKENWISE_DETECTION_INTERVAL_S),
}
