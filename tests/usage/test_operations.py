"""Operations: health and readiness, Prometheus metrics, JSON logs, the ledger spool, data retention."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import openai
import pytest
from django.test import Client

from core.log_context import RequestIdFilter, current_request_id
from core.redis import get_sync_redis
from tests.conftest import calls_recorded_wait
from tests.faults.harness import free_port
from usage.ledger.events import usage_events_publish
from usage.ledger.ingest import usage_events_ingest
from usage.ledger.retention import retention_cutoff, usage_events_prune
from usage.ledger.rollups import usage_rollups_rebuild
from usage.ledger.spool import usage_spool_append, usage_spool_backlog, usage_spool_drain
from usage.models import DailyRollup, UsageEvent

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unreachable_redis(settings, monkeypatch):
    """REDIS_URL pointing at a port nobody listens on (connection refused at once).

    The rollup queue remembers a Redis failure for a few seconds; that memory is put back afterwards,
    so the next test finds Redis as it was.
    """
    from usage.ledger import rollups

    monkeypatch.setattr(rollups, "_queue_down_until", rollups._queue_down_until)
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    get_sync_redis.cache_clear()
    yield
    get_sync_redis.cache_clear()


@pytest.fixture
def spool(settings, tmp_path):
    settings.TOKENWISE_LEDGER_SPOOL_DIR = str(tmp_path / "spool")
    return tmp_path / "spool"


# --- /healthz and /readyz -------------------------------------------------------------------------


def test_healthz_answers_without_touching_anything(unreachable_redis):
    response = Client().get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_ok_with_database_and_redis_and_no_backlog(db, ledger_stream, redis_required, spool):
    response = Client().get("/readyz")

    body = response.json()
    assert (response.status_code, body["status"]) == (200, "ok")
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"] == {"ok": True, "stream_length": 0, "pending": 0}
    assert body["checks"]["ledger_backlog"]["events"] == 0


def test_readyz_without_redis_is_degraded_when_failing_open(db, unreachable_redis, settings, spool):
    settings.TOKENWISE_REDIS_FAILURE_MODE = "open"

    response = Client().get("/readyz")

    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    assert response.json()["checks"]["redis"]["ok"] is False


def test_readyz_without_redis_is_unavailable_when_failing_closed(db, unreachable_redis, settings, spool):
    settings.TOKENWISE_REDIS_FAILURE_MODE = "closed"

    response = Client().get("/readyz")

    assert (response.status_code, response.json()["status"]) == (503, "unavailable")


def test_readyz_is_unavailable_when_the_backlog_passes_its_threshold(
    db, ledger_stream, redis_required, settings, spool, make_event
):
    settings.TOKENWISE_READYZ_MAX_BACKLOG = 2
    for index in range(3):
        ledger_stream.xadd(settings.TOKENWISE_LEDGER_STREAM, {"e": make_event(request_id=f"req_b{index}").to_json()})

    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["ledger_backlog"] == {
        "ok": False,
        "events": 3,
        "spooled": 0,
        "pending": 0,
        "limit": 2,
    }


# --- /metrics -------------------------------------------------------------------------------------


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_calls_tokens_and_rejections(live_proxy, employee_key, spool):
    client = openai.OpenAI(base_url=f"{live_proxy.url}/v1", api_key=employee_key[1], max_retries=0)
    calls_recorded_wait()  # nothing an earlier test left unrecorded is counted during this one
    before = httpx.get(f"{live_proxy.url}/metrics").text

    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}], max_tokens=5
    )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{live_proxy.url}/v1", api_key="tw-nope", max_retries=0).models.list()
    httpx.post(
        f"{live_proxy.url}/v1/chat/completions", content=b"{", headers={"authorization": f"Bearer {employee_key[1]}"}
    )
    # Calls are counted when recorded, just after their response (usage/ledger/recorder.py): wait for that.
    calls_recorded_wait()
    after = httpx.get(f"{live_proxy.url}/metrics").text

    def delta(name: str) -> float:
        return _sample(after, name) - _sample(before, name)

    assert delta('tokenwise_proxy_requests_total{endpoint="chat.completions",status="200"}') == 1
    assert delta('tokenwise_proxy_tokens_total{endpoint="chat.completions",kind="completion"}') == 5
    assert delta('tokenwise_proxy_latency_seconds_count{endpoint="chat.completions"}') == 2
    assert delta('tokenwise_proxy_rejections_total{reason="invalid_json"}') == 1
    assert delta('tokenwise_proxy_rejections_total{reason="invalid_api_key"}') == 1
    assert delta('tokenwise_proxy_auth_failures_total{code="invalid_api_key"}') == 1
    assert delta('tokenwise_ledger_published_total{path="stream"}') == 2  # an unknown key's call is not recorded
    assert 'tokenwise_ledger_backlog_events{where="stream"}' in after
    assert 'tokenwise_dependency_up{dependency="redis"} 1.0' in after


def test_metrics_require_the_token_when_one_is_set(db, settings):
    settings.TOKENWISE_METRICS_TOKEN = "s3cret"

    refused = Client().get("/metrics")
    allowed = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")

    assert (refused.status_code, allowed.status_code) == (401, 200)


def test_metrics_add_up_over_worker_processes(db, settings, tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, /metrics sums what every worker process counted."""
    folder = tmp_path / "prom"
    folder.mkdir()
    script = (
        "from core.metrics import REQUESTS; "
        "REQUESTS.labels('chat.completions', '200').inc(); REQUESTS.labels('chat.completions', '200').inc()"
    )
    for _ in range(2):  # two "workers", each its own process
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO_ROOT,
            check=True,
            env={"PROMETHEUS_MULTIPROC_DIR": str(folder), "PATH": "/usr/bin:/bin"},
        )
    settings.PROMETHEUS_MULTIPROC_DIR = str(folder)

    text = Client().get("/metrics").content.decode()

    assert _sample(text, 'tokenwise_proxy_requests_total{endpoint="chat.completions",status="200"}') == 4


