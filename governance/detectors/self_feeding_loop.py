"""Self-feeding loop: a person's outputs come back as their next prompts - tokens generating tokens.

A call is fed by an earlier call of the same person in the window when its ``prompt_simhash`` is at
most ``simhash_distance`` bits from that call's ``output_simhash`` (0 = no fingerprint: never
matches). A chain is a run of calls each fed by the one before; its length shows how long the loop
ran unattended.

Flag when (at least ``min_events`` calls) fed share >= ``loop_share``. Score: how far past the
threshold the share is. Evidence adds the longest chain and the peer median fed share.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from governance.detectors.base import EventRecord, Finding, Thresholds, ValueSignals
from governance.detectors.evidence import count, make_finding, peer_clause, percent
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.similarity import latest_earlier_match
from governance.detectors.stats import over, peer_medians, share
from governance.detectors.value import value_sides

NAME = "self_feeding_loop"
_PROMPT_SIMHASH = attrgetter("prompt_simhash")
_OUTPUT_SIMHASH = attrgetter("output_simhash")


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for people who feed outputs back as prompts (see the module docstring)."""
    chains = {key: fed_chains(p.events, thresholds.simhash_distance) for key, p in grouped.people.items()}
    shares = {key: share(sum(1 for c in chains[key] if c), len(p.events)) for key, p in grouped.people.items()}
    peers = peer_medians(grouped, shares)
    sides = value_sides(grouped, signals)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        if shares[key] < thresholds.loop_share:
            continue
        if sides[key].well_above(thresholds):
            continue
        mine = chains[key]
        fed = [person.events[i] for i, length in enumerate(mine) if length]
        longest = max(mine)
        peer = peers.get(key)
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=over(shares[key], thresholds.loop_share),
                summary=(
                    f"{percent(shares[key])} of {count(len(person.events))} prompts were a previous answer fed "
                    f"back in, in chains of up to {count(longest + 1)} calls{peer_clause(grouped, person, peer, percent)}."
                ),
                value_side=sides[key],
                examples=(e.request_id for e in fed),
                calls=len(person.events),
                fed_calls=len(fed),
                fed_share=shares[key],
                longest_chain=longest + 1,
                simhash_distance=thresholds.simhash_distance,
                peer_median_fed_share=peer,
            )
        )
    return findings


detect = as_detector(find)


def fed_chains(events: Sequence[EventRecord], distance: int) -> list[int]:
    """For each call (oldest first), how many calls before it fed it in a chain (0 = not fed).

    A call is fed by the latest earlier call whose output fingerprint is near its prompt's.
    """
    feeders = latest_earlier_match(list(map(_PROMPT_SIMHASH, events)), list(map(_OUTPUT_SIMHASH, events)), distance)
    chains = [0] * len(events)
    for i, feeder in enumerate(feeders):
        if feeder >= 0:
            chains[i] = chains[feeder] + 1
    return chains
