"""Summarise a py-spy speedscope profile: the functions with the most inclusive and self time.

    .venv/bin/python -m bench.speedscope_top profile.json [--top 25] [--filter usage/]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter


_IDLE = ("select (", "_run_once (", "run_forever (", "_worker (", "wait (", "_wait_for_tstate_lock (",
         "Condition.wait (", "Runner.run (")


def summarise(path: str, *, top: int = 25, only: str | None = None, idle: bool = False) -> list[str]:
    with open(path) as handle:
        data = json.load(handle)
    frames = data["shared"]["frames"]
    inclusive: Counter = Counter()
    self_time: Counter = Counter()
    total = 0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"]):
            names = [f"{frames[i]['name']} ({frames[i].get('file', '').split('site-packages/')[-1].replace('/work/main/', '')}:{frames[i].get('line', 0)})" for i in stack]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default=None)
    parser.add_argument("--idle", action="store_true", help="count samples where the loop waits for I/O")
    arguments = parser.parse_args()
    print("\n".join(summarise(arguments.path, top=arguments.top, only=arguments.filter, idle=arguments.idle)))


if __name__ == "__main__":
    main()