# --- Structured logs ------------------------------------------------------------------------------


def test_json_log_lines_carry_the_request_id(settings):
    from pythonjsonlogger.json import JsonFormatter

    options = dict(settings.LOGGING["formatters"]["json"])
    options.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(**options))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tokenwise.test.json")
    logger.addHandler(handler)
    token = current_request_id.set("req_abc123")

    try:
        logger.warning("upstream %s failed", "primary")
    finally:
        current_request_id.reset(token)
        logger.removeHandler(handler)

    line = json.loads(stream.getvalue())
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == (
        "WARNING",
        "tokenwise.test.json",
        "upstream primary failed",
        "req_abc123",
    )


# --- The spool (both stores down) -----------------------------------------------------------------


def test_spooled_events_are_reingested_once(transactional_db, spool, make_event):
    events = [make_event() for _ in range(3)]
    usage_spool_append(events=events[:2])  # a batch
    usage_spool_append(events=events[2:])  # and a later one
    usage_events_ingest(events=[events[0]])  # one reached the database too before its connection broke

    backlog = usage_spool_backlog()
    inserted = usage_spool_drain()

    assert (backlog, inserted, usage_spool_drain(), usage_spool_backlog()) == (3, 2, 0, 0)
    assert sorted(UsageEvent.objects.values_list("request_id", flat=True)) == sorted(e.request_id for e in events)
    assert list(spool.iterdir()) == []


def test_a_torn_spool_line_is_kept_aside_not_dropped(transactional_db, spool, make_event):
    usage_spool_append(events=[make_event(request_id="req_whole")])
    path = next(spool.iterdir())
    with path.open("ab") as handle:
        handle.write(b'{"request_id": "req_to')  # a crash mid-write

    inserted = usage_spool_drain()

    assert inserted == 1
    assert [p.name.endswith(".bad") for p in spool.iterdir()] == [True]
    assert next(spool.iterdir()).read_bytes() == b'{"request_id": "req_to'


