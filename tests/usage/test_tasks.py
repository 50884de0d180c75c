from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from governance.models import ApiKey
from tests.conftest import celery_worker_argv
from usage.ledger.events import usage_events_publish
from usage.ledger.stream import GROUP, usage_stream_drain
from usage.models import DailyRollup, UsageEvent
from usage.tasks import usage_events_flush_task, usage_rollups_refresh_task

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
BASE_DIR = Path(__file__).resolve().parents[2]


def xadd(client, *events) -> None:
    for event in events:
        client.xadd(settings.TOKENWISE_LEDGER_STREAM, {"e": event.to_json()})


def test_flush_drains_the_stream_idempotently(db, make_event, ledger_stream, redis_required):
    first, second = make_event(request_id="req_1"), make_event(request_id="req_2")
    xadd(ledger_stream, first, second, first)

    inserted = usage_events_flush_task()

    assert inserted == 2
    assert sorted(UsageEvent.objects.values_list("request_id", flat=True)) == ["req_1", "req_2"]
    assert ledger_stream.xlen(settings.TOKENWISE_LEDGER_STREAM) == 0
    assert ledger_stream.xpending(settings.TOKENWISE_LEDGER_STREAM, GROUP)["pending"] == 0


def test_drains_in_batches_until_empty(db, make_event, ledger_stream, redis_required):
    xadd(ledger_stream, *[make_event(request_id=f"req_{n}") for n in range(7)])

    result = usage_stream_drain(batch_size=3)

    assert (result.read, result.inserted, result.dead, result.exhausted) == (7, 7, 0, True)
    assert UsageEvent.objects.count() == 7


def test_reclaims_entries_left_pending_by_a_dead_consumer(db, make_event, ledger_stream, redis_required):
    stream = settings.TOKENWISE_LEDGER_STREAM
    xadd(ledger_stream, make_event(request_id="req_orphan"))
    ledger_stream.xgroup_create(stream, GROUP, id="0", mkstream=True)
    ledger_stream.xreadgroup(GROUP, "crashed-worker", {stream: ">"}, count=10)  # read, never acknowledged

    too_fresh = usage_stream_drain(claim_idle_ms=60_000)
    reclaimed = usage_stream_drain(claim_idle_ms=0)

    assert (too_fresh.read, too_fresh.inserted) == (0, 0)
    assert (reclaimed.read, reclaimed.inserted) == (1, 1)
    assert UsageEvent.objects.filter(request_id="req_orphan").count() == 1
    assert ledger_stream.xlen(stream) == 0


def test_moves_unreadable_entries_aside(db, make_event, ledger_stream, redis_required):
    stream = settings.TOKENWISE_LEDGER_STREAM
    ledger_stream.xadd(stream, {"e": "{not json"})
    ledger_stream.xadd(stream, {"other": "field"})
    xadd(ledger_stream, make_event(request_id="req_good"))

    result = usage_stream_drain()

    assert (result.read, result.inserted, result.dead) == (3, 1, 2)
    assert ledger_stream.xlen(stream) == 0
    dead = [fields for _, fields in ledger_stream.xrange(f"{stream}:dead")]
    assert [fields.get(b"e") for fields in dead] == [b"{not json", None]
    assert dead[1][b"other"] == b"field"


@pytest.mark.django_db(transaction=True)
def test_leaves_entries_pending_while_the_database_is_down(make_event, ledger_stream, redis_required):
    if connection.vendor != "postgresql":
        pytest.skip(
            "SKIPPED: simulates a database outage by pointing the connection at a closed port; "
            "the in-memory SQLite test database cannot be taken away - set DATABASE_URL to PostgreSQL"
        )
    stream = settings.TOKENWISE_LEDGER_STREAM
    xadd(ledger_stream, make_event(request_id="req_wait1"), make_event(request_id="req_wait2"))
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    try:
        flushed = usage_events_flush_task()
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)

    pending = ledger_stream.xpending(stream, GROUP)["pending"]
    recovered = usage_stream_drain(claim_idle_ms=0)

    assert (flushed, pending) == (0, 2)
    assert (recovered.read, recovered.inserted) == (2, 2)
    assert sorted(UsageEvent.objects.values_list("request_id", flat=True)) == ["req_wait1", "req_wait2"]
    assert ledger_stream.xlen(stream) == 0


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on exit: nothing listens there


