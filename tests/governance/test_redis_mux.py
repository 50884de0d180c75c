"""The hot path's multiplexed Redis connection (``governance.redis_mux``), against real Redis servers.

Three kinds of server:
- the suite's Redis (``REDIS_URL``, the test's own db, flushed before and after): skipped without it;
- private ``redis-server`` processes on free ports (password, ACL user, unix socket, TLS, restart), so
  nothing here touches another database or the shared script cache: skipped without REDIS_URL (the
  embedded run) or without the binary;
- a tiny asyncio TCP server that plays a Redis which never answers, answers garbage or answers only
  when the test says so (timeouts, the write discipline).

Each test runs its scenario in a fresh event loop with ``asyncio.run``, like the other async tests here.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import redis.exceptions
from django.conf import settings

from governance.redis_mux import MultiplexedRedis, _pack, get_multiplexed_redis, pack

PASSWORD = "s3cr:t/@#?%pw"  # every character a URL would misread, to prove the URL is unquoted
ACL_USER, ACL_PASSWORD = "tw-hot-path", "acl-pw"


# --- Servers ---------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private ``redis-server`` process: no persistence, gone at the end of the test (or module)."""

    def __init__(self, directory: Path, *options: str, port: int | None = None, tls: bool = False) -> None:
        self.directory, self.options, self.tls = directory, options, tls
        self.port = port or _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        port_options = (["--port", "0", "--tls-port", str(self.port)] if self.tls else ["--port", str(self.port)])
        self.process = subprocess.Popen(
            ["redis-server", *port_options, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.directory), *self.options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.01)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)


def _require_redis_server() -> None:
    if not settings.REDIS_URL:
        pytest.skip("SKIPPED: REDIS_URL is not set - embedded run, no Redis (.ci/run and scripts/test set it)")
    if shutil.which("redis-server") is None:
        pytest.skip("SKIPPED: redis-server is not on PATH - these tests start private Redis servers")


@pytest.fixture
def redis_url():
    """The suite's Redis (the test's own db), empty before and after the test."""
    if not settings.REDIS_URL:
        pytest.skip("SKIPPED: REDIS_URL is not set - this test needs a real Redis (.ci/run and scripts/test set it)")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield settings.REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory):
    """A private Redis with a password, an ACL user and a unix socket."""
    _require_redis_server()
    directory = tmp_path_factory.mktemp("redis")
    unix_socket = directory / "redis.sock"
    server = RedisServer(directory, "--requirepass", PASSWORD,
                         "--unixsocket", str(unix_socket), "--unixsocketperm", "700").start()
    admin = redis.Redis(host="127.0.0.1", port=server.port, password=PASSWORD)
    admin.execute_command("ACL", "SETUSER", ACL_USER, "on", f">{ACL_PASSWORD}", "~*", "&*", "+@all")
    server.unix_socket = unix_socket
    server.url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}"
    yield server
    admin.close()
    server.stop()


@pytest.fixture
def locked_admin(locked_redis):
    """redis-py on the private server: its databases emptied before and after the test."""
    def on_db(db: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=locked_redis.port, password=PASSWORD, db=db)

    admin = on_db(0)
    admin.flushall()
    yield on_db
    admin.flushall()
    admin.close()


