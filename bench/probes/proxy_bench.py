"""Target 1: the latency Tokenwise adds at concurrency 1, and its throughput at concurrency 50.

The targets (direct upstream, the bare forwarder without Django, the floor and lean floor on Django,
Tokenwise) are measured in alternating blocks of requests, rotating the order every round, so drift on
the machine (another process, CPU frequency) spreads over all of them alike.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.harness.loadgen import Sample, percentile, run_count, run_duration
from bench.harness.processes import cpu_seconds
from bench.harness.report import check, ms, stats_ms
from bench.harness.stack import Stack

OVERHEAD_MEDIAN_S = 0.002
OVERHEAD_P99_S = 0.010
THROUGHPUT_RATIO = 0.60
# Issue 18: Tokenwise / bare forwarder (raw ASGI, no Django) >= 60 % at concurrency 50. Aimed at, not
# met yet (docs/performance.md, "The bare-forwarder floor"): printed as TARGET (not met) and left out of
# the exit status until it passes; then set this to True so that a regression fails the benchmark.
BARE_RATIO_GATES = False


def _rotations(names: list[str], rounds: int):
    for index in range(rounds):
        shift = index % len(names)
        yield names[shift:] + names[:shift]


def _assert_ok(name: str, samples: list[Sample]) -> None:
    bad = [s.status for s in samples if s.status != 200]
    if bad:
        raise RuntimeError(f"{name}: {len(bad)} of {len(samples)} requests failed (statuses {sorted(set(bad))})")


async def latency(
    stack: Stack, *, secret: str, stream: bool, rounds: int, per_round: int, warmup: int, protocol: str = "chat"
) -> dict[str, list[Sample]]:
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
        bare_overhead = statistics.median(values["bare"]) - statistics.median(direct)
        floor_overhead = statistics.median(values["floor"]) - statistics.median(direct)
        lean_overhead = statistics.median(values["lean floor"]) - statistics.median(direct)
        print(
            f"    added over direct: bare p50 {ms(bare_overhead)}, floor p50 {ms(floor_overhead)}, "
            f"lean floor p50 {ms(lean_overhead)}; "
            f"tokenwise p50 {ms(median_overhead)}, "
            f"p95 {ms(percentile(tokenwise, 0.95) - percentile(direct, 0.95))}, p99 {ms(p99_overhead)}"
        )
        check(
            "overhead",
            f"{kind} {label}: added latency p50",
            measured=ms(median_overhead),
            limit=f"< {ms(OVERHEAD_MEDIAN_S)}",
            passed=median_overhead < OVERHEAD_MEDIAN_S,
        )
        check(
            "overhead",
            f"{kind} {label}: added latency p99",
            measured=ms(p99_overhead),
            limit=f"< {ms(OVERHEAD_P99_S)}",
            passed=p99_overhead < OVERHEAD_P99_S,
        )


async def throughput(
    stack: Stack,
    *,
    secret: str,
    stream: bool,
    rounds: int,
    seconds: float,
    concurrency: int = 50,
    protocol: str = "chat",
) -> None:
    """Calls per second of every target at ``concurrency``, and the CPU each spends per call.

    CPU per call is read from /proc over each block: the server's own processes (uvicorn and its
    workers; for Tokenwise also its Celery worker and beat, which drain the ledger), and the fake
    upstream's apart. Redis and PostgreSQL are shared with other users of the machine and not counted.
    """
    kind = ("Messages " if protocol == "messages" else "") + ("streaming" if stream else "non-streaming")
    targets = stack.targets(secret=secret, stream=stream, protocol=protocol)
    servers = {
        "direct": [stack.upstream],
        "bare": [stack.bare],
        "floor": [stack.floor],
        "lean floor": [stack.floor_lean],
        "tokenwise": [stack.tokenwise, *stack.celery],
    }
    rates: dict[str, list[float]] = defaultdict(list)
    latencies: dict[str, list[float]] = defaultdict(list)
    own_ms: dict[str, list[float]] = defaultdict(list)
    workers_ms: dict[str, list[float]] = defaultdict(list)  # Celery's part of Tokenwise's
    upstream_ms: dict[str, list[float]] = defaultdict(list)
    for order in _rotations(list(targets), rounds):
        for name in order:
            web, *others = servers[name]
            groups = [
                web.pids(),
                [pid for service in others for pid in service.pids()],
                stack.upstream.pids() if name != "direct" else [],
            ]
            before = [cpu_seconds(pids) for pids in groups]
            rate, samples = await run_duration(targets[name], seconds=seconds, concurrency=concurrency)
            used = [
                (cpu_seconds(pids) - start) * 1000 / max(1, len(samples))
                for pids, start in zip(groups, before, strict=False)
            ]
            _assert_ok(name, samples)
            rates[name].append(rate)
            latencies[name].extend(s.total_s for s in samples)
            own_ms[name].append(used[0] + used[1])
            workers_ms[name].append(used[1])
            upstream_ms[name].append(used[2])
    print(f"  {kind} throughput, concurrency {concurrency}, {rounds} x {seconds:.0f} s per target:")
    for name in targets:
        own, up = statistics.median(own_ms[name]), statistics.median(upstream_ms[name])
        celery = f", Celery {statistics.median(workers_ms[name]):.2f} of it" if name == "tokenwise" else ""
        print(
            f"    {name:<11} {statistics.median(rates[name]):8.0f} req/s (runs: "
            f"{', '.join(f'{r:.0f}' for r in rates[name])}); server CPU {own:.2f} ms/req{celery} "
            f"({own + up:.2f} incl. upstream); latency {stats_ms(latencies[name])}"
        )
    rate = {name: statistics.median(values) for name, values in rates.items()}
    cpu = {name: statistics.median(values) for name, values in own_ms.items()}
    ratio = rate["tokenwise"] / rate["floor"]
    lean = rate["tokenwise"] / rate["lean floor"]
    bare = rate["tokenwise"] / rate["bare"]
    print(
        f"    Tokenwise / bare forwarder (raw ASGI, no Django): {bare:.0%}, beside Tokenwise / floor "
        f"(Django's handler): {ratio:.0%}; server CPU per call: Tokenwise {cpu['tokenwise']:.2f} ms, "
        f"bare {cpu['bare']:.2f} ms, floor {cpu['floor']:.2f} ms, lean floor {cpu['lean floor']:.2f} ms"
    )
    print(f"    Tokenwise / lean floor (the same serving layer as Tokenwise; context, not the target): {lean:.0%}")
    check(
        "throughput",
        f"{kind} at concurrency {concurrency}: Tokenwise / floor (Django's handler)",
        measured=f"{ratio:.0%} ({rate['tokenwise']:.0f} vs {rate['floor']:.0f} req/s)",
        limit=f">= {THROUGHPUT_RATIO:.0%}",
        passed=ratio >= THROUGHPUT_RATIO,
    )
    check(
        "throughput",
        f"{kind} at concurrency {concurrency}: Tokenwise / bare forwarder (no Django)",
        measured=f"{bare:.0%} ({rate['tokenwise']:.0f} vs {rate['bare']:.0f} req/s; CPU "
        f"{cpu['tokenwise']:.2f} vs {cpu['bare']:.2f} ms/req)",
        limit=f">= {THROUGHPUT_RATIO:.0%}",
        passed=bare >= THROUGHPUT_RATIO,
        gating=BARE_RATIO_GATES,
    )
