"""Starting and stopping the benchmark's own server processes (upstream, floor, Tokenwise, Celery).

Each process gets its own session (process group), so stopping it stops its uvicorn worker children
too, and nothing else: the benchmark only ever signals process groups it created itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, *, timeout_s: float = 30.0, process: Service | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.proc.returncode}; see {process.log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s}s")


class Service:
    """One child process (and its children), its output in ``<logdir>/<name>.log``."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], logdir: Path, port: int | None = None):
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.log_path = logdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, *, wait: bool = True) -> Service:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        if wait and self.port is not None:
            wait_port(self.port, process=self)
        return self

    def pids(self) -> list[int]:
        """This process and its descendants (uvicorn workers, Celery pool children)."""
        if self.proc is None:
            return []
        found, queue = [], [self.proc.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                    queue.extend(int(child) for child in children)
            except OSError:
                pass
        return found

    def stop(self, *, timeout_s: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: the process and its workers
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process in KiB (``VmHWM`` for its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / ticks


def upstream_service(*, logdir: Path, env: dict[str, str], chunk_delay_ms: float = 0.0, workers: int = 1) -> Service:
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "devtools.demo_upstream",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--chunk-delay-ms",
        str(chunk_delay_ms),
    ]
    return Service(f"upstream-{port}", argv, env=env, logdir=logdir, port=port)


def uvicorn_service(name: str, app: str, *, logdir: Path, env: dict[str, str], workers: int) -> Service:
    port = free_port()
    argv = [
        PYTHON,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
        "--timeout-graceful-shutdown",
        "5",
    ]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return Service(f"{name}-{port}", argv, env=env, logdir=logdir, port=port)


def celery_services(*, logdir: Path, env: dict[str, str], workers: int = 1, tag: str = "bench") -> list[Service]:
    """``workers`` Celery worker processes (one pool process each) and one beat."""
    services = [
        Service(
            f"celery-worker-{tag}-{i}",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "warning",
                "--concurrency",
                "1",
                "-n",
                f"{tag}{i}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            logdir=logdir,
        )
        for i in range(workers)
    ]
    services.append(
        Service(
            f"celery-beat-{tag}",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "warning",
                "-s",
                str(logdir / f"beat-{tag}.schedule"),
            ],
            env=env,
            logdir=logdir,
        )
    )
    return services