class FakeRedis:
    """A TCP server standing in for Redis: connection n behaves as ``behaviours[n]``.

    ``silent`` reads and never answers; ``pong`` answers ``+PONG`` to each PING; ``garbage`` answers
    with bytes that are not RESP; ``loading`` answers every command as a Redis still loading its data
    set does; ``manual`` hands the connection to the test (``accepted`` queue).
    """

    def __init__(self, *behaviours: str) -> None:
        self.behaviours = list(behaviours)
        self.connections = 0
        self.closed_by_client = 0
        self.accepted: asyncio.Queue = asyncio.Queue()
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task] = set()

    async def __aenter__(self) -> FakeRedis:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.server.close()
        for writer in self._writers:
            writer.close()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=1)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers.add(asyncio.current_task())
        self._writers.append(writer)
        behaviour = self.behaviours[self.connections]
        self.connections += 1
        if behaviour == "manual":
            await self.accepted.put((reader, writer))
            return
        try:
            while data := await reader.read(65536):
                if behaviour == "pong":
                    writer.write(b"+PONG\r\n" * data.count(b"PING"))
                elif behaviour == "garbage":
                    writer.write(b"?not resp\r\n")
                elif behaviour == "loading":  # one error per command (no argument here holds a "*")
                    writer.write(b"-LOADING Redis is loading the dataset in memory\r\n" * data.count(b"*"))
        except ConnectionError:
            pass
        if not writer.is_closing():
            self.closed_by_client += 1
        writer.close()

    async def wait_closed_by_client(self, count: int, within_s: float) -> bool:
        deadline = asyncio.get_running_loop().time() + within_s
        while self.closed_by_client < count:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True


def _execute_once(url: str, *commands) -> list:
    """``commands`` on a new client of ``url``, closed after."""
    async def scenario():
        client = MultiplexedRedis(url)
        try:
            return await client.execute(*commands)
        finally:
            await client.close()

    return asyncio.run(scenario())


def _client_ids(url: str) -> set[int]:
    client = redis.Redis.from_url(url)
    try:
        return {int(entry["id"]) for entry in client.client_list()}
    finally:
        client.close()


# --- Multiplexing and pipelining -------------------------------------------------------------------

def test_two_thousand_concurrent_callers_each_get_their_own_replies_in_order(redis_url):
    async def scenario():
        client = MultiplexedRedis(redis_url)

        async def caller(i: int) -> list:
            commands = [("SET", f"mux:{i}", i), ("INCRBY", f"mux:{i}", i), ("ECHO", f"caller {i}")]
            return await client.execute(*commands[: i % 3 + 1])

        try:
            return await asyncio.gather(*(caller(i) for i in range(2000)))
        finally:
            await client.close()

    replies = asyncio.run(scenario())

    assert replies == [[b"OK", 2 * i, f"caller {i}".encode()][: i % 3 + 1] for i in range(2000)]
    stored = redis.Redis.from_url(redis_url).mget([f"mux:{i}" for i in range(2000)])
    assert stored == [str(i if i % 3 == 0 else 2 * i).encode() for i in range(2000)]


def test_concurrent_calls_leave_in_one_write_per_round_trip(redis_url):
    async def scenario():
        client = MultiplexedRedis(redis_url)
        await client.execute(("PING",))  # connected
        transport = client._protocol.transport
        writes: list[bytes] = []
        write = transport.write
        transport.write = lambda data: (writes.append(bytes(data)), write(data))[1]

        async def caller(i: int) -> None:
            for _ in range(5):
                await client.execute(("INCR", f"mux:{i}"))

        try:
            await asyncio.gather(*(caller(i) for i in range(500)))
        finally:
            await client.close()
        return writes

    writes = asyncio.run(scenario())

    # 2,500 calls, five rounds of 500 concurrent ones. The first command of a quiet connection goes out
    # at once; everything queued while an answer is pending leaves in one write when it arrives: about
    # two writes per round, not 500.
    counts = [write.count(b"$4\r\nINCR\r\n") for write in writes]
    assert sum(counts) == 2500
    assert len(writes) <= 11 and max(counts) >= 499
    stored = redis.Redis.from_url(redis_url).mget([f"mux:{i}" for i in range(500)])
    assert stored == [b"5"] * 500


