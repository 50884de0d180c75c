"""``python manage.py serve [--demo]``: migrate, optionally seed the demo org, and run the ASGI server."""

from __future__ import annotations

import os
import socket

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run Tokenwise with uvicorn (migrations applied first). --demo also creates a demo organisation."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TOKENWISE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TOKENWISE_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("TOKENWISE_WORKERS", "1")))
        parser.add_argument("--demo", action="store_true", help="seed the demo org and its demo upstream")
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, **options):
        _port_check(options["host"], options["port"], demo=options["demo"])
        workers = options["workers"]
        if settings.EMBEDDED and workers > 1:
            raise CommandError("The embedded mode keeps counters in-process: run one worker, or set REDIS_URL.")
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        base_url = f"http://{options['host']}:{options['port']}"
        if options["demo"]:
            if not settings.TOKENWISE_DEMO_UPSTREAM:
                raise CommandError("--demo needs the built-in demo upstream: set TOKENWISE_DEMO_UPSTREAM=true.")
            call_command("seed_demo", base_url=base_url, stdout=self.stdout)
        mode = "embedded (SQLite, in-process counters, eager tasks)" if settings.EMBEDDED else "Redis + database"
        self.stdout.write(f"Tokenwise on {base_url}  - OpenAI base URL: {base_url}/v1  - mode: {mode}")
        uvicorn.run(
            "config.asgi:application",
            host=options["host"],
            port=options["port"],
            workers=workers,
            log_level=os.environ.get("TOKENWISE_LOG_LEVEL", "info"),
            lifespan="off",
            timeout_graceful_shutdown=10,
        )


def _port_check(host: str, port: int, *, demo: bool) -> None:
    """CommandError when ``host:port`` cannot be listened on (another server has it), before anything is
    migrated or seeded - so no keys are printed for a server that will never start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            other = port + 1
            how = f"make {'demo' if demo else 'run'} PORT={other}" + (
                f" (or: python manage.py serve{' --demo' if demo else ''} --port {other})"
            )
            raise CommandError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}): another server is "
                f"probably using it. Pick another port: {how}."
            ) from None
