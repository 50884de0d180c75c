"""Usage-chasing detectors: pure functions over a window of usage events and value signals.

Each module holds one detector, ``detect(events, signals, window, thresholds, *, grouped=None)``
(see ``grouping.DetectorFn``). ``run_all`` groups the events by person once and hands the same index to
every detector, so a run over a million events reads each event a few times, not nine times nine.
No ORM and no Django here: a selector builds the records, a service stores the findings as flags.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import timedelta

from governance.detectors import (
    mechanical_cadence,
    overkill_model,
    padding,
    period_end_surge,
    repetition,
    self_feeding_loop,
    target_hugging,
    unread_output,
    volume_without_value,
)
from governance.detectors.base import (
    EventRecord,
    Finding,
    OutcomeRecord,
    Target,
    Thresholds,
    ValueSignals,
    Window,
)
from governance.detectors.grouping import DetectorFn, Grouped, group_events

DETECTORS: dict[str, DetectorFn] = {
    module.NAME: module.detect
    for module in (
        volume_without_value,
        repetition,
        mechanical_cadence,
        padding,
        period_end_surge,
        unread_output,
        self_feeding_loop,
        target_hugging,
        overkill_model,
    )
}


def run_all(
    events: Sequence[EventRecord],
    signals: ValueSignals,
    thresholds: Thresholds | None = None,
    *,
    window: Window | None = None,
    only: Collection[str] | None = None,
    grouped: Grouped | None = None,
) -> list[Finding]:
    """Every detector (or those named in ``only``) over ``events``, findings sorted by person then name.

    ``window`` defaults to the span of ``events`` (first event to just after the last); pass the
    reviewed period explicitly so findings carry it. ``thresholds`` defaults to ``Thresholds()``.
    ``grouped``: the index of these same events over this same window from an earlier pass (any
    ``min_team_size``), reused instead of grouping again - a run with several threshold sets groups
    once, and the per-person views it caches serve every pass.
    Raises ValueError for an unknown detector name in ``only``. No events: no findings.
    """
    names = list(DETECTORS) if only is None else list(only)
    unknown = sorted(set(names) - set(DETECTORS))
    if unknown:
        raise ValueError(f"unknown detector(s): {', '.join(unknown)}")
    if window is None:
        if not events:
            return []
        moments = [e.created_at for e in events]
        window = Window(start=min(moments), end=max(moments) + timedelta(microseconds=1))
    thresholds = thresholds or Thresholds()
    if grouped is None:
        grouped = group_events(events, window, min_team_size=thresholds.min_team_size)
    elif grouped.min_team_size != thresholds.min_team_size:
        grouped = dataclasses.replace(grouped, min_team_size=thresholds.min_team_size)
    findings = [
        finding for name in names for finding in DETECTORS[name](events, signals, window, thresholds, grouped=grouped)
    ]
    findings.sort(key=lambda f: (f.user_id, f.team_id, f.detector))
    return findings


__all__ = [
    "DETECTORS",
    "DetectorFn",
    "EventRecord",
    "Finding",
    "Grouped",
    "OutcomeRecord",
    "Target",
    "Thresholds",
    "ValueSignals",
    "Window",
    "group_events",
    "run_all",
]