def test_flush_is_a_no_op_without_redis(db, make_event, ledger_stream):
    if settings.REDIS_URL:
        pytest.skip("SKIPPED: embedded-mode behaviour; REDIS_URL is set (run with it unset to cover it)")

    assert usage_events_flush_task() == 0


def test_publish_without_redis_writes_straight_to_the_database(db, make_event, ledger_stream):
    if settings.REDIS_URL:
        pytest.skip("SKIPPED: embedded-mode behaviour; REDIS_URL is set (run with it unset to cover it)")
    event = make_event(request_id="req_direct")

    async_to_sync(usage_events_publish)([event])
    async_to_sync(usage_events_publish)([event])

    assert list(UsageEvent.objects.values_list("request_id", "total_tokens")) == [("req_direct", 1200)]


@pytest.mark.django_db(transaction=True)  # real commits: rollups are queued after them
def test_drain_ledger_command_empties_the_stream_and_refreshes_rollups(
    team,
    make_event,
    ledger_stream,
    redis_required,
    capsys,
):
    xadd(ledger_stream, make_event(request_id="req_c1", team_id=team.pk), make_event(request_id="req_c2"))

    call_command("drain_ledger")

    assert capsys.readouterr().out == (
        "read 2 entries, inserted 2 new events, 0 unreadable (dead-lettered), 0 new events from the local spool, "
        "refreshed 2 rollup slices; 0 entries left (0 pending with other consumers)\n"
    )
    assert UsageEvent.objects.count() == 2
    assert DailyRollup.objects.count() == 2


def test_rollups_refresh_task_recomputes_queued_slices(
    db, team, make_event, ledger_stream, redis_required, django_capture_on_commit_callbacks
):
    xadd(ledger_stream, make_event(team_id=team.pk))
    with django_capture_on_commit_callbacks(execute=True):
        usage_stream_drain()

    refreshed = usage_rollups_refresh_task()

    assert refreshed == 1
    assert list(DailyRollup.objects.values_list("team_id", "requests", "total_tokens")) == [(team.pk, 1, 1200)]


# --- A real Celery worker ------------------------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_drains_published_events_into_the_database(
    employee_key,
    make_event,
    ledger_stream,
    redis_required,
    redis_keys_token,
    tmp_path,
):
    if connection.vendor != "postgresql":
        pytest.skip(
            "SKIPPED: the worker process cannot reach the in-memory SQLite test database; "
            "set DATABASE_URL to PostgreSQL (as .ci/run does) to run this test"
        )
    key, _ = employee_key
    event = make_event(request_id="req_worker", key_id=key.pk, user_id=key.user_id, team_id=key.team_id, created_at=T0)
    async_to_sync(usage_events_publish)([event])
    async_to_sync(usage_events_publish)([event])  # published twice: must be written once
    assert ledger_stream.xlen(settings.TOKENWISE_LEDGER_STREAM) == 2
    queue = f"{redis_keys_token}-celery"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TOKENWISE_LEDGER_STREAM": settings.TOKENWISE_LEDGER_STREAM,
        "TOKENWISE_TIME_ZONE": settings.TIME_ZONE,
    }
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            celery_worker_argv(queue=queue, hostname=f"{redis_keys_token}@%h"),
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while " ready." not in log_path.read_text():
            assert worker.poll() is None, f"worker exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"worker did not start:\n{log_path.read_text()}"
            time.sleep(0.2)
        # The message delay() would send, put on the broker even if tests ever run Celery eagerly. The
        # task's own 10 s expiry is meant for beat's backlog; a busy CI box may need longer here.
        from config.celery import app

        app.send_task(usage_events_flush_task.name, queue=queue, expires=120)
        while not UsageEvent.objects.filter(request_id="req_worker").exists():
            assert worker.poll() is None, f"worker exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"worker did not drain the stream:\n{log_path.read_text()}"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    rows = list(UsageEvent.objects.values_list("request_id", "key_id", "user_id", "team_id", "total_tokens"))
    assert rows == [("req_worker", key.pk, key.user_id, key.team_id, 1200)]
    assert ApiKey.objects.get(pk=key.pk).last_used_at == T0
    assert ledger_stream.xlen(settings.TOKENWISE_LEDGER_STREAM) == 0
    assert ledger_stream.xpending(settings.TOKENWISE_LEDGER_STREAM, GROUP)["pending"] == 0
    assert "usage.tasks.usage_events_flush_task" in log_path.read_text()