def test_commands_issued_while_a_batch_is_unanswered_wait_for_its_answers():
    async def scenario():
        async with FakeRedis("manual") as fake:
            client = MultiplexedRedis(fake.url)
            first = asyncio.create_task(client.execute(("PING",)))
            reader, writer = await asyncio.wait_for(fake.accepted.get(), 1)
            first_batch = await asyncio.wait_for(reader.readexactly(14), 1)

            second = asyncio.create_task(client.execute(("ECHO", "b")))
            third = asyncio.create_task(client.execute(("ECHO", "c")))
            await asyncio.sleep(0.05)
            written_before_answer = await _bytes_ready(reader)
            writer.write(b"+PONG\r\n")
            second_batch = await asyncio.wait_for(reader.readexactly(42), 1)
            writer.write(b"$1\r\nb\r\n$1\r\nc\r\n")
            replies = await asyncio.gather(first, second, third)
            await client.close()
            return first_batch, written_before_answer, second_batch, replies

    first_batch, written_before_answer, second_batch, replies = asyncio.run(scenario())

    assert first_batch == b"*1\r\n$4\r\nPING\r\n"
    assert written_before_answer == b""
    assert second_batch == b"*2\r\n$4\r\nECHO\r\n$1\r\nb\r\n*2\r\n$4\r\nECHO\r\n$1\r\nc\r\n"
    assert replies == [[b"PONG"], [b"b"], [b"c"]]


async def _bytes_ready(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(1), 0.05)
    except TimeoutError:
        return b""


def test_an_error_reply_is_returned_in_place_and_the_connection_stays_usable(redis_url):
    async def scenario():
        client = MultiplexedRedis(redis_url)
        try:
            replies = await client.execute(("SET", "mux:s", "1"), ("LPUSH", "mux:s", "x"), ("NOSUCHCOMMAND",),
                                           ("GET", "mux:s"))
            [connection] = await client.execute(("CLIENT", "ID"))
            after = await client.execute(("INCR", "mux:s"), ("CLIENT", "ID"))
            return replies, connection, after
        finally:
            await client.close()

    replies, connection, after = asyncio.run(scenario())

    assert replies[0] == b"OK"
    assert isinstance(replies[1], redis.exceptions.ResponseError)
    assert str(replies[1]).startswith("WRONGTYPE")
    assert isinstance(replies[2], redis.exceptions.ResponseError)
    assert str(replies[2]).startswith("ERR unknown command 'NOSUCHCOMMAND'")
    assert replies[3] == b"1"
    assert after == [2, connection]


def test_arguments_are_encoded_and_an_unencodable_one_raises_without_sending(redis_url):
    async def scenario():
        client = MultiplexedRedis(redis_url)
        try:
            with pytest.raises(redis.exceptions.DataError):
                await client.execute(("SET", "mux:none", None))
            with pytest.raises(redis.exceptions.DataError):
                await client.execute(("SET", "mux:bool", True))
            return await client.execute(("SET", "mux:f", 1.5), ("SET", "mux:b", b"\x00\xff"), ("SET", "mux:é", "ü"),
                                        ("MGET", "mux:f", "mux:b", "mux:é", "mux:none", "mux:bool"))
        finally:
            await client.close()

    replies = asyncio.run(scenario())

    assert replies == [b"OK", b"OK", b"OK", [b"1.5", b"\x00\xff", "ü".encode(), None, None]]


def test_a_cancelled_caller_does_not_receive_or_steal_another_callers_reply(redis_url):
    async def scenario():
        client = MultiplexedRedis(redis_url)
        try:
            [before] = await client.execute(("CLIENT", "ID"))
            waiting = asyncio.create_task(client.execute(("BLPOP", "mux:empty", 0.2)))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            return before, await client.execute(("ECHO", "mine"), ("CLIENT", "ID"))
        finally:
            await client.close()

    before, replies = asyncio.run(scenario())

    assert replies == [b"mine", before]


# --- Fire and forget -------------------------------------------------------------------------------

