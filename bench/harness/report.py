"""Printing results: one line per target with its figure, its limit and PASS/FAIL."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence

from bench.harness.loadgen import percentile


@dataclasses.dataclass(slots=True)
class Check:
    section: str
    name: str
    measured: str
    limit: str
    passed: bool | None  # None: informational, or not measured
    gating: bool = True  # False: a target aimed at but not yet met; printed, not failing the benchmark

    @property
    def mark(self) -> str:
        if self.passed is False and not self.gating:
            return "TARGET (not met)"
        return {True: "PASS", False: "FAIL", None: "----"}[self.passed]

    @property
    def failed(self) -> bool:
        return self.passed is False and self.gating


RESULTS: list[Check] = []


def check(section: str, name: str, *, measured: str, limit: str, passed: bool | None, gating: bool = True) -> Check:
    """Record and print one target; ``gating=False`` for one not met yet (no FAIL, no exit status)."""
    item = Check(section, name, measured, limit, passed, gating)
    RESULTS.append(item)
    print(f"  [{item.mark}] {name}: {measured}  (target {limit})", flush=True)
    return item


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def stats_ms(values: Sequence[float]) -> str:
    """median / p95 / p99 in milliseconds."""
    return (
        f"p50 {statistics.median(values) * 1000:.2f}  p95 {percentile(values, 0.95) * 1000:.2f}  "
        f"p99 {percentile(values, 0.99) * 1000:.2f} ms (n={len(values)})"
    )


def summary() -> int:
    """Print the final table; return the number of failed targets."""
    print("\n" + "=" * 100)
    print("SUMMARY")
    print("=" * 100)
    width = max((len(item.name) for item in RESULTS), default=10)
    failed = 0
    for item in RESULTS:
        failed += item.failed
        print(f"[{item.mark}] {item.section:<10} {item.name:<{width}}  {item.measured}  (target {item.limit})")
    print("=" * 100)
    print("all targets passed" if not failed else f"{failed} target(s) FAILED")
    return failed
