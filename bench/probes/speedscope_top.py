"""Summarise a py-spy speedscope profile: the functions with the most inclusive and self time.

    .venv/bin/python -m bench.probes.speedscope_top profile.json [--top 25] [--filter usage/] [--breakdown [--cpu-ms 1.2]]

``--breakdown`` sorts every busy sample of a Tokenwise profile into one component of the hot path (the
innermost component on its stack; code resumed by the event loop by the library it belongs to), the
table in docs/performance.md; with ``--cpu-ms`` (the process's CPU per call, as ``make bench`` prints
it) each share is also given in ms per call.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

_IDLE = (
    "select (",
    "_run_once (",
    "run_forever (",
    "_worker (",
    "wait (",
    "_wait_for_tstate_lock (",
    "Condition.wait (",
    "Runner.run (",
)


def summarise(path: str, *, top: int = 25, only: str | None = None, idle: bool = False) -> list[str]:
    with open(path) as handle:
        data = json.load(handle)
    frames = data["shared"]["frames"]
    inclusive: Counter = Counter()
    self_time: Counter = Counter()
    total = 0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=False):
            names = [
                f"{frames[i]['name']} ({frames[i].get('file', '').split('site-packages/')[-1].replace('/work/main/', '')}:{frames[i].get('line', 0)})"
                for i in stack
            ]
            if not idle and names and names[-1].startswith(_IDLE):
                continue  # the event loop waiting for I/O, or an idle pool thread: not work
            total += weight
            for name in set(names):
                inclusive[name] += weight
            if names:
                self_time[names[-1]] += weight
    lines = [f"samples (busy): {total}"]
    for title, counter in (("inclusive", inclusive), ("self", self_time)):
        lines.append(f"--- top {top} by {title} time ---")
        shown = 0
        for name, weight in counter.most_common():
            if only and only not in name:
                continue
            lines.append(f"{100 * weight / max(total, 1):5.1f}%  {name}")
            shown += 1
            if shown >= top:
                break
    return lines


# (component, function-name prefixes); the innermost match on a stack wins.
COMPONENTS = (
    (
        "fingerprints (prompt hash, 2 SimHashes)",
        ("simhash64", "prompt_hash", "prompt_fingerprints", "_simhash_of", "text_of_messages", "Call.fingerprint"),
    ),
    ("Redis: admission script", ("RedisCounters.admit",)),
    ("Redis: settlement (written with the answer) and owner key", ("settlement_send",)),
    ("Redis: ledger publish (XADD)", ("usage_events_publish",)),
    (
        "Redis client (redis-py: pool, encode, write, parse replies)",
        ("Redis.execute_command", "Pipeline.execute", "ClusterPipeline.execute"),
    ),
    ("admission logic (policy, plan, headers)", ("admission_admit",)),
    (
        "settlement logic (tokens, price, cost, metrics)",
        ("Call._settle", "Call._record", "Call.finish", "after_response_run"),
    ),
    (
        "request and answer parsing (JSON, usage)",
        (
            "read_body",
            "Call.observe_request",
            "answer_whole",
            "forward_body",
            "tokens_from_usage",
            "output_text_of",
            "relay",
            "observe_event",
            "Call.output_text",
        ),
    ),
    ("upstream transport (aiohttp)", ("ClientSession.", "ClientResponse.", "StreamReader.")),
    ("key authentication", ("key_authenticate",)),
    ("uvicorn: writing the response (HTTP encoding, the socket write)", ("RequestResponseCycle.send",)),
    (
        "Django request cycle (URL resolution, request and response objects)",
        ("ASGIHandler.", "BaseHandler.", "LeanASGIHandler.", "Signal.", "SyncToAsync", "URLResolver"),
    ),
)
_BY_FILE = (
    ("/redis/", "Redis client (resumed by the event loop)"),
    ("/aiohttp/", "upstream transport (aiohttp)"),
    ("/django/", "Django request cycle (URL resolution, request and response objects)"),
    ("/asgiref/", "Django request cycle (URL resolution, request and response objects)"),
    ("/uvicorn/", "uvicorn HTTP and the event loop"),
    ("asyncio", "uvicorn HTTP and the event loop"),
)


def breakdown(path: str, *, cpu_ms: float | None = None) -> list[str]:
    with open(path) as handle:
        data = json.load(handle)
    frames = data["shared"]["frames"]
    shares: Counter = Counter()
    total = 0.0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=False):
            if not stack:
                continue
            names = [frames[i]["name"] for i in stack]
            if f"{names[-1]} (".startswith(_IDLE):
                continue
            total += weight
            chosen = next(
                (label for name in reversed(names) for label, prefixes in COMPONENTS if name.startswith(prefixes)), None
            )
            if chosen is None:
                files = [frames[i].get("file", "") for i in stack]
                chosen = next((label for marker, label in _BY_FILE if any(marker in f for f in files)), "other")
            shares[chosen] += weight
    share = {label: weight / max(total, 1) for label, weight in shares.items()}
    if cpu_ms is None:
        return [f"{100 * part:5.1f}%  {label}" for label, part in sorted(share.items(), key=lambda i: -i[1])]
    return [
        f"{100 * part:5.1f}%  {part * cpu_ms:5.3f} ms  {label}"
        for label, part in sorted(share.items(), key=lambda i: -i[1])
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default=None)
    parser.add_argument("--idle", action="store_true", help="count samples where the loop waits for I/O")
    parser.add_argument("--breakdown", action="store_true", help="CPU share of each hot-path component")
    parser.add_argument("--cpu-ms", type=float, default=None, help="with --breakdown: CPU ms per call, to scale")
    arguments = parser.parse_args()
    if arguments.breakdown:
        print("\n".join(breakdown(arguments.path, cpu_ms=arguments.cpu_ms)))
        return
    print("\n".join(summarise(arguments.path, top=arguments.top, only=arguments.filter, idle=arguments.idle)))


if __name__ == "__main__":
    main()
