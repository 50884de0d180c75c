"""Unread output: answers paid for and never read - streams abandoned, responses hung up on.

A call's output is unread when the client disconnected before the end (``client_disconnected``: a
stream abandoned early, or a plain call whose caller hung up before the response): its output was
never seen in full. A call's output is used when it was rated (any feedback) or linked to an outcome.
Only calls that generate text count.

Flag when (at least ``min_events`` calls) unread share >= ``unread_share`` AND the person's used share
is not above the peer median used share - someone who stops long answers early but rates or ships
the rest as often as their peers do is reading, not chasing. Score: how far past the threshold.
"""

from __future__ import annotations

from operator import attrgetter

from governance.detectors.base import EventRecord, Finding, Thresholds, ValueSignals
from governance.detectors.evidence import count, make_finding, peer_clause, percent
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.stats import over, peer_medians, share
from governance.detectors.value import value_sides

NAME = "unread_output"
_DISCONNECTED = attrgetter("client_disconnected")
_REQUEST_ID = attrgetter("request_id")


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for people whose outputs mostly go unread (see the module docstring)."""
    used_ids = set(signals.feedback)
    for outcome in signals.outcomes:
        used_ids.update(outcome.request_ids)
    calls = {key: p.text_calls() for key, p in grouped.people.items()}
    unread = {key: list(filter(_DISCONNECTED, mine)) for key, mine in calls.items()}
    unread_shares = {key: share(len(unread[key]), len(mine)) for key, mine in calls.items() if mine}
    used_shares = {key: share(_used(mine, used_ids), len(mine)) for key, mine in calls.items() if mine}
    peer_unread_shares = peer_medians(grouped, unread_shares)
    peer_used_shares = peer_medians(grouped, used_shares)
    sides = value_sides(grouped, signals)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        mine = calls[key]
        if len(mine) < thresholds.min_events or unread_shares[key] < thresholds.unread_share:
            continue
        peer_used = peer_used_shares.get(key)
        if peer_used is not None and used_shares[key] > peer_used:
            continue
        if sides[key].well_above(thresholds):
            continue
        peer_unread = peer_unread_shares.get(key)
        streams = sum(1 for e in mine if e.stream)
        abandoned = sum(1 for e in unread[key] if e.stream)
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=over(unread_shares[key], thresholds.unread_share),
                summary=(
                    f"{percent(unread_shares[key])} of {count(len(mine))} answers were never received in full "
                    f"({count(abandoned)} of {count(streams)} streams abandoned); {percent(used_shares[key])} "
                    f"were rated or linked to an outcome"
                    f"{peer_clause(grouped, person, peer_unread, percent, what='median unread')}."
                ),
                value_side=sides[key],
                examples=(e.request_id for e in unread[key]),
                calls=len(mine),
                unread_calls=len(unread[key]),
                unread_share=unread_shares[key],
                streams=streams,
                abandoned_streams=abandoned,
                used_share=used_shares[key],
                peer_median_unread_share=peer_unread,
                peer_median_used_share=peer_used,
            )
        )
    return findings


detect = as_detector(find)


def _used(calls: list[EventRecord], used_ids: set[str]) -> int:
    """How many of ``calls`` were rated or linked to an outcome (no lookups when nothing was)."""
    return sum(map(used_ids.__contains__, map(_REQUEST_ID, calls))) if used_ids else 0