def test_publish_writes_straight_to_the_database_when_redis_is_down(
    transactional_db, unreachable_redis, spool, make_event
):
    from asgiref.sync import async_to_sync

    event = make_event(request_id="req_direct")

    async_to_sync(usage_events_publish)([event])

    assert UsageEvent.objects.filter(request_id="req_direct").count() == 1
    assert usage_spool_backlog() == 0


# --- Retention ------------------------------------------------------------------------------------

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def test_prune_deletes_raw_events_past_retention_and_keeps_rollups(transactional_db, settings, make_event):
    settings.TIME_ZONE = "UTC"
    from usage.ledger.partitions import usage_partitions_ensure

    usage_partitions_ensure(since=date(2025, 1, 1), today=NOW.date(), months_ahead=0)
    ages_days = [200, 120, 31, 30, 29, 0]
    usage_events_ingest(
        events=[make_event(request_id=f"req_age{age}", created_at=NOW - timedelta(days=age)) for age in ages_days]
    )
    usage_rollups_rebuild()
    rollups_before = DailyRollup.objects.count()

    deleted = usage_events_prune(days=30, now=NOW)

    assert retention_cutoff(days=30, now=NOW) == datetime(2025, 5, 16, tzinfo=UTC)
    assert deleted == 3
    assert sorted(UsageEvent.objects.values_list("request_id", flat=True)) == ["req_age0", "req_age29", "req_age30"]
    assert DailyRollup.objects.count() == rollups_before == 6
    assert usage_events_prune(days=30, now=NOW) == 0


def test_prune_with_zero_days_keeps_everything(transactional_db, make_event):
    usage_events_ingest(events=[make_event(created_at=NOW - timedelta(days=900))])

    assert usage_events_prune(days=0, now=NOW) == 0
    assert UsageEvent.objects.count() == 1


# --- Poison-proof events --------------------------------------------------------------------------


def test_nul_characters_from_the_caller_never_block_the_ledger(live_proxy, employee_key, ledger):
    body = (
        b'{"model": "gpt-4o-mini\\u0000x", "messages": [{"role": "user", "content": "hi"}], '
        b'"metadata": {"purpose": "re\\u0000port"}}'
    )

    response = httpx.post(
        f"{live_proxy.url}/v1/chat/completions",
        content=body,
        headers={"authorization": f"Bearer {employee_key[1]}", "content-type": "application/json"},
    )
    ledger.drain()

    event = UsageEvent.objects.get(request_id=response.headers["x-request-id"])
    assert (event.model_requested, event.purpose) == ("gpt-4o-mini\ufffdx", "re\ufffdport")


@pytest.mark.parametrize("max_tokens", [2**31, 10**30, -1])
def test_out_of_range_max_tokens_is_a_clean_400_and_recorded(live_proxy, employee_key, ledger, upstream, max_tokens):
    response = httpx.post(
        f"{live_proxy.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {employee_key[1]}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens},
    )
    ledger.drain()

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_value")
    assert upstream.requests == []
    event = UsageEvent.objects.get(request_id=response.headers["x-request-id"])
    assert (event.status, event.error_code, event.max_tokens) == (400, "invalid_value", None)


def test_numbers_too_large_for_the_ledger_are_clamped_not_refused(
    transactional_db, unreachable_redis, spool, make_event
):
    from asgiref.sync import async_to_sync

    event = make_event(request_id="req_huge", completion_tokens=2**40, total_tokens=2**40 + 5)

    async_to_sync(usage_events_publish)([event])

    stored = UsageEvent.objects.get(request_id="req_huge")
    assert (stored.completion_tokens, stored.total_tokens) == (2**31 - 1, 2**31 - 1)


def test_a_worker_moves_what_it_loaded_at_start_out_of_the_garbage_collectors_sight():
    # A worker imports config.asgi (Django, every app, URLconf and view) once; frozen, those objects
    # are not scanned again by each full collection, which otherwise stalled a call for 50-70 ms.
    script = "import gc; import config.asgi; print(gc.get_freeze_count())"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": "", "REDIS_URL": ""}

    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, check=True, env=env, capture_output=True, text=True
    ).stdout

    assert int(out.split()[-1]) > 50_000  # Django alone is well over that many objects
