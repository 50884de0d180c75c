"""Period-end surge: usage piles up just before reporting-period boundaries.

Each period end P in ``signals.period_ends`` inside the window closes a period that began at the
previous end (or the window start). Its run-up is the last ``surge_days`` days before P. Over all such
periods: run-up share = tokens in run-ups / tokens in the periods; expected share = run-up time /
period time (what even use would give); ratio = run-up share / expected share. Usage after the last
period end belongs to no closed period and is ignored.

Flag when ratio >= ``surge_ratio``, with at least ``min_events`` calls and at least
``surge_baseline_days`` active days (UTC) outside the run-ups - someone who only appears in the
run-up (a new joiner) has no baseline to surge from - and with run-up tokens a day at least the peers'
typical active day (peer median of average tokens per active day), so a light user's small bump is
not a surge. Score: how far past the threshold the ratio is.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timezone

from governance.detectors.base import Finding, Thresholds, ValueSignals
from governance.detectors.evidence import count, decimal, make_finding, peer_clause, percent
from governance.detectors.grouping import DAY_SECONDS, Grouped, Person, as_detector, time_buckets
from governance.detectors.stats import over, peer_medians

NAME = "period_end_surge"

Span = tuple[float, float, float]  # period start, run-up start, period end (epoch seconds)


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for people whose usage surges before period ends (see the module docstring)."""
    window = grouped.window
    ends = sorted({p.timestamp() for p in signals.period_ends if window.start < p <= window.end})
    if not ends:
        return []
    spans: list[Span] = []
    previous = window.start.timestamp()
    for end in ends:
        spans.append((previous, max(end - thresholds.surge_days * DAY_SECONDS, previous), end))
        previous = end
    expected = sum(end - run for _, run, end in spans) / sum(end - begin for begin, _, end in spans)
    measured = {key: _measure(person, spans) for key, person in grouped.people.items()}
    ratios = {key: share / expected for key, (_, total, share, _) in measured.items() if total}
    peers = peer_medians(grouped, ratios)
    # A surge must also be real volume: run-up tokens a day at least the peers' typical active day.
    run_up_days = sum(end - run for _, run, end in spans) / DAY_SECONDS
    typical_day = peer_medians(grouped, {key: _average_day(p) for key, p in grouped.people.items() if p.events})
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        run_tokens, total, run_share, baseline_days = measured[key]
        ratio = ratios.get(key)
        if ratio is None or ratio < thresholds.surge_ratio or baseline_days < thresholds.surge_baseline_days:
            continue
        if run_tokens / run_up_days < typical_day.get(key, 0.0):
            continue
        peer = peers.get(key)
        in_run_up = [e for e in person.events if _in_run_up(e.created_at.timestamp(), spans)]
        in_run_up.sort(key=lambda e: (-e.total_tokens, e.request_id))
        findings.append(make_finding(
            grouped=grouped, person=person, detector=NAME, score=over(ratio, thresholds.surge_ratio),
            summary=(
                f"{percent(run_share)} of the tokens of the reporting period ({count(run_tokens)} of "
                f"{count(total)}) were used in the {decimal(thresholds.surge_days, 0)} days before it closed, "
                f"{decimal(ratio)}x the {percent(expected)} those days would account for"
                f"{peer_clause(grouped, person, peer, lambda r: decimal(r) + 'x')}."
            ),
            examples=(e.request_id for e in in_run_up),
            run_up_tokens=run_tokens,
            period_tokens=total,
            run_up_share=run_share,
            expected_share=expected,
            ratio=ratio,
            baseline_days=baseline_days,
            period_ends=[datetime.fromtimestamp(end, timezone.utc).isoformat() for end in ends],
            peer_median_ratio=peer,
        ))
    return findings


detect = as_detector(find)


def _measure(person: Person, spans: list[Span]) -> tuple[int, int, float, int]:
    """(run-up tokens, period tokens, run-up share, active days outside run-ups) of one person."""
    times, tokens = person.times, person.tokens()
    run_tokens = total = 0
    days: set[int] = set()
    for begin, run, end in spans:
        first, middle, last = bisect_left(times, begin), bisect_left(times, run), bisect_left(times, end)
        before = sum(tokens[first:middle])
        during = sum(tokens[middle:last])
        run_tokens += during
        total += before + during
        days.update(time_buckets(times, DAY_SECONDS, first, middle))
    return run_tokens, total, (run_tokens / total if total else 0.0), len(days)


def _average_day(person: Person) -> float:
    days = person.daily_tokens()
    return sum(days.values()) / len(days)


def _in_run_up(moment: float, spans: list[Span]) -> bool:
    return any(run <= moment < end for _, run, end in spans)

