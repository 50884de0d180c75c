"""Operations endpoints: ``/healthz`` (liveness), ``/readyz`` (readiness) and ``/metrics`` (Prometheus).

- ``/healthz`` answers 200 as long as the process serves requests; it touches nothing else, so a
  database or Redis outage never gets healthy processes restarted.
- ``/readyz`` checks the database, Redis and the ledger backlog (stream length + pending + local spool)
  and answers 200 ``{"status": "ok" | "degraded", "checks": {...}}`` while this replica can serve
  calls without putting usage at risk, else 503 ``{"status": "unavailable", ...}``: when neither Redis
  nor the database is reachable (events would only reach the local spool), when Redis is down and
  ``TOKENWISE_REDIS_FAILURE_MODE=closed`` (calls would be refused), or when the backlog is above
  ``TOKENWISE_READYZ_MAX_BACKLOG`` (workers are not keeping up).
- ``/metrics`` is the Prometheus text format of ``core.metrics`` plus the ledger backlog gauges,
  merged over worker processes when ``PROMETHEUS_MULTIPROC_DIR`` is set.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from core.redis import REDIS_ERRORS, get_async_redis, get_sync_redis
from usage.ledger.spool import usage_spool_backlog
from usage.ledger.stream import GROUP

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0


def _json(data: dict[str, Any], status: int = 200) -> HttpResponse:
    response = HttpResponse(json.dumps(data), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


async def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No dependency is checked."""
    return _json({"status": "ok"})


def _database_ping() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # a pool thread: never keep its connection around


async def _check(name: str, probe) -> dict[str, Any]:
    try:
        value = await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a timeout or any error means "not reachable"
        logger.warning("readiness: %s unreachable (%s)", name, type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, **(value or {})}


async def _stream_backlog() -> dict[str, int]:
    client = get_async_redis()
    assert client is not None  # checked only when REDIS_URL is set
    await client.ping()
    stream = settings.TOKENWISE_LEDGER_STREAM
    length = await client.xlen(stream)
    pending = 0
    if length:
        try:
            pending = (await client.xpending(stream, GROUP))["pending"]
        except redis.exceptions.ResponseError:
            pending = 0  # no consumer group yet
    return {"stream_length": length, "pending": pending}


async def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: database, Redis and ledger backlog, with the rules of the module docstring."""
    database = await _check("database", lambda: sync_to_async(_database_ping, thread_sensitive=False)())
    if settings.REDIS_URL:
        redis_check = await _check("redis", _stream_backlog)
    else:
        redis_check = {"ok": True, "embedded": True, "stream_length": 0, "pending": 0}
    spool = await sync_to_async(usage_spool_backlog, thread_sensitive=False)()
    backlog = redis_check.get("stream_length", 0) + spool
    limit = settings.TOKENWISE_READYZ_MAX_BACKLOG
    checks = {
        "database": database,
        "redis": redis_check,
        "ledger_backlog": {
            "ok": backlog <= limit,
            "events": backlog,
            "spooled": spool,
            "pending": redis_check.get("pending", 0),
            "limit": limit,
        },
        "redis_failure_mode": settings.TOKENWISE_REDIS_FAILURE_MODE,
    }
    ready = (
        (database["ok"] or redis_check["ok"])
        and (redis_check["ok"] or settings.TOKENWISE_REDIS_FAILURE_MODE == "open")
        and backlog <= limit
    )
    if not ready:
        return _json({"status": "unavailable", "checks": checks}, status=503)
    degraded = not (database["ok"] and redis_check["ok"]) or spool > 0
    return _json({"status": "degraded" if degraded else "ok", "checks": checks})


class _BacklogCollector:
    """Ledger backlog gauges, read when scraped (one XLEN + XPENDING, a spool directory scan)."""

    def collect(self):
        gauge = GaugeMetricFamily(
            "tokenwise_ledger_backlog_events",
            "Usage events not yet in the database, by where they wait.",
            labels=["where"],
        )
        client = get_sync_redis()
        if client is not None:
            stream = settings.TOKENWISE_LEDGER_STREAM
            try:
                length = client.xlen(stream)
                try:
                    pending = client.xpending(stream, GROUP)["pending"] if length else 0
                except redis.exceptions.ResponseError:
                    pending = 0
                gauge.add_metric(["stream"], length)
                gauge.add_metric(["pending"], pending)
            except REDIS_ERRORS:
                pass  # Redis down: the gauge is absent, tokenwise_dependency_up says why
            up = GaugeMetricFamily(
                "tokenwise_dependency_up", "Whether a dependency answered the scrape.", labels=["dependency"]
            )
            try:
                up.add_metric(["redis"], 1 if client.ping() else 0)
            except REDIS_ERRORS:
                up.add_metric(["redis"], 0)
            yield up
        gauge.add_metric(["spool"], usage_spool_backlog())
        yield gauge


def _authorized(request: HttpRequest) -> bool:
    token = settings.TOKENWISE_METRICS_TOKEN
    if not token:
        return True
    given = request.META.get("HTTP_AUTHORIZATION", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: this process's (or all workers') metrics plus the backlog gauges."""
    if not _authorized(request):
        return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    if settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        registry = REGISTRY
    backlog = CollectorRegistry()
    backlog.register(_BacklogCollector())
    return HttpResponse(generate_latest(registry) + generate_latest(backlog), content_type=CONTENT_TYPE_LATEST)