def test_a_sent_command_takes_effect_before_the_next_executed_one(redis_url):
    async def scenario():
        client = MultiplexedRedis(redis_url)  # not connected yet: send connects
        try:
            sent = await client.send(("SET", "mux:owner", "7"), ("LPUSH", "mux:owner", "oops"),
                                     ("INCRBY", "mux:owner", 3))
            return sent, await client.execute(("GET", "mux:owner"))
        finally:
            await client.close()

    sent, replies = asyncio.run(scenario())

    assert sent is None
    assert replies == [b"10"]


# --- Scripts ---------------------------------------------------------------------------------------

def test_evalsha_loads_a_script_missing_from_the_cache_then_uses_its_sha(locked_redis, locked_admin):
    source = "return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[1])}"
    sha = hashlib.sha1(source.encode()).hexdigest()
    admin = locked_admin(0)
    admin.script_flush()
    admin.config_resetstat()

    async def scenario():
        client = MultiplexedRedis(locked_redis.url)
        try:
            return [await client.evalsha(sha, source, ["mux:budget"], [5]),
                    await client.evalsha(sha, source, ["mux:budget"], [2])]
        finally:
            await client.close()

    replies = asyncio.run(scenario())

    assert replies == [[b"mux:budget", b"5", 5], [b"mux:budget", b"2", 7]]
    stats = admin.info("commandstats")
    assert (stats["cmdstat_evalsha"]["calls"], stats["cmdstat_evalsha"]["failed_calls"]) == (2, 1)  # NOSCRIPT once
    assert stats["cmdstat_eval"]["calls"] == 1
    assert admin.script_exists(sha) == [True]


def test_evalsha_raises_the_scripts_error_reply(locked_redis, locked_admin):
    failing = "return redis.error_reply('budget exhausted')"
    crashing = "return redis.call('INCR', KEYS[1])"
    locked_admin(0).script_flush()
    locked_admin(0).rpush("mux:list", "x")

    async def scenario():
        client = MultiplexedRedis(locked_redis.url)
        try:
            with pytest.raises(redis.exceptions.ResponseError) as error_reply:
                await client.evalsha(hashlib.sha1(failing.encode()).hexdigest(), failing, [], [])
            with pytest.raises(redis.exceptions.ResponseError) as script_error:
                await client.evalsha(hashlib.sha1(crashing.encode()).hexdigest(), crashing, ["mux:list"], [])
            return str(error_reply.value), str(script_error.value), await client.execute(("PING",))
        finally:
            await client.close()

    error_reply, script_error, after = asyncio.run(scenario())

    assert error_reply == "budget exhausted"
    assert script_error.startswith("WRONGTYPE")
    assert after == [b"PONG"]


# --- Failures --------------------------------------------------------------------------------------

def test_an_unreachable_redis_raises_connection_error_at_once():
    port = _free_port()  # bound then released: nothing listens there

    async def scenario():
        client = MultiplexedRedis(f"redis://127.0.0.1:{port}/8")
        started = time.monotonic()
        with pytest.raises(redis.exceptions.ConnectionError) as executed:
            await client.execute(("PING",))
        with pytest.raises(redis.exceptions.ConnectionError):
            await client.send(("PING",))
        return time.monotonic() - started, str(executed.value)

    elapsed_s, message = asyncio.run(scenario())

    assert elapsed_s < 0.5
    assert message.startswith("cannot connect to Redis")


