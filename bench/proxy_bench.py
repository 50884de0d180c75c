"""Target 1: the latency Tokenwise adds at concurrency 1, and its throughput at concurrency 50.

The three targets (direct upstream, bare forwarder, Tokenwise) are measured in alternating blocks of
requests, rotating the order every round, so drift on the machine (another process, CPU frequency)
spreads over all of them alike.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.loadgen import Sample, percentile, run_count, run_duration
from bench.processes import cpu_seconds
from bench.report import check, ms, stats_ms
from bench.stack import Stack

OVERHEAD_MEDIAN_S = 0.002
OVERHEAD_P99_S = 0.010
THROUGHPUT_RATIO = 0.60


def _rotations(names: list[str], rounds: int):
    for index in range(rounds):
        shift = index % len(names)
        yield names[shift:] + names[:shift]


def _assert_ok(name: str, samples: list[Sample]) -> None:
    bad = [s.status for s in samples if s.status != 200]
    if bad:
        raise RuntimeError(f"{name}: {len(bad)} of {len(samples)} requests failed (statuses {sorted(set(bad))})")


async def latency(stack: Stack, *, secret: str, stream: bool, rounds: int, per_round: int,
                  warmup: int, protocol: str = "chat") -> dict[str, list[Sample]]:
    targets = stack.targets(secret=secret, stream=stream, protocol=protocol)
    for target in targets.values():
        _assert_ok(target.name, await run_count(target, requests=warmup, concurrency=1))
    samples: dict[str, list[Sample]] = defaultdict(list)
    for order in _rotations(list(targets), rounds):
        for name in order:
            block = await run_count(targets[name], requests=per_round, concurrency=1)
            _assert_ok(name, block)
            samples[name].extend(block)
    return samples


def latency_report(samples: dict[str, list[Sample]], *, stream: bool, protocol: str = "chat") -> None:
    kind = ("Messages " if protocol == "messages" else "") + ("streaming" if stream else "non-streaming")
    measures = [("TTFB", "ttfb_s"), ("full stream", "total_s")] if stream else [("response", "total_s")]
    for label, field in measures:
        print(f"  {kind} {label}, concurrency 1:")
        values = {name: [getattr(s, field) for s in block] for name, block in samples.items()}
        for name, series in values.items():
            print(f"    {name:<11} {stats_ms(series)}")
        direct, tokenwise = values["direct"], values["tokenwise"]
        median_overhead = statistics.median(tokenwise) - statistics.median(direct)
        p99_overhead = percentile(tokenwise, 0.99) - percentile(direct, 0.99)
        floor_overhead = statistics.median(values["floor"]) - statistics.median(direct)
        lean_overhead = statistics.median(values["lean floor"]) - statistics.median(direct)
        print(f"    added over direct: floor p50 {ms(floor_overhead)}, lean floor p50 {ms(lean_overhead)}; "
              f"tokenwise p50 {ms(median_overhead)}, "
              f"p95 {ms(percentile(tokenwise, 0.95) - percentile(direct, 0.95))}, p99 {ms(p99_overhead)}")
        check("overhead", f"{kind} {label}: added latency p50", measured=ms(median_overhead),
              limit=f"< {ms(OVERHEAD_MEDIAN_S)}", passed=median_overhead < OVERHEAD_MEDIAN_S)
        check("overhead", f"{kind} {label}: added latency p99", measured=ms(p99_overhead),
              limit=f"< {ms(OVERHEAD_P99_S)}", passed=p99_overhead < OVERHEAD_P99_S)


async def throughput(stack: Stack, *, secret: str, stream: bool, rounds: int, seconds: float,
                     concurrency: int = 50, protocol: str = "chat") -> None:
    kind = ("Messages " if protocol == "messages" else "") + ("streaming" if stream else "non-streaming")
    targets = stack.targets(secret=secret, stream=stream, protocol=protocol)
    servers = {"direct": stack.upstream, "floor": stack.floor, "lean floor": stack.floor_lean,
               "tokenwise": stack.tokenwise}
    rates: dict[str, list[float]] = defaultdict(list)
    latencies: dict[str, list[float]] = defaultdict(list)
    cpu_ms: dict[str, list[float]] = defaultdict(list)
    for order in _rotations(list(targets), rounds):
        for name in order:
            pids = servers[name].pids() + (stack.upstream.pids() if name != "direct" else [])
            before = cpu_seconds(pids)
            rate, samples = await run_duration(targets[name], seconds=seconds, concurrency=concurrency)
            used = cpu_seconds(pids) - before
            _assert_ok(name, samples)
            rates[name].append(rate)
            latencies[name].extend(s.total_s for s in samples)
            cpu_ms[name].append(used * 1000 / max(1, len(samples)))
    print(f"  {kind} throughput, concurrency {concurrency}, {rounds} x {seconds:.0f} s per target:")
    for name in targets:
        print(f"    {name:<11} {statistics.median(rates[name]):8.0f} req/s (runs: "
              f"{', '.join(f'{r:.0f}' for r in rates[name])}); server CPU {statistics.median(cpu_ms[name]):.2f} "
              f"ms/req incl. upstream; latency {stats_ms(latencies[name])}")
    ratio = statistics.median(rates["tokenwise"]) / statistics.median(rates["floor"])
    lean = statistics.median(rates["tokenwise"]) / statistics.median(rates["lean floor"])
    print(f"    Tokenwise / lean floor (the same serving layer as Tokenwise; context, not the target): {lean:.0%}")
    check("throughput", f"{kind} at concurrency {concurrency}: Tokenwise / bare forwarder",
          measured=f"{ratio:.0%} ({statistics.median(rates['tokenwise']):.0f} vs "
                   f"{statistics.median(rates['floor']):.0f} req/s)",
          limit=f">= {THROUGHPUT_RATIO:.0%}", passed=ratio >= THROUGHPUT_RATIO)
