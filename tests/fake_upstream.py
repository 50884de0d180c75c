"""Run Tokenwise's demo upstream (``devtools.demo_upstream``) as a real HTTP server for tests.

    with FakeUpstream(api_key="sk-up") as upstream:
        client = openai.OpenAI(base_url=upstream.base_url, api_key="sk-up", max_retries=0)
        ...
        assert upstream.requests[-1]["json"]["model"] == "gpt-4o"
        assert upstream.stats["streams_completed"] == 1

By default uvicorn serves it from a daemon thread of the test process (fast to start; ``.app`` is the
live ``DemoUpstream``). ``FakeUpstream(subprocess=True)`` runs ``python -m devtools.demo_upstream`` in a
child process instead (for multi-process tests); ``requests`` / ``stats`` / ``reset()`` then go over
HTTP (``/_fake/*``). Either way the socket is bound to 127.0.0.1 port 0 here and handed over, so
parallel runs never fight for a port. Faults are asked per request: ``extra_body={"fake_fault": ...}``
or the ``x-fake-fault`` header (see ``devtools.demo_upstream.faults``). ``framing`` is how streams are
written unless a request asks otherwise (``devtools.demo_upstream.framing``; settable on a running
thread-served upstream as ``.framing``).
"""

from __future__ import annotations

import socket
import subprocess as subprocesses
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from devtools.demo_upstream import DemoUpstream, make_app
from devtools.demo_upstream.framing import framing_check

_REPO_ROOT = Path(__file__).resolve().parent.parent


class FakeUpstream:
    """A demo upstream on 127.0.0.1, in a thread (default) or a subprocess; a context manager."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        latency_ms: float = 0.0,
        chunk_delay_ms: float = 0.0,
        subprocess: bool = False,
        startup_timeout_s: float = 15.0,
        framing: str | None = None,
    ) -> None:
        self.api_key = api_key
        self._framing = framing
        self.latency_ms = latency_ms
        self.chunk_delay_ms = chunk_delay_ms
        self.is_subprocess = subprocess
        self.startup_timeout_s = startup_timeout_s
        self.app: DemoUpstream | None = None
        self.port = 0
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocesses.Popen[bytes] | None = None

    @property
    def framing(self) -> str | None:
        """How streams are written by default (None: one write per event)."""
        return self._framing

    @framing.setter
    def framing(self, name: str | None) -> None:
        if self.app is None and self._socket is not None:
            raise RuntimeError("the framing of a subprocess upstream is set when it starts")
        self._framing = name
        if self.app is not None:
            self.app.framing = framing_check(name)

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:PORT`` (control endpoints live under ``/_fake/``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give a client or the proxy: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    def start(self) -> FakeUpstream:
        """Bind a free port, start serving and return once the server answers; idempotent."""
        if self._socket is not None:
            return self
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(512)
        self.port = self._socket.getsockname()[1]
        try:
            self._start_subprocess() if self.is_subprocess else self._start_thread()
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_thread(self) -> None:
        self.app = make_app(
            api_key=self.api_key, latency_ms=self.latency_ms, chunk_delay_ms=self.chunk_delay_ms, framing=self._framing
        )
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"fake-upstream-{self.port}", daemon=True
        )
        self._thread.start()

    def _start_subprocess(self) -> None:
        assert self._socket is not None
        command = [
            sys.executable,
            "-m",
            "devtools.demo_upstream",
            "--fd",
            str(self._socket.fileno()),
            "--latency-ms",
            str(self.latency_ms),
            "--chunk-delay-ms",
            str(self.chunk_delay_ms),
        ]
        if self.api_key is not None:
            command += ["--api-key", self.api_key]
        if self._framing is not None:
            command += ["--framing", self._framing]
        self._process = subprocesses.Popen(
            command, cwd=_REPO_ROOT, pass_fds=[self._socket.fileno()], stdout=subprocesses.DEVNULL
        )

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"demo upstream exited with {self._process.returncode} during startup")
            if self._thread is not None and not self._thread.is_alive():
                raise RuntimeError("demo upstream thread died during startup")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"demo upstream did not answer within {self.startup_timeout_s} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving (open connections are dropped) and release the port; idempotent."""
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocesses.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._process = self._socket = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Requests received so far: ``{"method", "path", "query", "headers", "json"}`` (a copy)."""
        if self.app is not None:
            return list(self.app.requests)
        return httpx.get(f"{self.url}/_fake/requests", timeout=5.0).json()

    @property
    def stats(self) -> dict[str, int]:
        """Counters (see ``DemoUpstream``): requests, streams_started / _completed / _cancelled / _truncated,
        connections_dropped, and the in_flight gauge (a copy)."""
        if self.app is not None:
            return dict(self.app.stats)
        return httpx.get(f"{self.url}/_fake/stats", timeout=5.0).json()

    def tool_call_script(self, name: str, input: dict[str, Any]) -> None:
        """Have the next Messages request that offers tool ``name`` answered with a call of it with
        ``input`` (``DemoUpstream.tool_calls``; thread-served upstream only)."""
        if self.app is None:
            raise RuntimeError("tool calls are scripted on a thread-served upstream")
        self.app.tool_calls.append((name, input))

    def reset(self) -> None:
        """Forget recorded requests and scripted tool calls, and zero the counters."""
        if self.app is not None:
            self.app.reset()
        else:
            httpx.post(f"{self.url}/_fake/reset", timeout=5.0).raise_for_status()

    def wait_for_stats(self, condition: Callable[[dict[str, int]], bool], *, timeout_s: float = 5.0) -> dict[str, int]:
        """Poll ``stats`` until ``condition(stats)`` holds (e.g. a cancelled stream got noticed); return them.

        Raises ``TimeoutError`` with the last stats when it does not hold within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while not condition(stats := self.stats):
            if time.monotonic() > deadline:
                raise TimeoutError(f"stats never matched: {stats}")
            time.sleep(0.01)
        return stats
