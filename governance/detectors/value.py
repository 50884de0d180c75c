"""The value side of every finding: what a person's tokens bought, against their peers'.

Value of a person = the weight of the trusted outcomes attributed to them (``signals.outcomes`` holds
only what ``outcomes_trusted`` lets through, each already value x the admin's weight for its kind).
Ratings are not value: a caller rates their own calls, and nobody's own word counts towards their own
value. An outcome linked to request ids is split evenly over those requests and goes to whoever made
them; one with only a user goes to that user (in its team, or split over the user's teams in the
window when it names none); a team-only outcome goes to no one.

Per person, against the leave-one-out peer median (``stats``):
    value                 weighted outcomes in the window
    value per million     value / tokens x 1,000,000
    linked share          share of the person's calls named by an outcome
``ValueSide.well_above`` is the guard every detector applies: someone whose value is at least
``spare_value_ratio`` x the peers' upper quartile (and above zero) is productive, whatever their volume
or habits, and is not flagged. The upper quartile, not the median: in a team of occasional users an
ordinary coder is several times the median, and being ordinary must not shelter anyone. The side is
computed once per run and cached on the shared index.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from governance.detectors.base import PersonKey, Thresholds, ValueSignals
from governance.detectors.evidence import decimal, percent
from governance.detectors.grouping import Grouped, Person
from governance.detectors.stats import peer_medians, peer_quantiles

_REQUEST_ID = attrgetter("request_id")
_CACHE_KEY = "value_sides"


@dataclass(frozen=True, slots=True)
class ValueSide:
    """One person's value against their peers' (peer figures None when nobody compares)."""

    value: float
    peer_value: float | None
    peer_upper_value: float | None  # the peers' upper quartile
    per_million: float
    peer_per_million: float | None
    linked_share: float
    peer_linked_share: float | None
    scope: str  # "team" | "organisation"

    def well_above(self, thresholds: Thresholds) -> bool:
        """Whether the person's value is well above their peers' (see the module docstring)."""
        if self.value <= 0:
            return False
        return (
            self.peer_upper_value is None
            or self.peer_upper_value == 0
            or (self.value >= thresholds.spare_value_ratio * self.peer_upper_value)
        )

    def relative(self) -> str:
        """ "3.2 times the team median", "half the team median", "none; team median 12.0"."""
        if self.peer_value is None:
            return "no peers to compare with"
        if self.peer_value == 0:
            return f"the {self.scope} median is 0"
        ratio = self.value / self.peer_value
        if ratio >= 1.05:
            return f"{decimal(ratio)} times the {self.scope} median of {decimal(self.peer_value)}"
        if ratio > 0.95:
            return f"about the {self.scope} median of {decimal(self.peer_value)}"
        return f"{percent(ratio)} of the {self.scope} median of {decimal(self.peer_value)}"

    def sentence(self) -> str:
        """The value side in plain words, for every finding's evidence."""
        linked = f"{percent(self.linked_share)} of the calls were linked to an outcome"
        if self.peer_linked_share is not None:
            linked += f" ({self.scope} median {percent(self.peer_linked_share)})"
        return f"Value from trusted outcomes in the period: {decimal(self.value)} points ({self.relative()}); {linked}."

    def numbers(self) -> dict[str, Any]:
        """The value side as evidence numbers (rounded by ``make_finding``)."""
        return {
            "value": self.value,
            "peer_median_value": self.peer_value,
            "value_per_million_tokens": self.per_million,
            "peer_median_value_per_million_tokens": self.peer_per_million,
            "linked_share": self.linked_share,
            "peer_median_linked_share": self.peer_linked_share,
        }


def value_sides(grouped: Grouped, signals: ValueSignals) -> dict[PersonKey, ValueSide]:
    """Every person's ``ValueSide`` (cached on ``grouped`` for these signals: detectors share it)."""
    cached = grouped.cache.get(_CACHE_KEY)
    if cached is not None and cached[0] is signals:
        return cached[1]
    values, linked = _values_and_links(grouped, signals)
    tokens = {key: float(p.total_tokens) for key, p in grouped.people.items()}
    per_million = {key: values[key] / t * 1_000_000 for key, t in tokens.items() if t > 0}
    linked_shares = {key: linked[key] / len(p.events) for key, p in grouped.people.items() if p.events}
    peer_values = peer_medians(grouped, values)
    peer_upper = peer_quantiles(grouped, values, 0.75)
    peer_per_million = peer_medians(grouped, per_million)
    peer_linked = peer_medians(grouped, linked_shares)
    sides = {
        key: ValueSide(
            value=values[key],
            peer_value=peer_values.get(key),
            peer_upper_value=peer_upper.get(key),
            per_million=per_million.get(key, 0.0),
            peer_per_million=peer_per_million.get(key),
            linked_share=linked_shares.get(key, 0.0),
            peer_linked_share=peer_linked.get(key),
            scope=grouped.peer_scope(key),
        )
        for key in grouped.people
    }
    grouped.cache[_CACHE_KEY] = (signals, sides)
    return sides


