"""Profile Tokenwise's hot path with py-spy while the load generator drives it.

    DATABASE_URL=postgres://... REDIS_URL=redis://... \
        .venv/bin/python -m bench.probes.profile_hot_path [--stream] [--concurrency 1] [--seconds 20] [--out /tmp/tw.json]

Starts the fake upstream and one Tokenwise uvicorn process (plus Celery), attaches ``py-spy record``
(speedscope format) to the Tokenwise process, drives it, then prints the functions with the most
inclusive and self time (samples where the event loop only waits for I/O are left out).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness.processes import ROOT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", default=None)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--filter", default=None)
    parser.add_argument(
        "--target",
        choices=("tokenwise", "bare", "floor", "lean floor"),
        default="tokenwise",
        help="profile Tokenwise or a forwarder: bare (no Django), floor or lean floor (on Django)",
    )
    arguments = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from asgiref.sync import async_to_sync

    from bench.harness.loadgen import run_count, run_duration
    from bench.harness.org import bench_org_create
    from bench.harness.stack import stack_start
    from bench.probes.speedscope_top import summarise

    logdir = Path(tempfile.mkdtemp(prefix="tokenwise-profile-"))
    out = arguments.out or str(logdir / "tokenwise.speedscope.json")
    org = bench_org_create(label="profile")
    stack = stack_start(logdir=logdir, workers=1)
    try:
        target = stack.targets(secret=org.secret, stream=arguments.stream)[arguments.target]
        server = {
            "tokenwise": stack.tokenwise,
            "bare": stack.bare,
            "floor": stack.floor,
            "lean floor": stack.floor_lean,
        }[arguments.target]
        async_to_sync(run_count)(target, requests=300, concurrency=1)
        spy = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "py-spy"),
                "record",
                "-p",
                str(server.proc.pid),
                "-d",
                str(int(arguments.seconds)),
                "-r",
                str(arguments.rate),
                "-f",
                "speedscope",
                "-o",
                out,
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rate, samples = asyncio.run(
            run_duration(target, seconds=arguments.seconds - 1, concurrency=arguments.concurrency, warmup_s=0.5)
        )
        spy.wait(timeout=arguments.seconds + 60)
    finally:
        stack.stop()
    print(
        f"{len(samples)} calls at {rate:.0f}/s, concurrency {arguments.concurrency}, "
        f"{'streaming' if arguments.stream else 'non-streaming'}; profile: {out}"
    )
    print("\n".join(summarise(out, top=arguments.top, only=arguments.filter)))


if __name__ == "__main__":
    sys.exit(main())
