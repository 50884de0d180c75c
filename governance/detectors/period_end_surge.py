"""Period-end surge: usage piles up just before reporting-period boundaries, and value does not.

Each period end P in ``signals.period_ends`` inside the window closes a period that began at the
previous end (or the window start). Its run-up is the last ``surge_days`` days before P. Over all such
periods, per person: run-up share = tokens in run-ups / tokens in the periods; expected share = the
person's active days (UTC) in run-ups / their active days in the periods - what their own working
days would give, so a new joiner, someone back from leave or a part-timer is measured against the days
they were there; ratio = run-up share / expected share. Usage after the last period end belongs to no
closed period and is ignored.

Flag when ratio >= ``surge_ratio``, with at least ``min_events`` calls and at least
``surge_baseline_days`` active days outside the run-ups - someone who only appears in the run-up has
no baseline to surge from - and with run-up tokens a day at least the peers' typical active day (peer
median of average tokens per active day), so a light user's small bump is not a surge; unless the
value came with the tokens (``value.value_followed``: the run-ups' value rate against the rest of the
periods, shrunk by the peers' median value, reaches the token rate ratio ** ``value_follows_ratio``: a
deadline that ships) or the person's value
is well above their peers' (``value``). Score: how far past the threshold the ratio is.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, datetime

from governance.detectors.base import Finding, Thresholds, ValueSignals
from governance.detectors.evidence import count, decimal, make_finding, peer_clause, percent
from governance.detectors.grouping import DAY_SECONDS, Grouped, Person, as_detector, time_buckets
from governance.detectors.stats import over, peer_medians
from governance.detectors.value import outcome_value_between, value_followed, value_sides

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
    measured = {key: _measure(person, spans) for key, person in grouped.people.items()}
    ratios = {key: share / expected for key, (_, total, share, _, expected) in measured.items() if total and expected}
    peers = peer_medians(grouped, ratios)
    # A surge must also be real volume: run-up tokens a day at least the peers' typical active day.
    run_up_days = sum(end - run for _, run, end in spans) / DAY_SECONDS
    typical_day = peer_medians(grouped, {key: _average_day(p) for key, p in grouped.people.items() if p.events})
    sides = value_sides(grouped, signals)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        run_tokens, total, run_share, baseline_days, expected = measured[key]
        ratio = ratios.get(key)
        if ratio is None or ratio < thresholds.surge_ratio or baseline_days < thresholds.surge_baseline_days:
            continue
        if run_tokens / run_up_days < typical_day.get(key, 0.0):
            continue
        if sides[key].well_above(thresholds):
            continue
        period_value = sum(outcome_value_between(grouped, signals, person, begin, end) for begin, _, end in spans)
        run_value = sum(outcome_value_between(grouped, signals, person, run, end) for _, run, end in spans)
        value_share = run_value / period_value if period_value else 0.0
        if value_followed(
            value_in=run_value,
            value_all=period_value,
            expected_share=expected,
            token_share=run_share,
            prior=sides[key].peer_value or 0.0,
            ratio=thresholds.value_follows_ratio,
        ):
            continue
        peer = peers.get(key)
        in_run_up = [e for e in person.events if _in_run_up(e.created_at.timestamp(), spans)]
        in_run_up.sort(key=lambda e: (-e.total_tokens, e.request_id))
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=over(ratio, thresholds.surge_ratio),
                summary=(
                    f"{percent(run_share)} of the tokens of the reporting periods ({count(run_tokens)} of "
                    f"{count(total)}) were used in the {decimal(thresholds.surge_days, 0)} days before each closed, "
                    f"{decimal(ratio)} times the {percent(expected)} those working days would account for"
                    f"{peer_clause(grouped, person, peer, lambda r: decimal(r) + ' times')}; "
                    f"{percent(value_share)} of the period's outcome value came in those days."
                ),
                value_side=sides[key],
                examples=(e.request_id for e in in_run_up),
                run_up_tokens=run_tokens,
                period_tokens=total,
                run_up_share=run_share,
                expected_share=expected,
                ratio=ratio,
                run_up_value_share=value_share,
                baseline_days=baseline_days,
                period_ends=[datetime.fromtimestamp(end, UTC).isoformat() for end in ends],
                peer_median_ratio=peer,
            )
        )
    return findings


detect = as_detector(find)


def _measure(person: Person, spans: list[Span]) -> tuple[int, int, float, int, float]:
    """(run-up tokens, period tokens, run-up share, active days outside run-ups, expected share) of one
    person; the expected share is their active days in run-ups / their active days in the periods."""
    times, tokens = person.times, person.tokens()
    run_tokens = total = 0
    days: set[int] = set()
    run_days: set[int] = set()
    for begin, run, end in spans:
        first, middle, last = bisect_left(times, begin), bisect_left(times, run), bisect_left(times, end)
        before = sum(tokens[first:middle])
        during = sum(tokens[middle:last])
        run_tokens += during
        total += before + during
        days.update(time_buckets(times, DAY_SECONDS, first, middle))
        run_days.update(time_buckets(times, DAY_SECONDS, middle, last))
    run_days -= days  # a day split by the run-up start counts as a working day before it
    active = len(days) + len(run_days)
    expected = len(run_days) / active if active else 0.0
    return run_tokens, total, (run_tokens / total if total else 0.0), len(days), expected


def _average_day(person: Person) -> float:
    days = person.daily_tokens()
    return sum(days.values()) / len(days)


def _in_run_up(moment: float, spans: list[Span]) -> bool:
    return any(run <= moment < end for _, run, end in spans)
