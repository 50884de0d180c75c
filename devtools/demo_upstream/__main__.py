"""Command line: serve Tokenwise's demo upstream (synthetic OpenAI answers) with uvicorn.

    python -m devtools.demo_upstream --host 127.0.0.1 --port 9100 [--api-key KEY] [--latency-ms 0]
        [--chunk-delay-ms 0] [--framing NAME] [--workers 1] [--fd N] [--log-level warning] [--access-log]

``--fd`` serves on an already-bound socket (the test helper passes one bound to port 0, so there is no
race for a free port). With ``--workers`` > 1 the options reach the worker processes through the
``TOKENWISE_DEMO_UPSTREAM_OPTIONS`` variable that this command sets for them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import uvicorn

from .app import DemoUpstream, make_app
from .framing import FRAMINGS

_OPTIONS_VARIABLE = "TOKENWISE_DEMO_UPSTREAM_OPTIONS"


def app_from_options() -> DemoUpstream:
    """uvicorn factory for worker processes: rebuild the app from the options the command passed on."""
    return make_app(**json.loads(os.environ.get(_OPTIONS_VARIABLE, "{}")))


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo_upstream",
        description="Tokenwise's built-in demo upstream: an OpenAI-compatible server with synthetic answers.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--fd", type=int, default=None, help="serve on this already-bound socket")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait before every answer")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="wait after each streamed chunk")
    parser.add_argument("--framing", default=None, choices=FRAMINGS, help="how streams are written by default")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--access-log", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = _arguments(argv)
    options = {
        "api_key": arguments.api_key,
        "latency_ms": arguments.latency_ms,
        "chunk_delay_ms": arguments.chunk_delay_ms,
        "framing": arguments.framing,
    }
    where = f"fd {arguments.fd}" if arguments.fd is not None else f"http://{arguments.host}:{arguments.port}/v1"
    print(f"Tokenwise demo upstream (synthetic answers, not a real model) on {where}", file=sys.stderr, flush=True)
    server = {
        "host": arguments.host,
        "port": arguments.port,
        "fd": arguments.fd,
        "log_level": arguments.log_level,
        "access_log": arguments.access_log,
        "timeout_graceful_shutdown": 2,
    }
    if arguments.workers > 1:
        os.environ[_OPTIONS_VARIABLE] = json.dumps(options)
        uvicorn.run(f"{__package__}.__main__:app_from_options", factory=True, workers=arguments.workers, **server)
    else:
        uvicorn.run(make_app(**options), **server)


if __name__ == "__main__":
    main()
