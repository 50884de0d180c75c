"""The stack under test: fake upstream, the forwarders, and Tokenwise in its production layout.

The forwarders: the bare one (bench/probes/bare.py: raw ASGI, no Django) and the two on Django
(bench/probes/floor.py: Django's own handler, and the lean handler Tokenwise serves ``/v1/`` with).

Tokenwise runs as it does in production: ``uvicorn config.asgi:application`` with several workers on
PostgreSQL and Redis, a Celery worker draining the ledger stream and Celery beat scheduling it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from bench.harness.loadgen import Target, build_request, chat_body, messages_body
from bench.harness.processes import Service, celery_services, cpu_seconds, upstream_service, uvicorn_service

BENCH_SECRET_KEY = "bench-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuvwxyz"


def tokenwise_env(*, upstream_port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Tokenwise process (web, Celery): production mode, our PG and Redis."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TOKENWISE_PRODUCTION": "true",
            "DEBUG": "false",
            "SECRET_KEY": env.get("SECRET_KEY") or BENCH_SECRET_KEY,
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TOKENWISE_DEMO_UPSTREAM": "false",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
            "OPENAI_API_KEY": "sk-bench-upstream",
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{upstream_port}",
            "ANTHROPIC_API_KEY": "sk-bench-upstream",
            "PYTHONUNBUFFERED": "1",
            "TOKENWISE_SSL_REDIRECT": "false",  # TLS ends at the load balancer
        }
    )
    env.update(extra or {})
    return env


@dataclasses.dataclass
class Stack:
    logdir: Path
    upstream: Service
    bare: Service
    floor: Service
    floor_lean: Service
    tokenwise: Service
    celery: list[Service]

    def settle(self, *, quiet_cpu_s: float = 0.1, timeout_s: float = 900.0) -> float:
        """Wait until Celery has done the jobs a freshly started beat runs at once, and return how long.

        A new beat schedule makes every periodic job due at start: detection over the last 30 days,
        rollups, reconcile - hourly or slower jobs, on worker hosts in production (docs/scaling.md), here
        on the two cores the proxy is measured on, so they are let finish first (about 2 s here).
        Quiet: the workers used under ``quiet_cpu_s`` of CPU in each of two consecutive seconds (the
        ledger drain every second stays, it is the hot path's own work).
        """
        started = time.monotonic()
        pids = [pid for service in self.celery for pid in service.pids()]
        quiet, before = 0, cpu_seconds(pids)
        while quiet < 2 and time.monotonic() - started < timeout_s:
            time.sleep(1.0)
            now = cpu_seconds(pids)
            quiet, before = (quiet + 1 if now - before < quiet_cpu_s else 0), now
        return time.monotonic() - started

    def stop(self) -> None:
        for service in [self.tokenwise, self.bare, self.floor, self.floor_lean, *self.celery, self.upstream]:
            service.stop()

    def targets(self, *, secret: str, stream: bool, protocol: str = "chat") -> dict[str, Target]:
        """The same call to each server: OpenAI's chat completions, or (``messages``) Anthropic's Messages."""
        body = messages_body(stream=stream) if protocol == "messages" else chat_body(stream=stream)
        path = "/v1/messages" if protocol == "messages" else "/v1/chat/completions"
        return {
            "direct": Target(
                "direct",
                "127.0.0.1",
                self.upstream.port,
                build_request(host="127.0.0.1", port=self.upstream.port, path=path, body=body),
            ),
            "bare": Target(
                "bare",
                "127.0.0.1",
                self.bare.port,
                build_request(host="127.0.0.1", port=self.bare.port, path=path, body=body),
            ),
            "floor": Target(
                "floor",
                "127.0.0.1",
                self.floor.port,
                build_request(host="127.0.0.1", port=self.floor.port, path=path, body=body),
            ),
            "lean floor": Target(
                "lean floor",
                "127.0.0.1",
                self.floor_lean.port,
                build_request(host="127.0.0.1", port=self.floor_lean.port, path=path, body=body),
            ),
            "tokenwise": Target(
                "tokenwise",
                "127.0.0.1",
                self.tokenwise.port,
                build_request(host="127.0.0.1", port=self.tokenwise.port, path=path, body=body, api_key=secret),
            ),
        }


def stack_start(*, logdir: Path, workers: int, celery_workers: int = 1, chunk_delay_ms: float = 0.0) -> Stack:
    """Start everything and wait until every server accepts connections."""
    logdir.mkdir(parents=True, exist_ok=True)
    upstream = upstream_service(logdir=logdir, env=dict(os.environ), chunk_delay_ms=chunk_delay_ms).start()
    env = tokenwise_env(upstream_port=upstream.port)
    floor_env = dict(os.environ, BENCH_UPSTREAM_URL=f"http://127.0.0.1:{upstream.port}")
    floor_env.pop("DJANGO_SETTINGS_MODULE", None)
    started: list[Service] = [upstream]
    try:
        bare = uvicorn_service("bare", "bench.probes.bare:application", logdir=logdir, env=floor_env, workers=workers)
        started.append(bare.start())
        floor = uvicorn_service(
            "floor", "bench.probes.floor:application", logdir=logdir, env=floor_env, workers=workers
        )
        started.append(floor.start())
        floor_lean = uvicorn_service(
            "floor-lean", "bench.probes.floor:lean_application", logdir=logdir, env=floor_env, workers=workers
        )
        started.append(floor_lean.start())
        tokenwise = uvicorn_service("tokenwise", "config.asgi:application", logdir=logdir, env=env, workers=workers)
        started.append(tokenwise.start())
        celery = celery_services(logdir=logdir, env=env, workers=celery_workers)
        for service in celery:
            started.append(service.start(wait=False))
    except BaseException:
        for service in reversed(started):
            service.stop()
        raise
    return Stack(
        logdir=logdir,
        upstream=upstream,
        bare=bare,
        floor=floor,
        floor_lean=floor_lean,
        tokenwise=tokenwise,
        celery=celery,
    )
