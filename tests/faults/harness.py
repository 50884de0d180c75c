"""Machinery of the fault-injection suite: private services the tests can break, the proxy and Celery
workers as real processes, continuous load through the real openai client, and the final count check.

Nothing here touches the machine's shared Redis or PostgreSQL servers: each scenario starts its own
``redis-server`` (append-only file on, so a restart keeps the ledger stream, as production must) and
reaches PostgreSQL through a TCP forwarder it can cut and restore.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import openai
import redis

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout_s: float, what: str, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


# --- A private Redis ---------------------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on a free port, in a temp dir, with the append-only file fsynced on every write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout_s=10, what="redis-server to answer")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.exceptions.RedisError:
            return False

    def kill(self) -> None:
        """Crash it (SIGKILL): clients get connection errors at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()


# --- A cuttable TCP forwarder -------------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target, from an event loop in a daemon thread.

    ``cut()`` closes every forwarded connection and refuses new ones (connection refused), as a crashed
    server would look; ``restore()`` accepts again on the same port.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=f"tcp-proxy-{self.port}")

    def start(self) -> TcpProxy:
        self.thread.start()
        self.restore()
        return self

    def _call(self, coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self.writers.update((client_writer, upstream_writer))
        try:
            await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        finally:
            self.writers.difference_update((client_writer, upstream_writer))

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        if self.server is None:
            self._call(self._listen())

    async def _finish(self) -> None:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        self.cut()
        self._call(self._finish())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


# --- Tokenwise processes ------------------------------------------------------------------------------


class ProxyProcess:
    """Tokenwise's ASGI app served by uvicorn in a child process (one worker), on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ProxyProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.faults.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--lifespan",
                "off",
                "--timeout-graceful-shutdown",
                "5",
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, timeout_s=30, what="the proxy process to answer /healthz")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"proxy process exited with {self.process.returncode}; see {self.log_path}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def metrics(self) -> dict[str, float]:
        """The proxy's Prometheus samples, ``name{labels}`` -> value."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def wait_recorded(self, timeout_s: float = 30) -> None:
        """Block until every call this process began is recorded: a caller has its answer before the
        call's event is published (the record follows the response), so a count taken the moment a
        load stops would miss the last calls' events."""
        if self.process is None or self.process.poll() is not None:
            return  # stopped: a graceful stop records every call before the process exits
        wait_until(
            lambda: self.metrics().get("tokenwise_proxy_calls_unrecorded") == 0,
            timeout_s=timeout_s,
            what="the proxy to record every call it answered",
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


class CeleryWorker:
    """``celery worker -B --pool=solo`` in its own process group (so SIGKILL takes its beat along)."""

    def __init__(self, env: dict[str, str], directory: Path, name: str) -> None:
        self.env = env
        self.directory = directory
        self.name = name
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-B",
                "--pool=solo",
                "-l",
                "warning",
                "-n",
                f"{self.name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-s",
                str(self.directory / f"beat-{self.name}"),
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=(self.directory / f"{self.name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the worker and its beat: no cleanup, no acknowledgement, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


# --- Load ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Answer:
    request_id: str | None  # None: the client got no HTTP answer at all
    status: int
    code: str  # "" for success; the error code (HTTP or in-stream) otherwise
    kind: str  # chat, stream or embeddings; with "/<fake fault>" when one was asked
    shaped: bool = True  # an error came as OpenAI's {"error": {"message", "type", "param", "code"}}


CALL_KINDS = ("chat", "stream", "embeddings")
HELLO = [{"role": "user", "content": "hello there, how are you?"}]


def _is_error_shape(body: object) -> bool:
    """The openai client hands over the ``error`` object of an error body (or the raw body if none)."""
    return isinstance(body, dict) and isinstance(body.get("message"), str) and {"type", "code"} <= set(body)


def call_once(client: openai.OpenAI, kind: str, *, extra_body: dict | None = None) -> Answer:
    """One call through the real openai client; every outcome becomes an ``Answer``."""
    try:
        if kind == "chat":
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=HELLO, max_tokens=5, extra_body=extra_body
            )
            raw.parse()
            return Answer(raw.headers.get("x-request-id"), raw.status_code, "", kind)
        if kind == "embeddings":
            raw = client.embeddings.with_raw_response.create(
                model="text-embedding-3-small", input="hello there", extra_body=extra_body
            )
            raw.parse()
            return Answer(raw.headers.get("x-request-id"), raw.status_code, "", kind)
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini",
            messages=HELLO,
            max_tokens=6,
            stream=True,
            extra_body=extra_body,
        ) as response:
            request_id = response.headers.get("x-request-id")
            try:
                for _ in response.parse():
                    pass
            except openai.APIError as exc:
                return Answer(
                    request_id,
                    response.status_code,
                    str(getattr(exc, "code", "") or "stream_error"),
                    kind,
                    shaped=_is_error_shape(exc.body),
                )
            return Answer(request_id, response.status_code, "", kind)
    except openai.APIStatusError as exc:
        return Answer(
            exc.response.headers.get("x-request-id"),
            exc.status_code,
            str(exc.code or ""),
            kind,
            shaped=_is_error_shape(exc.body),
        )
    except openai.APIConnectionError as exc:  # includes timeouts: no answer reached the client
        return Answer(None, 0, type(exc).__name__, kind)


class Load:
    """Continuous calls from ``threads`` client threads until ``stop()``; keeps every answer."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        threads: int = 4,
        pause_s: float = 0.01,
        kinds: tuple[str, ...] = CALL_KINDS,
        extra_bodies: tuple[dict | None, ...] = (None,),
    ) -> None:
        self.base_url, self.api_key = base_url, api_key
        self.pause_s, self.kinds, self.extra_bodies = pause_s, kinds, extra_bodies
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, index: int) -> None:
        client = openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=self.api_key, max_retries=0, timeout=15)
        n = index
        while not self.stopping.is_set():
            extra_body = self.extra_bodies[(n // len(self.kinds)) % len(self.extra_bodies)]
            answer = call_once(client, self.kinds[n % len(self.kinds)], extra_body=extra_body)
            if extra_body:
                answer.kind += f"/{extra_body.get('fake_fault', '')}"
            n += 1
            with self.lock:
                self.answers.append(answer)
            time.sleep(self.pause_s)
        client.close()

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def count(self) -> int:
        with self.lock:
            return len(self.answers)

    def wait_for(self, more: int, *, timeout_s: float = 20) -> None:
        """Block until ``more`` further calls were answered."""
        target = self.count() + more
        wait_until(lambda: self.count() >= target, timeout_s=timeout_s, what=f"{more} more calls", interval_s=0.02)

    def stop(self) -> list[Answer]:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)
        return list(self.answers)


def summarize(answers: list[Answer]) -> dict[str, int]:
    counts = Counter(f"{a.status}{':' + a.code if a.code else ''}" for a in answers)
    return dict(sorted(counts.items()))
