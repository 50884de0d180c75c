"""Volume without value: tokens far above peers while value per token is far below them.

Value of a person = the weight of the outcomes attributed to them + their positive feedback (the sum
of the positive scores of their rated calls). An outcome linked to request ids is split evenly over
those requests and goes to whoever made them; one with only a user goes to that user (in its team,
or split over the user's teams in the window when it names none); a team-only outcome goes to no
one. Value per million tokens (VPM) = value / tokens x 1,000,000.

Flag when, against the person's peers (see ``stats``):
    robust z-score of tokens >= ``volume_z``  AND  VPM < peer median VPM
    AND  VPM <= ``value_ratio`` x peer median VPM.
Because ``value_ratio <= 1``, a heavy user whose value per token is at or above the peer median is
never flagged, and where no peer records any value (median VPM 0) nobody is.
Score: the smaller of how far past each of the two thresholds the person is.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import repeat
from operator import attrgetter

from governance.detectors.base import Finding, PersonKey, Thresholds, ValueSignals
from governance.detectors.evidence import count, decimal, make_finding
from governance.detectors.grouping import Grouped, as_detector
from governance.detectors.stats import over, peer_baselines, under

NAME = "volume_without_value"
_REQUEST_ID = attrgetter("request_id")


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for heavy users with little value behind their tokens (see the module docstring)."""
    values = person_values(grouped, signals)
    tokens = {key: float(p.total_tokens) for key, p in grouped.people.items() if p.total_tokens > 0}
    vpm = {key: values[key] / t * 1_000_000 for key, t in tokens.items()}
    token_base = peer_baselines(grouped, tokens, with_spread=True)
    vpm_base = peer_baselines(grouped, vpm)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        if key not in token_base:
            continue
        z = token_base[key].robust_z(tokens[key])
        peer_vpm = vpm_base[key].median
        mine = vpm[key]
        if z < thresholds.volume_z or not (mine < peer_vpm and mine <= thresholds.value_ratio * peer_vpm):
            continue
        scope = grouped.peer_scope(key)
        score = min(over(z, thresholds.volume_z), under(mine / peer_vpm, thresholds.value_ratio))
        biggest = sorted(person.events, key=lambda e: (-e.total_tokens, e.request_id))
        findings.append(make_finding(
            grouped=grouped, person=person, detector=NAME, score=score,
            summary=(
                f"Used {count(tokens[key])} tokens, {decimal(z)} robust standard deviations above the "
                f"{scope} median of {count(token_base[key].median)}, with {decimal(mine, 2)} value per "
                f"million tokens against a {scope} median of {decimal(peer_vpm, 2)}."
            ),
            examples=(e.request_id for e in biggest),
            tokens=person.total_tokens,
            peer_median_tokens=token_base[key].median,
            volume_z=z,
            value=values[key],
            value_per_million_tokens=mine,
            peer_median_value_per_million_tokens=peer_vpm,
            peers=token_base[key].peers,
        ))
    return findings


detect = as_detector(find)


def person_values(grouped: Grouped, signals: ValueSignals) -> dict[PersonKey, float]:
    """Value (outcome weight + positive feedback) of every person in ``grouped`` (0.0 when none)."""
    by_request: dict[str, float] = defaultdict(float)
    for request_id, score in signals.feedback.items():
        if score > 0:
            by_request[request_id] += score
    direct: dict[PersonKey, float] = defaultdict(float)
    keys_of_user: dict[int, list[PersonKey]] = defaultdict(list)
    for key in grouped.people:
        keys_of_user[key[0]].append(key)
    for outcome in signals.outcomes:
        if outcome.request_ids:
            part = outcome.weight / len(outcome.request_ids)
            for request_id in outcome.request_ids:
                by_request[request_id] += part
        elif outcome.user_id is not None:
            keys = keys_of_user.get(outcome.user_id, [])
            if outcome.team_id is not None:
                keys = [k for k in keys if k[1] == outcome.team_id]
            for key in keys:
                direct[key] += outcome.weight / len(keys)
    values: dict[PersonKey, float] = {}
    lookup = by_request.get
    for key, person in grouped.people.items():
        total = direct.get(key, 0.0)
        if by_request:
            total += sum(map(lookup, map(_REQUEST_ID, person.events), repeat(0.0)))
        values[key] = total
    return values