def test_a_silent_redis_times_out_every_command_in_flight_then_the_next_command_reconnects():
    async def scenario():
        async with FakeRedis("silent", "pong") as fake:
            client = MultiplexedRedis(fake.url, command_timeout_s=0.2)
            loop = asyncio.get_running_loop()
            started = loop.time()
            first = asyncio.create_task(client.execute(("PING",)))
            await asyncio.sleep(0.1)
            later = asyncio.create_task(client.execute(("PING",)))  # its own deadline: 0.3 s
            await client.send(("PING",))
            outcomes = await asyncio.gather(first, later, return_exceptions=True)
            failed_after_s = loop.time() - started
            dropped = await fake.wait_closed_by_client(1, within_s=1)
            after = await client.execute(("PING",))
            await client.close()
            return outcomes, failed_after_s, dropped, after, fake.connections

    outcomes, failed_after_s, dropped, after, connections = asyncio.run(scenario())

    assert [type(outcome) for outcome in outcomes] == [redis.exceptions.TimeoutError] * 2
    # One watchdog per connection: the oldest command's deadline fails everything in flight at once.
    assert [str(outcome) for outcome in outcomes] == ["no reply from Redis within 0.2 s"] * 2
    assert 0.2 <= failed_after_s < 0.5
    assert dropped is True
    assert (after, connections) == ([b"PONG"], 2)


def test_a_reply_that_is_not_resp_fails_the_call_and_the_next_command_reconnects():
    async def scenario():
        async with FakeRedis("garbage", "pong") as fake:
            client = MultiplexedRedis(fake.url)
            with pytest.raises(redis.exceptions.ConnectionError):
                await client.execute(("PING",))
            after = await client.execute(("PING",))
            await client.close()
            return after, fake.connections

    assert asyncio.run(scenario()) == ([b"PONG"], 2)


def test_a_connection_killed_mid_flight_fails_what_is_pending_then_the_next_command_reconnects(redis_url):
    admin = redis.Redis.from_url(redis_url)

    async def scenario():
        unhandled: list[dict] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: unhandled.append(context))
        client = MultiplexedRedis(redis_url)
        try:
            [killed_id] = await client.execute(("CLIENT", "ID"))
            blocked = asyncio.create_task(client.execute(("BLPOP", "mux:empty", 0.8)))
            await client.send(("SET", "mux:after-block", "1"))  # fire and forget, lost with the connection
            queued = asyncio.create_task(client.execute(("PING",)))
            await asyncio.sleep(0.05)
            killed = await asyncio.to_thread(admin.execute_command, "CLIENT", "KILL", "ID", killed_id)
            outcomes = await asyncio.gather(blocked, queued, return_exceptions=True)
            after = await client.execute(("CLIENT", "ID"), ("SET", "mux:k", "v"), ("GET", "mux:k"))
            gc.collect()  # an unretrieved exception on a lost send would be reported now
            await asyncio.sleep(0)
            return killed_id, killed, outcomes, after, unhandled
        finally:
            await client.close()

    killed_id, killed, outcomes, after, unhandled = asyncio.run(scenario())
    admin.close()

    assert killed == 1
    assert [type(outcome) for outcome in outcomes] == [redis.exceptions.ConnectionError] * 2
    assert after[0] != killed_id
    assert after[1:] == [b"OK", b"v"]
    assert unhandled == []


def test_commands_fail_while_redis_is_down_and_work_again_once_it_is_back(tmp_path):
    _require_redis_server()
    server = RedisServer(tmp_path).start()
    url = f"redis://127.0.0.1:{server.port}/2"

    async def scenario():
        client = MultiplexedRedis(url)
        try:
            before = await client.execute(("SET", "mux:k", "before"))
            blocked = asyncio.create_task(client.execute(("BLPOP", "mux:empty", 0.8)))
            await asyncio.sleep(0.05)
            await asyncio.to_thread(server.stop)
            pending = await asyncio.gather(blocked, return_exceptions=True)
            started = time.monotonic()
            with pytest.raises(redis.exceptions.ConnectionError):
                await client.execute(("PING",))
            while_down_s = time.monotonic() - started
            await asyncio.to_thread(server.start)
            after = await client.execute(("SET", "mux:k", "after"), ("GET", "mux:k"))
            return before, pending, while_down_s, after
        finally:
            await client.close()

    try:
        before, pending, while_down_s, after = asyncio.run(scenario())
    finally:
        server.stop()

    assert before == [b"OK"]
    assert [type(outcome) for outcome in pending] == [redis.exceptions.ConnectionError]
    assert while_down_s < 0.5
    assert after == [b"OK", b"after"]