def person_values(grouped: Grouped, signals: ValueSignals) -> dict[PersonKey, float]:
    """Value (weighted trusted outcomes) of every person in ``grouped`` (0.0 when none)."""
    return {key: sum((weight for _, weight in items), 0.0) for key, items in person_outcomes(grouped, signals).items()}


def person_outcomes(grouped: Grouped, signals: ValueSignals) -> dict[PersonKey, list[tuple[float, float]]]:
    """(epoch seconds, weight) of each outcome share every person got, by time (cached on ``grouped``)."""
    cached = grouped.cache.get("person_outcomes")
    if cached is not None and cached[0] is signals:
        return cached[1]
    by_request: dict[str, list[tuple[float, float]]] = defaultdict(list)
    direct: dict[PersonKey, list[tuple[float, float]]] = defaultdict(list)
    keys_of_user: dict[int, list[PersonKey]] = defaultdict(list)
    for key in grouped.people:
        keys_of_user[key[0]].append(key)
    for outcome in signals.outcomes:
        moment = outcome.occurred_at.timestamp()
        if outcome.request_ids:
            part = outcome.weight / len(outcome.request_ids)
            for request_id in outcome.request_ids:
                by_request[request_id].append((moment, part))
        elif outcome.user_id is not None:
            keys = keys_of_user.get(outcome.user_id, [])
            if outcome.team_id is not None:
                keys = [k for k in keys if k[1] == outcome.team_id]
            for key in keys:
                direct[key].append((moment, outcome.weight / len(keys)))
    found: dict[PersonKey, list[tuple[float, float]]] = {}
    linked: dict[PersonKey, int] = {}
    lookup = by_request.get
    for key, person in grouped.people.items():
        items, named = list(direct.get(key, ())), 0
        if by_request:
            for parts in map(lookup, map(_REQUEST_ID, person.events)):
                if parts:
                    items.extend(parts)
                    named += 1
        items.sort()
        found[key], linked[key] = items, named
    grouped.cache["person_outcomes"] = (signals, found)
    grouped.cache["linked_calls"] = (signals, linked)
    return found


def _values_and_links(grouped: Grouped, signals: ValueSignals) -> tuple[dict[PersonKey, float], dict[PersonKey, int]]:
    values = person_values(grouped, signals)
    return values, grouped.cache["linked_calls"][1]


def outcome_value_between(grouped: Grouped, signals: ValueSignals, person: Person, start: float, end: float) -> float:
    """The person's outcome value that occurred in ``[start, end)`` (epoch seconds)."""
    items = person_outcomes(grouped, signals)[person.key]
    return sum(weight for moment, weight in items[bisect_left(items, (start,)) : bisect_left(items, (end,))])


def value_followed(
    *, value_in: float, value_all: float, expected_share: float, token_share: float, prior: float, ratio: float
) -> bool:
    """Whether value rose with tokens in a span (a run-up, the days after an announcement).

    Value grows sub-linearly with tokens, so the test is on rates: the span's value rate against the
    rest (the odds of its value share over the odds of its share of the time) must reach the token rate
    ratio raised to ``ratio`` (0.5: tokens up 4 times, value up at least 2 times). The value share is
    first shrunk towards the time share by a prior worth ``prior`` points (the peers' median value), so
    two lucky outcomes in a run-up do not outweigh a month of tokens.
    """
    if value_in <= 0 or not 0 < expected_share < 1 or token_share >= 1:
        return value_in > 0 and token_share >= 1
    shrunk = (value_in + prior * expected_share) / (value_all + prior)
    if shrunk >= 1:
        return True
    base = expected_share / (1 - expected_share)
    value_rate = shrunk / (1 - shrunk) / base
    token_rate = token_share / (1 - token_share) / base
    return math.log(value_rate) >= ratio * math.log(max(token_rate, 1.0))  # logs: no overflow
