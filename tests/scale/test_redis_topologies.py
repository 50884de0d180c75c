"""Scale-out on replicated Redis: a Redis Cluster and Sentinel, through a primary failover.

The tests start the topologies themselves from ``redis-server`` on loopback ports (7100-7199), in
temporary folders, and stop them afterwards:

* a Redis Cluster of 3 primaries and 3 replicas (``cluster-node-timeout`` 1000 ms);
* 1 primary, 1 replica and 3 sentinels (``down-after-milliseconds`` 1000).

Two proxy processes (uvicorn) and two Celery workers run with ``TOKENWISE_REDIS_MODE=cluster`` or
``sentinel``: counters, the policy cache and the ledger stream live in the topology, Celery's broker stays
on the suite's standalone Redis (``CELERY_BROKER_URL``). Counters fail closed
(``TOKENWISE_REDIS_FAILURE_MODE=closed``): while no primary serves the team's keys, a call is answered 503
and recorded - the documented behaviour (docs/operations.md) - instead of being admitted on one process's
own counters. In the middle of a burst of calls the primary holding the team's counters and the ledger
stream is killed (SIGKILL). Afterwards:

* the ledger holds exactly one event per answered call - the request ids the callers got back, none
  missing, none twice;
* the team's token budget was never overspent, and once the reconcile task has run (as beat runs it) its
  counter equals the ledger, with nothing held;
* after the failover both proxies serve again (no 503), until the budget refuses calls.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from django.db.models import Sum

from core.redis import get_sync_redis
from governance.enforcement.counters import budget_key
from governance.enforcement.effective import team_tag
from governance.enforcement.reconcile import counters_reconcile
from governance.periods import period_of
from governance.services.policies import policy_set
from tests.scale.test_two_processes import (
    _database_url,
    _person,
    _stop,
    proxies_and_workers,
)
from usage.ledger.stream import GROUP
from usage.models import UsageEvent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CALLS = 240  # in the burst, 24 in flight at a time, alternating between the proxies
IN_FLIGHT = 24
KILL_AFTER = 60  # answers received before the primary is killed
BUDGET = 3_000  # tokens per day: spent after the failover, by calls until one is refused
RESERVATION_TTL_S = 30  # a reservation whose settlement was lost with the primary is released after this
HELLO = [{"role": "user", "content": "hello there"}]
CLUSTER_PORTS = range(7100, 7106)
SENTINEL_DATA_PORTS = (7110, 7111)
SENTINEL_PORTS = (7112, 7113, 7114)


def _wait(condition, *, timeout_s: float, what: str, every_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = condition()
        except (redis.exceptions.RedisError, OSError, httpx.TransportError):
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds: TIME_WAIT is fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Servers:
    """``redis-server`` processes started by a test, by port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.processes = folder, {}

    def start(self, port: int, *arguments: str, sentinel: bool = False) -> None:
        assert _port_free(port), f"port {port} is taken: another run of these tests?"
        folder = self.folder / str(port)
        folder.mkdir()
        if sentinel:
            config = folder / "sentinel.conf"
            config.write_text("\n".join(arguments) + "\n")
            command = [
                "redis-server",
                str(config),
                "--sentinel",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(folder),
            ]
        else:
            command = [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(folder),
                "--save",
                "",
                "--appendonly",
                "no",
                "--repl-diskless-sync-delay",
                "0",
                *arguments,
            ]
        log = open(folder / "log", "wb")
        self.processes[port] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait(lambda: redis.Redis(port=port, socket_timeout=1).ping(), timeout_s=20, what=f"redis on {port}")

    def kill(self, port: int) -> None:
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                _stop(process)


@pytest.fixture
def redis_cluster(tmp_path):
    """A Redis Cluster of 3 primaries + 3 replicas on ports 7100-7105: its mode settings, and the servers."""
    servers = Servers(tmp_path)
    try:
        for port in CLUSTER_PORTS:
            servers.start(
                port,
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "1000",
                "--cluster-config-file",
                f"nodes-{port}.conf",
                "--cluster-replica-validity-factor",
                "0",
            )
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in CLUSTER_PORTS),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in CLUSTER_PORTS:
            _wait(
                lambda port=port: redis.Redis(port=port).cluster("info")["cluster_state"] == "ok",
                timeout_s=30,
                what=f"the cluster seen from {port}",
            )
        # Every node as a seed: a process that (re)starts its client after the node REDIS_URL names died
        # still finds the cluster.
        seeds = ",".join(f"127.0.0.1:{port}" for port in CLUSTER_PORTS)
        yield {
            "mode": {
                "TOKENWISE_REDIS_MODE": "cluster",
                "REDIS_URL": "redis://127.0.0.1:7100/0",
                "TOKENWISE_REDIS_CLUSTER_NODES": seeds,
            },
            "servers": servers,
        }
    finally:
        servers.stop()