# --- Connection URLs -------------------------------------------------------------------------------

def test_the_url_password_and_db_number_are_used(locked_redis, locked_admin):
    replies = _execute_once(f"{locked_redis.url}/5", ("SET", "mux:db", "five"))

    assert replies == [b"OK"]
    assert locked_admin(5).get("mux:db") == b"five"
    assert locked_admin(0).get("mux:db") is None


def test_a_url_with_an_acl_user_authenticates_as_that_user(locked_redis, locked_admin):
    replies = _execute_once(f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{locked_redis.port}/3",
                            ("ACL", "WHOAMI"), ("SET", "mux:acl", "1"))

    assert replies == [ACL_USER.encode(), b"OK"]
    assert locked_admin(3).get("mux:acl") == b"1"


def test_a_unix_socket_url_with_a_db_query_is_used(locked_redis, locked_admin):
    replies = _execute_once(f"unix://:{quote(PASSWORD, safe='')}@{locked_redis.unix_socket}?db=4",
                            ("SET", "mux:unix", "1"))

    assert replies == [b"OK"]
    assert locked_admin(4).get("mux:unix") == b"1"


@pytest.mark.parametrize("url_template, refusal", [
    ("redis://:wrong@127.0.0.1:{port}", "WRONGPASS"),
    ("redis://{user}:wrong@127.0.0.1:{port}/1", "WRONGPASS"),
    ("redis://:{password}@127.0.0.1:{port}/99", "ERR DB index is out of range"),
])
def test_a_refused_handshake_raises_connection_error(locked_redis, url_template, refusal):
    url = url_template.format(port=locked_redis.port, user=ACL_USER, password=quote(PASSWORD, safe=""))

    async def scenario():
        client = MultiplexedRedis(url)
        with pytest.raises(redis.exceptions.ConnectionError) as refused:
            await client.execute(("PING",))
        return str(refused.value)

    message = asyncio.run(scenario())

    assert message.startswith(f"Redis refused the connection: {refusal}")


@pytest.fixture
def tls_redis(tmp_path):
    _require_redis_server()
    if shutil.which("openssl") is None:
        pytest.skip("SKIPPED: openssl is not on PATH - the TLS test makes a self-signed certificate")
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(certificate), "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = RedisServer(tmp_path, "--tls-cert-file", str(certificate), "--tls-key-file", str(key),
                         "--tls-auth-clients", "no", tls=True).start()
    server.certificate = certificate
    yield server
    server.stop()


def test_a_rediss_url_speaks_tls_and_verifies_the_certificate(tls_redis, monkeypatch):
    url = f"rediss://127.0.0.1:{tls_redis.port}/1"

    async def untrusted():
        with pytest.raises(redis.exceptions.ConnectionError) as refused:
            await MultiplexedRedis(url).execute(("PING",))
        return str(refused.value)

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_redis.certificate))  # the default context trusts it
    trusted_replies = _execute_once(url, ("SET", "mux:tls", "1"), ("GET", "mux:tls"))
    monkeypatch.delenv("SSL_CERT_FILE")
    untrusted_message = asyncio.run(untrusted())

    assert trusted_replies == [b"OK", b"1"]
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted_message


# --- One client per event loop ---------------------------------------------------------------------

def test_no_client_without_a_redis_url(settings):
    settings.REDIS_URL = ""

    async def scenario():
        return get_multiplexed_redis()

    assert asyncio.run(scenario()) is None


