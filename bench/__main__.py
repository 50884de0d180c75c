"""``make bench`` / ``python -m bench``: every performance target of the project, measured side by side.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tokenwise_bench REDIS_URL=redis://127.0.0.1:6379/10 \
        .venv/bin/python -m bench [--quick] [--only proxy,ledger,reports,detectors,memory]

Needs PostgreSQL and Redis (a scratch database and Redis db: the benchmark writes to them). Prints each
target with its figure and PASS/FAIL, then a summary; exits 1 when a target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

SECTIONS = ("proxy", "ledger", "memory", "reports", "detectors")
PROXY_PARTS = ("latency", "throughput")  # --only latency / throughput: one half of "proxy"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer requests (a few minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of Tokenwise and of the floor")
    parser.add_argument("--events", type=int, default=None, help="events for the reports data set")
    parser.add_argument("--logdir", default=None, help="where the servers' logs go (default: a temp dir)")
    return parser.parse_args()


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) or not os.environ.get("REDIS_URL"):
        sys.exit("The benchmark needs DATABASE_URL (PostgreSQL) and REDIS_URL, pointing at scratch stores.")
    from bench.harness.database import database_ensure

    database_ensure(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def main() -> int:
    arguments = _arguments()
    sections = [s.strip() for s in arguments.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS) - set(PROXY_PARTS)
    if unknown:
        sys.exit(f"unknown sections: {', '.join(sorted(unknown))}")
    _django_setup()
    from bench.harness import report

    logdir = Path(arguments.logdir or tempfile.mkdtemp(prefix="tokenwise-bench-"))
    print(
        f"Tokenwise benchmark ({'quick' if arguments.quick else 'full'}); {os.cpu_count()} CPUs; "
        f"server logs in {logdir}",
        flush=True,
    )
    started = time.monotonic()
    parts = {part for part in PROXY_PARTS if "proxy" in sections or part in sections}
    if parts or "ledger" in sections:
        from bench.harness.run_proxy import proxy_and_ledger

        asyncio.run(
            proxy_and_ledger(
                logdir=logdir,
                quick=arguments.quick,
                workers=arguments.workers,
                proxy=parts,
                ledger="ledger" in sections,
            )
        )
    if "memory" in sections:
        from bench.probes.memory_bench import memory

        asyncio.run(memory(logdir=logdir, quick=arguments.quick))
    if "reports" in sections:
        from bench.probes.reports_bench import reports

        reports(quick=arguments.quick, events=arguments.events)
    if "detectors" in sections:
        from bench.probes.detection_bench import detection

        detection(quick=arguments.quick)
    print(f"\nbenchmark took {time.monotonic() - started:.0f} s")
    return 1 if report.summary() else 0


if __name__ == "__main__":
    sys.exit(main())
