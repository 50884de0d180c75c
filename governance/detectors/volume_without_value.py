"""Volume without value: tokens far above peers while the value behind them is at or below peers'.

Value is the weight of trusted outcomes (``value``); value per million tokens (VPM) = value / tokens x
1,000,000. Flag when, against the person's peers (see ``stats``):
    robust z-score of tokens >= ``volume_z``
    AND value <= ``volume_value_ratio`` x peer median value          (no more value than peers)
    AND VPM < peer median VPM AND VPM <= ``value_ratio`` x peer median VPM.
A person whose value is above the peer median (with the default ``volume_value_ratio`` of 1) is never
flagged, however low their value per token: heavy agentic and long-context users spend far more tokens
per outcome and still ship more. Where no peer records any value (median VPM 0) nobody is flagged.
Score: the smaller of how far past the volume and value-per-token thresholds the person is.
"""

from __future__ import annotations

from governance.detectors.base import Finding, Thresholds, ValueSignals
from governance.detectors.evidence import count, decimal, make_finding, times
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.stats import over, peer_baselines, under
from governance.detectors.value import person_values, value_sides

NAME = "volume_without_value"

__all__ = ["NAME", "detect", "find", "person_values"]


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for heavy users with no more value than their peers (see the module docstring)."""
    sides = value_sides(grouped, signals)
    tokens = {key: float(p.total_tokens) for key, p in grouped.people.items() if p.total_tokens > 0}
    token_base = peer_baselines(grouped, tokens, with_spread=True)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        if key not in token_base:
            continue
        side = sides[key]
        z = token_base[key].robust_z(tokens[key])
        peer_vpm = side.peer_per_million or 0.0
        mine = side.per_million
        if z < thresholds.volume_z or not (mine < peer_vpm and mine <= thresholds.value_ratio * peer_vpm):
            continue
        if side.peer_value is not None and side.value > thresholds.volume_value_ratio * side.peer_value:
            continue
        if side.well_above(thresholds):
            continue
        scope = grouped.peer_scope(key)
        score = min(over(z, thresholds.volume_z), under(mine / peer_vpm, thresholds.value_ratio))
        biggest = sorted(person.events, key=lambda e: (-e.total_tokens, e.request_id))
        peer_tokens = token_base[key].median
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=score,
                summary=(
                    f"Used {count(tokens[key])} tokens in the period, {times(tokens[key], peer_tokens)} the {scope} "
                    f"median of {count(peer_tokens)}, while the value from trusted outcomes was "
                    f"{decimal(side.value)} points ({side.relative()}): {decimal(mine, 2)} points per million "
                    f"tokens against a {scope} median of {decimal(peer_vpm, 2)}."
                ),
                value_side=side,
                examples=(e.request_id for e in biggest),
                tokens=person.total_tokens,
                peer_median_tokens=peer_tokens,
                volume_z=z,
                peers=token_base[key].peers,
            )
        )
    return findings


detect = as_detector(find)
