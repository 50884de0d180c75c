"""Overkill model: top-tier models spent on trivial calls - a tiny answer to a small prompt.

A model is top tier when its name (after any "provider/" prefix, case-insensitive) is one of
``overkill_models`` or one of them followed by "-" and a digit: "gpt-4o" covers "gpt-4o-2024-08-06"
but not "gpt-4o-mini"; "claude-opus" covers "claude-opus-4-1-20250805". A top-tier call is trivial
when completion_tokens <= ``overkill_output_tokens`` and prompt_tokens <= ``overkill_prompt_tokens``.

Flag when the person made at least ``min_events`` top-tier calls and trivial share of them >=
``overkill_share``. Score: how far past the threshold. Evidence adds what the trivial calls cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import attrgetter

from governance.detectors.base import EventRecord, Finding, PersonKey, Thresholds, ValueSignals
from governance.detectors.evidence import count, make_finding, peer_clause, percent
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.stats import over, peer_medians, share
from governance.detectors.value import value_sides

NAME = "overkill_model"
_MODEL = attrgetter("model")


def is_top_tier(model: str, tiers: Sequence[str]) -> bool:
    """Whether ``model`` is one of ``tiers`` or a dated/numbered version of one (see the module doc)."""
    name = model.rsplit("/", 1)[-1].lower()
    for tier in tiers:
        tier = tier.lower()
        if name == tier or (name.startswith(tier + "-") and name[len(tier) + 1 : len(tier) + 2].isdigit()):
            return True
    return False


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for people who use top-tier models for trivial calls (see the module docstring)."""
    tiers: dict[str, bool] = {}
    top: dict[PersonKey, list[EventRecord]] = {}
    for key, person in grouped.people.items():
        calls = person.text_calls()
        called = set(map(_MODEL, calls))
        for model in called - tiers.keys():
            tiers[model] = is_top_tier(model, thresholds.overkill_models)
        top_models = {model for model in called if tiers[model]}
        if not top_models:
            continue
        mine = [e for e in calls if e.model in top_models]
        if mine:
            top[key] = mine
    max_out, max_in = thresholds.overkill_output_tokens, thresholds.overkill_prompt_tokens
    trivial = {
        key: [e for e in mine if e.completion_tokens <= max_out and e.prompt_tokens <= max_in]
        for key, mine in top.items()
    }
    shares = {key: share(len(trivial[key]), len(mine)) for key, mine in top.items()}
    peers = peer_medians(grouped, shares)
    sides = value_sides(grouped, signals)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        if len(top.get(key, ())) < thresholds.min_events or shares[key] < thresholds.overkill_share:
            continue
        if sides[key].well_above(thresholds):
            continue
        mine = trivial[key]
        models = [name for name, _ in Counter(e.model for e in mine).most_common(3)]
        peer = peers.get(key)
        cost = sum(e.cost_usd for e in mine if e.cost_usd is not None)
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=over(shares[key], thresholds.overkill_share),
                summary=(
                    f"{percent(shares[key])} of {count(len(top[key]))} top-tier calls ({', '.join(models)}) "
                    f"returned at most {max_out} tokens for prompts of at most {count(max_in)} tokens, "
                    f"costing ${cost:,.2f}{peer_clause(grouped, person, peer, percent)}."
                ),
                value_side=sides[key],
                examples=(e.request_id for e in mine),
                top_tier_calls=len(top[key]),
                trivial_calls=len(mine),
                trivial_share=shares[key],
                trivial_cost_usd=cost,
                models=models,
                peer_median_trivial_share=peer,
            )
        )
    return findings


detect = as_detector(find)