def test_one_client_per_event_loop(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/8"

    async def scenario():
        return get_multiplexed_redis(), get_multiplexed_redis()

    first, again = asyncio.run(scenario())
    other_loop, _ = asyncio.run(scenario())

    assert first is again
    assert other_loop is not first
    assert (first.url, other_loop.url) == ("redis://127.0.0.1:6379/8", "redis://127.0.0.1:6379/8")


def test_a_new_client_when_the_redis_url_changes(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/8"

    async def scenario():
        before = get_multiplexed_redis()
        settings.REDIS_URL = "redis://127.0.0.1:6379/9"
        return before, get_multiplexed_redis(), get_multiplexed_redis()

    before, after, again = asyncio.run(scenario())

    assert after is not before
    assert after is again
    assert (before.url, after.url) == ("redis://127.0.0.1:6379/8", "redis://127.0.0.1:6379/9")


# --- Bugs found by these tests, fixed -------------------------------------------------------------

def test_an_execute_without_commands_returns_no_replies_and_disturbs_nobody(redis_url):
    async def scenario():
        client = MultiplexedRedis(redis_url, command_timeout_s=0.3)
        try:
            return await asyncio.gather(client.execute(), client.execute(("PING",)))
        finally:
            await client.close()

    assert asyncio.run(scenario()) == [[], [b"PONG"]]


def test_a_handshake_timeout_closes_the_socket():
    async def scenario():
        async with FakeRedis("silent") as fake:
            client = MultiplexedRedis(f"{fake.url}/1", connect_timeout_s=0.2)  # /1: SELECT is sent first
            with pytest.raises(redis.exceptions.ConnectionError):
                await client.execute(("PING",))
            return await fake.wait_closed_by_client(1, within_s=0.5)

    assert asyncio.run(scenario()) is True


def test_a_connect_timeout_says_it_timed_out():
    async def scenario():
        async with FakeRedis("silent") as fake:
            client = MultiplexedRedis(f"{fake.url}/1", connect_timeout_s=0.2)
            with pytest.raises(redis.exceptions.ConnectionError) as refused:
                await client.execute(("PING",))
            return str(refused.value)

    assert "TimeoutError" in asyncio.run(scenario())


def test_a_finished_event_loop_leaves_no_connection_open(redis_url, settings):
    settings.REDIS_URL = redis_url

    async def used():
        [client_id] = await get_multiplexed_redis().execute(("CLIENT", "ID"))
        return client_id

    async def another_loop():
        get_multiplexed_redis()

    used_ids = {asyncio.run(used()), asyncio.run(used())}
    asyncio.run(another_loop())
    gc.collect()
    deadline = time.monotonic() + 0.5
    while used_ids & _client_ids(redis_url) and time.monotonic() < deadline:
        time.sleep(0.02)

    assert used_ids & _client_ids(redis_url) == set()


def test_a_redis_still_loading_its_data_is_unavailable_not_an_error_reply():
    # A restarted Redis answers LOADING until its append-only file is read: callers must take their
    # "Redis down" path (redis-py raises BusyLoadingError, a ConnectionError), not fail the call.
    async def scenario():
        async with FakeRedis("loading") as fake:
            client = MultiplexedRedis(fake.url)
            with pytest.raises(redis.exceptions.BusyLoadingError):
                await client.execute(("PING",))
            with pytest.raises(redis.exceptions.ConnectionError):
                await client.evalsha("0" * 40, "return 1", [], [])
            await client.close()

    asyncio.run(scenario())


def test_the_c_encoder_writes_what_the_reference_encoder_writes():
    commands = [("EVALSHA", "ab" * 20, 3, "k:1", "k:é", "k:3", '{"now": 1.5}'),
                ("SET", b"\x00\xff", 2**70, -7, 0, 1.5, 1e20, 1732345678.123456, -0.0, float("inf")),
                ("SET", "mv", memoryview(b"cd"))]
    assert pack(commands) == _pack(commands)
    # What hiredis does not take goes through the reference encoder: bytearray is bytes, bool is refused.
    assert pack([("SET", "ba", bytearray(b"ab"))]) == _pack([("SET", "ba", b"ab")])
    with pytest.raises(redis.exceptions.DataError):
        pack([("SET", "flag", True)])
