"""Mechanical cadence: metronome-regular calls, or calls around the clock - a script, not a person.

Gaps: the seconds between consecutive calls of the person; calls under ``BURST_SECONDS`` apart are
one burst (parallel calls), so those gaps are dropped. Regularity is the *robust* coefficient of
variation of the gaps, 1.4826 x MAD / median: a night's pause is one outlier and does not hide a
script that runs every minute during office hours, while a person's gaps (seconds within a session,
hours between sessions) spread far beyond 1. Spread over the day is the median, over the person's
active days (UTC), of the number of distinct clock hours with a call.

Flag when (at least ``min_events`` calls and ``MIN_GAPS`` gaps)
    robust CV <= ``cadence_cv``  OR  typical active hours per day >= ``cadence_hours``
unless the automation pays its way: its calls are linked to outcomes at a rate like its peers' (linked
share > 0 and >= ``cadence_linked_ratio`` x the peer median linked share - a nightly job whose batches
each publish a document), or the person's value is well above their peers' (``value``).
Score: the larger of how far past each threshold the person is. Evidence says it in words: "half of
the gaps were within 2% of the typical 1 h", not a coefficient.
"""

from __future__ import annotations

from collections import Counter
from itertools import islice
from operator import sub

from governance.detectors.base import Finding, PersonKey, Thresholds, ValueSignals
from governance.detectors.evidence import count, decimal, duration, make_finding, percent
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.stats import mad, median, over, peer_medians, under
from governance.detectors.value import value_sides

_MAD_TO_SIGMA = 1.4826

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
    sides = value_sides(grouped, signals)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        cv = cvs.get(key)
        regular = cv is not None and cv <= thresholds.cadence_cv
        around_the_clock = hours[key] >= thresholds.cadence_hours
        if not (regular or around_the_clock):
            continue
        side = sides[key]
        peer_linked = side.peer_linked_share or 0.0
        if side.linked_share > 0 and side.linked_share >= thresholds.cadence_linked_ratio * peer_linked:
            continue
        if side.well_above(thresholds):
            continue
        scope = grouped.peer_scope(key)
        parts = []
        if regular and cv is not None:
            spread = f"half of the gaps were within {percent(cv / _MAD_TO_SIGMA)} of it"
            peer_cv = peer_cvs.get(key)
            if peer_cv is not None:
                spread += f" ({scope} median: within {percent(peer_cv / _MAD_TO_SIGMA)})"
            parts.append(f"calls came every {duration(gap_medians[key])} like clockwork - {spread}")
        if around_the_clock:
            peer_hour = peer_hours.get(key)
            parts.append(
                f"a typical active day had calls in {decimal(hours[key], 0)} of its 24 hours"
                + ("" if peer_hour is None else f" ({scope} median {decimal(peer_hour, 0)})")
            )
        scores = [
            under(cv, thresholds.cadence_cv) if regular and cv is not None else 0.0,
            over(hours[key], thresholds.cadence_hours) if around_the_clock else 0.0,
        ]
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=max(scores),
                summary=(
                    f"Over {count(len(person.events))} calls, "
                    + " and ".join(parts)
                    + ": the timing of a script, not a person."
                ),
                value_side=side,
                examples=(e.request_id for e in person.events),
                calls=len(person.events),
                robust_cv=cv,
                median_gap_seconds=gap_medians.get(key),
                active_hours_per_day=hours[key],
                peer_median_robust_cv=peer_cvs.get(key),
                peer_median_active_hours_per_day=peer_hours.get(key),
            )
        )
    return findings


detect = as_detector(find)
