"""Repetition: a large share of a person's prompts are (near-)identical to another of their prompts.

A prompt counts as repeated when some *other* call of the same person in the window has the same
``prompt_hash``, or a ``prompt_simhash`` at most ``simhash_distance`` bits away. Calls without
fingerprints (empty hash, simhash 0) never count as repeated, but do count in the total.

Flag when repeated share >= ``repetition_share`` (of at least ``min_events`` calls).
Score: how far past the threshold the share is. Evidence adds the peer median share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import compress
from operator import attrgetter, or_

from governance.detectors.base import EventRecord, Finding, Thresholds, ValueSignals
from governance.detectors.evidence import count, make_finding, peer_clause, percent
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.similarity import near_duplicates
from governance.detectors.stats import over, peer_medians, share
from governance.detectors.value import value_sides

NAME = "repetition"
_PROMPT_HASH = attrgetter("prompt_hash")
_PROMPT_SIMHASH = attrgetter("prompt_simhash")


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for people who send the same prompt again and again (see the module docstring)."""
    distance = thresholds.simhash_distance
    repeated = {key: repeated_calls(p.events, distance) for key, p in grouped.people.items()}
    shares = {key: share(len(repeated[key]), len(p.events)) for key, p in grouped.people.items()}
    peers = peer_medians(grouped, shares)
    sides = value_sides(grouped, signals)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        mine = shares[key]
        if mine < thresholds.repetition_share:
            continue
        if sides[key].well_above(thresholds):
            continue
        peer = peers.get(key)
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=over(mine, thresholds.repetition_share),
                summary=(
                    f"{percent(mine)} of {count(len(person.events))} prompts were repeats or near-duplicates "
                    f"(the same text again, or with a few words changed){peer_clause(grouped, person, peer, percent)}."
                ),
                value_side=sides[key],
                examples=(person.events[i].request_id for i in repeated[key]),
                calls=len(person.events),
                repeated_calls=len(repeated[key]),
                repeated_share=mine,
                simhash_distance=distance,
                peer_median_repeated_share=peer,
            )
        )
    return findings


detect = as_detector(find)


def repeated_calls(events: Sequence[EventRecord], distance: int) -> list[int]:
    """Indices of the calls whose prompt repeats another call's prompt (see the module docstring)."""
    hashes = list(map(_PROMPT_HASH, events))
    simhashes = list(map(_PROMPT_SIMHASH, events))
    hash_counts, simhash_counts = Counter(hashes), Counter(simhashes)
    repeated_hashes = {h for h, seen in hash_counts.items() if seen > 1 and h}
    repeated_simhashes = near_duplicates(list(simhash_counts), distance)
    repeated_simhashes.update(s for s, seen in simhash_counts.items() if seen > 1 and s)
    # Column-wise membership tests (C loops): this runs over every call of every person.
    repeated = map(or_, map(repeated_hashes.__contains__, hashes), map(repeated_simhashes.__contains__, simhashes))
    return list(compress(range(len(events)), repeated))
