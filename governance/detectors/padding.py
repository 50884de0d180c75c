"""Padding: prompts inflated far beyond the person's usual size, answered with almost nothing.

Reference prompt size = the person's own lower quartile of prompt tokens: padding is a prompt inflated
beyond the person's own habit, and a padder's ordinary calls keep the lower quartile where it was as
long as fewer than three calls in four are padded. Someone who always sends whole documents (a
long-context analyst, a coding agent's context) has big prompts by habit; whether that habit is theirs
to keep is what their value says: when their value is at or below the peer median (``value``), the
reference is the smaller of their lower quartile and the peer median prompt, so someone who pads every
call cannot make padding their norm. A call is padded when
    prompt_tokens >= ``padding_prompt_factor`` x reference
    AND completion_tokens <= ``padding_output_ratio`` x prompt_tokens.
Only calls that generate text count (embeddings have no output by nature). A team that legitimately
sends big prompts (retrieval, long documents) raises its own reference and is not flagged.

Flag when padded share >= ``padding_share`` (of at least ``min_events`` calls).
Score: how far past the threshold the share is. Evidence adds how far ``max_tokens`` overshot the
output of the padded calls (a reservation inflated for nothing) and the peer median padded share.
"""

from __future__ import annotations

from operator import attrgetter

from governance.detectors.base import EventRecord, Finding, PersonKey, Thresholds, ValueSignals
from governance.detectors.evidence import count, decimal, make_finding, peer_clause, percent
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.stats import median, over, peer_medians, share
from governance.detectors.value import value_sides

NAME = "padding"
_PROMPT_TOKENS = attrgetter("prompt_tokens")


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for people who inflate prompts for tiny answers (see the module docstring)."""
    calls = {key: p.text_calls() for key, p in grouped.people.items()}
    norms = {key: median(list(map(_PROMPT_TOKENS, mine))) for key, mine in calls.items() if mine}
    lower = {key: _lower_quartile(list(map(_PROMPT_TOKENS, calls[key]))) for key in norms}
    peer_norms = peer_medians(grouped, norms)
    factor, ratio = thresholds.padding_prompt_factor, thresholds.padding_output_ratio
    sides = value_sides(grouped, signals)
    padded: dict[PersonKey, list[EventRecord]] = {}
    references: dict[PersonKey, float] = {}
    for key, own in norms.items():
        side = sides[key]
        own_norm = side.value > 0 and (side.peer_value is None or side.value > side.peer_value)
        reference = references[key] = max(lower[key] if own_norm else min(lower[key], peer_norms.get(key, own)), 1.0)
        big = factor * reference
        padded[key] = [
            e for e in calls[key] if e.prompt_tokens >= big and e.completion_tokens <= ratio * e.prompt_tokens
        ]
    shares = {key: share(len(padded[key]), len(calls[key])) for key in norms}
    peer_shares = peer_medians(grouped, shares)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        if len(calls[key]) < thresholds.min_events or shares[key] < thresholds.padding_share:
            continue
        if sides[key].well_above(thresholds):
            continue
        mine = padded[key]
        peer_share = peer_shares.get(key)
        overshoot = [e.max_tokens / max(e.completion_tokens, 1) for e in mine if e.max_tokens]
        padded_prompt = median([e.prompt_tokens for e in mine])
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=over(shares[key], thresholds.padding_share),
                summary=(
                    f"{percent(shares[key])} of {count(len(calls[key]))} calls sent prompts of typically "
                    f"{count(padded_prompt)} tokens - at least {decimal(factor)}x the usual "
                    f"{count(references[key])} tokens - for answers under {percent(ratio)} of the prompt's size"
                    f"{peer_clause(grouped, person, peer_share, percent, what='median share')}."
                ),
                value_side=sides[key],
                examples=(e.request_id for e in mine),
                calls=len(calls[key]),
                padded_calls=len(mine),
                padded_share=shares[key],
                median_padded_prompt_tokens=padded_prompt,
                median_prompt_tokens=norms[key],
                reference_prompt_tokens=references[key],
                peer_median_prompt_tokens=peer_norms.get(key),
                median_max_tokens_over_output=median(overshoot) if overshoot else None,
                peer_median_padded_share=peer_share,
            )
        )
    return findings


detect = as_detector(find)


def _lower_quartile(values: list[int]) -> float:
    """The 25th percentile (nearest rank) of ``values`` (not empty)."""
    ordered = sorted(values)
    return float(ordered[(len(ordered) - 1) // 4])
