"""Printing results: one line per target with its figure, its limit and PASS/FAIL."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence

from bench.loadgen import percentile


@dataclasses.dataclass(slots=True)
class Check:
    section: str
    name: str
    measured: str
    limit: str
    passed: bool | None  # None: informational, or not measured


RESULTS: list[Check] = []


def check(section: str, name: str, *, measured: str, limit: str, passed: bool | None) -> Check:
    item = Check(section, name, measured, limit, passed)
    RESULTS.append(item)
    mark = {True: "PASS", False: "FAIL", None: "----"}[passed]
    print(f"  [{mark}] {name}: {measured}  (target {limit})", flush=True)
    return item


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def stats_ms(values: Sequence[float]) -> str:
    """median / p95 / p99 in milliseconds."""
    return (f"p50 {statistics.median(values) * 1000:.2f}  p95 {percentile(values, 0.95) * 1000:.2f}  "
            f"p99 {percentile(values, 0.99) * 1000:.2f} ms (n={len(values)})")


def summary() -> int:
    """Print the final table; return the number of failed targets."""
    print("\n" + "=" * 100)
    print("SUMMARY")
    print("=" * 100)
    width = max((len(item.name) for item in RESULTS), default=10)
    failed = 0
    for item in RESULTS:
        mark = {True: "PASS", False: "FAIL", None: "----"}[item.passed]
        failed += item.passed is False
        print(f"[{mark}] {item.section:<10} {item.name:<{width}}  {item.measured}  (target {item.limit})")
    print("=" * 100)
    print("all targets passed" if not failed else f"{failed} target(s) FAILED")
    return failed