@pytest.fixture
def redis_sentinel(tmp_path):
    """1 primary (7110) + 1 replica (7111) + 3 sentinels (7112-7114) watching "tw": its mode settings."""
    servers = Servers(tmp_path)
    primary, replica = SENTINEL_DATA_PORTS
    try:
        servers.start(primary)
        servers.start(replica, "--replicaof", "127.0.0.1", str(primary))
        _wait(
            lambda: redis.Redis(port=replica).info("replication")["master_link_status"] == "up",
            timeout_s=30,
            what="the replica to sync",
        )
        for port in SENTINEL_PORTS:
            servers.start(
                port,
                f"sentinel monitor tw 127.0.0.1 {primary} 2",
                "sentinel down-after-milliseconds tw 1000",
                "sentinel failover-timeout tw 10000",
                "sentinel parallel-syncs tw 1",
                sentinel=True,
            )
        for port in SENTINEL_PORTS:  # every sentinel knows the replica and the two other sentinels
            _wait(
                lambda port=port: (lambda m: m["num-slaves"] == 1 and m["num-other-sentinels"] == 2)(
                    redis.Redis(port=port).sentinel_master("tw")
                ),
                timeout_s=30,
                what=f"sentinel {port}",
            )
        yield {
            "mode": {
                "TOKENWISE_REDIS_MODE": "sentinel",
                "REDIS_URL": "redis://127.0.0.1/0",
                "TOKENWISE_REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in SENTINEL_PORTS),
                "TOKENWISE_REDIS_SENTINEL_MASTER": "tw",
            },
            "servers": servers,
        }
    finally:
        servers.stop()


@pytest.fixture
def on_topology(request, settings):
    """The topology the test is parametrised with; this process's clients point at it too."""
    topology = request.getfixturevalue(request.param)
    for name, value in topology["mode"].items():
        listed = name in ("TOKENWISE_REDIS_SENTINELS", "TOKENWISE_REDIS_CLUSTER_NODES")
        setattr(settings, name, value.split(",") if listed else value)
    get_sync_redis.cache_clear()
    yield topology
    get_sync_redis.cache_clear()


@pytest.fixture
def processes(on_topology, transactional_db, default_prices, upstream, tmp_path, settings):
    """Two proxies and two Celery workers on the topology (broker: the suite's standalone Redis)."""
    if not settings.CELERY_BROKER_URL.startswith("redis://") or "postgres" not in _database_url():
        pytest.skip("SKIPPED: needs PostgreSQL (DATABASE_URL) and the suite's Redis for Celery (REDIS_URL)")
    token = f"tw-topology-{uuid.uuid4().hex[:12]}"
    settings.TOKENWISE_LEDGER_STREAM = f"{token}:events"
    queue = f"{token}-celery"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "sk-upstream-secret",
        "TOKENWISE_DEMO_UPSTREAM": "0",
        "TOKENWISE_LEDGER_STREAM": settings.TOKENWISE_LEDGER_STREAM,
        "TOKENWISE_LEDGER_SPOOL_DIR": str(tmp_path / "spool"),
        "TOKENWISE_TIME_ZONE": settings.TIME_ZONE,
        "TOKENWISE_REDIS_FAILURE_MODE": "closed",
        "TOKENWISE_RESERVATION_TTL_S": str(RESERVATION_TTL_S),
        "TOKENWISE_LEDGER_BATCH_SIZE": "10",
        "LOG_LEVEL": "INFO",
        **on_topology["mode"],
    }
    with proxies_and_workers(env, folder=tmp_path, queue=queue, name=token) as (proxies, _):
        yield {"proxies": proxies, "queue": queue}


def _primary_of(topology: dict, key: str) -> int:
    """The port of the primary that holds ``key``."""
    if topology["mode"]["TOKENWISE_REDIS_MODE"] == "cluster":
        return get_sync_redis().get_node_from_key(key).port
    return int(redis.Redis(port=SENTINEL_PORTS[0]).sentinel_master("tw")["port"])


def _team_beside_the_stream(topology: dict) -> tuple[object, str]:
    """A person whose team's counters share a primary with the ledger stream (the one to kill)."""
    stream_primary = _primary_of(topology, settings.TOKENWISE_LEDGER_STREAM)
    for n in range(30):
        team, secret = _person(f"topology-{n}")
        if _primary_of(topology, team_tag(team.pk)) == stream_primary:
            return team, secret
    raise AssertionError("no team's slot on the ledger stream's primary")


