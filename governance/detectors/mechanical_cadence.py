"""Mechanical cadence: metronome-regular calls, or calls around the clock - a script, not a person.

Gaps: the seconds between consecutive calls of the person; calls under ``BURST_SECONDS`` apart are
one burst (parallel calls), so those gaps are dropped. Regularity is the *robust* coefficient of
variation of the gaps, 1.4826 x MAD / median: a night's pause is one outlier and does not hide a
script that runs every minute during office hours, while a person's gaps (seconds within a session,
hours between sessions) spread far beyond 1. Spread over the day is the median, over the person's
active days (UTC), of the number of distinct clock hours with a call.

Flag when (at least ``min_events`` calls and ``MIN_GAPS`` gaps)
    robust CV <= ``cadence_cv``  OR  typical active hours per day >= ``cadence_hours``.
Score: the larger of how far past each threshold the person is.
"""

from __future__ import annotations

from collections import Counter
from itertools import islice
from operator import sub

from governance.detectors.base import Finding, PersonKey, Thresholds, ValueSignals
from governance.detectors.evidence import count, decimal, make_finding, peer_clause
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.stats import mad, median, over, peer_medians, under

NAME = "mechanical_cadence"
BURST_SECONDS = 1.0
MIN_GAPS = 10


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for people whose calls look scheduled (see the module docstring)."""
    cvs: dict[PersonKey, float] = {}
    gap_medians: dict[PersonKey, float] = {}
    hours: dict[PersonKey, float] = {}
    for key, person in grouped.people.items():
        times = person.times
        gaps = sorted(g for g in map(sub, islice(times, 1, None), times) if g >= BURST_SECONDS)
        if len(gaps) >= MIN_GAPS:
            centre = median(gaps)
            gap_medians[key] = centre
            cvs[key] = mad(gaps, centre) / centre
        hours[key] = median(list(Counter(hour // 24 for hour in {int(t // 3600) for t in times}).values()))
    peer_cvs = peer_medians(grouped, cvs)
    peer_hours = peer_medians(grouped, hours)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        cv = cvs.get(key)
        regular = cv is not None and cv <= thresholds.cadence_cv
        around_the_clock = hours[key] >= thresholds.cadence_hours
        if not (regular or around_the_clock):
            continue
        parts = []
        if regular:
            parts.append(
                f"calls came every {decimal(gap_medians[key], 0)} s with a robust CV of {decimal(cv, 2)}"
                + peer_clause(grouped, person, peer_cvs.get(key), lambda v: decimal(v, 2), brackets=True)
            )
        if around_the_clock:
            parts.append(
                f"a typical active day had calls in {decimal(hours[key], 0)} of 24 hours"
                + peer_clause(grouped, person, peer_hours.get(key), lambda v: decimal(v, 0), brackets=True)
            )
        scores = [under(cv, thresholds.cadence_cv) if regular else 0.0,
                  over(hours[key], thresholds.cadence_hours) if around_the_clock else 0.0]
        findings.append(make_finding(
            grouped=grouped, person=person, detector=NAME, score=max(scores),
            summary=f"Over {count(len(person.events))} calls, " + " and ".join(parts) + ".",
            examples=(e.request_id for e in person.events),
            calls=len(person.events),
            robust_cv=cv,
            median_gap_seconds=gap_medians.get(key),
            active_hours_per_day=hours[key],
            peer_median_robust_cv=peer_cvs.get(key),
            peer_median_active_hours_per_day=peer_hours.get(key),
        ))
    return findings


detect = as_detector(find)