async def _burst(proxies: list[str], secret: str, *, calls: int, on_answers=None) -> list[tuple[int, str, str]]:
    """``calls`` chat calls, ``IN_FLIGHT`` at a time, alternating between the proxies: (status, code, request
    id). ``on_answers(count)`` runs after each answer."""
    # No keep-alive: a connection idle through the failover could be closed by uvicorn as a call is sent on it.
    clients = [
        httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) for url in proxies
    ]
    gate, answers = asyncio.Semaphore(IN_FLIGHT), []

    async def one(i: int) -> None:
        async with gate:
            response = await clients[i % 2].post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {secret}"},
                json={"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 5},
            )
        code = "" if response.status_code == 200 else response.json()["error"]["code"]
        answers.append((response.status_code, code, response.headers["x-request-id"]))
        if on_answers is not None:
            on_answers(len(answers))

    try:
        await asyncio.gather(*(one(i) for i in range(calls)))
    finally:
        for client in clients:
            await client.aclose()
    return answers


def _failover_done(topology: dict, killed: int, key: str) -> bool:
    """A primary other than the killed one serves ``key``, and takes writes."""
    if topology["mode"]["TOKENWISE_REDIS_MODE"] == "cluster":
        live = next(
            port for port in CLUSTER_PORTS if port != killed and topology["servers"].processes[port].poll() is None
        )
        if redis.Redis(port=live).cluster("info")["cluster_state"] != "ok":
            return False
        get_sync_redis().nodes_manager.initialize()
    elif _primary_of(topology, key) == killed:
        return False
    return _primary_of(topology, key) != killed and get_sync_redis().set(f"{key}:probe", "1")


def _drain(processes: dict, *, team, expected: int) -> None:
    """Ask both workers to flush until the ledger holds ``expected`` events and the stream is settled."""
    from config.celery import app

    def flush() -> None:
        for _ in range(2):
            app.send_task(
                "usage.tasks.usage_events_flush_task",
                queue=processes["queue"],
                expires=60,
                kwargs={"time_budget_s": 0.5},
            )

    stream = settings.TOKENWISE_LEDGER_STREAM
    _wait(
        lambda: flush() or UsageEvent.objects.filter(team=team).count() >= expected,
        timeout_s=180,
        every_s=0.5,
        what="the workers to drain the ledger",
    )
    _wait(
        lambda: flush() or not (get_sync_redis().xlen(stream) or get_sync_redis().xpending(stream, GROUP)["pending"]),
        timeout_s=180,
        every_s=0.5,
        what="the ledger stream to be empty and acknowledged",
    )


@pytest.mark.parametrize("on_topology", ["redis_cluster", "redis_sentinel"], indirect=True)
def test_budgets_and_the_ledger_stay_exact_through_a_primary_failover(on_topology, processes):
    team, secret = _team_beside_the_stream(on_topology)
    policy_set(scope="team", team=team, values={"tokens_per_day": BUDGET})
    killed = _primary_of(on_topology, team_tag(team.pk))

    def kill_once(count: int) -> None:
        if count == KILL_AFTER:
            on_topology["servers"].kill(killed)

    answers = asyncio.run(_burst(processes["proxies"], secret, calls=CALLS, on_answers=kill_once))
    _wait(lambda: _failover_done(on_topology, killed, team_tag(team.pk)), timeout_s=60, what="the failover")
    after: list[tuple[int, str, str]] = []  # then calls until the budget refuses one: it binds on the new primary
    while not any(code == "budget_exceeded" for _, code, _ in after):
        assert len(after) < 40 * BUDGET // 100, "the budget never refused a call after the failover"
        after += asyncio.run(_burst(processes["proxies"], secret, calls=40))
    _drain(processes, team=team, expected=CALLS + len(after))

    events = UsageEvent.objects.filter(team=team)
    assert sorted(events.values_list("request_id", flat=True)) == sorted(a[2] for a in answers + after)
    assert {(a[0], a[1]) for a in answers if a[0] != 200} <= {
        (429, "budget_exceeded"),
        (503, "enforcement_unavailable"),
    }
    assert any(a[0] == 503 for a in answers), "the primary died mid-burst: calls in the failover window fail closed"
    assert {(a[0], a[1]) for a in after if a[0] != 200} <= {(429, "budget_exceeded")}  # both proxies serve again
    ledger_tokens = events.filter(status=200).aggregate(n=Sum("total_tokens"))["n"]
    assert 0 < ledger_tokens <= BUDGET
    # The reconcile task (beat) repairs what the failover lost: settlements sent to the dead primary.
    counters_reconcile(now=time.time() + RESERVATION_TTL_S + 1, quiet_s=0)
    key = budget_key(team_id=team.pk, user_id=None, unit="tok", period=period_of("day", at=time.time()))
    used, held = (int(v or 0) for v in get_sync_redis().hmget(key, "u", "r"))
    assert (used, held) == (ledger_tokens, 0)
