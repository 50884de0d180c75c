"""Robust statistics and peer baselines for the detectors (pure Python, no numpy).

A peer baseline is the median of a metric over a person's peers *without the person*: it is exact
for every group size (one bisect per person). The robust spread (1.4826 x MAD, so it estimates the
standard deviation for normal data) is leave-one-out too for groups up to ``EXACT_SPREAD_LIMIT``
people; above that, where one person moves the MAD by a negligible amount, the group's own spread is
shared by its members, keeping a 5,000-person organisation O(n log n) instead of O(n^2).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from governance.detectors.base import PersonKey
from governance.detectors.grouping import Grouped

EXACT_SPREAD_LIMIT = 200
_MAD_TO_SIGMA = 1.4826
_MEAN_AD_TO_SIGMA = 1.2533
_MIN_RELATIVE_SPREAD = 0.05  # peers are never taken as more alike than +-5% of their median


@dataclass(slots=True, frozen=True)
class Baseline:
    """A metric over a person's peers: their median, robust spread (0 unless asked) and count."""

    median: float
    spread: float
    peers: int

    def robust_z(self, value: float) -> float:
        """How many robust standard deviations ``value`` lies above the peer median."""
        return (value - self.median) / self.spread


def median(values: Sequence[float]) -> float:
    """Median of ``values`` (not necessarily sorted); 0.0 for no values."""
    ordered = sorted(values)
    return _sorted_median(ordered) if ordered else 0.0


def _sorted_median(ordered: Sequence[float]) -> float:
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mad(values: Sequence[float], centre: float) -> float:
    """1.4826 x the median absolute deviation of ``values`` (non-empty) around ``centre``."""
    return _MAD_TO_SIGMA * median([abs(v - centre) for v in values])


def robust_spread(values: Sequence[float], centre: float) -> float:
    """A peer group's spread: ``mad``, else 1.2533 x mean absolute deviation, floored at 5% of centre.

    The fallback and the floor keep a robust z-score finite and meaningful when most peers are alike.
    """
    spread = mad(values, centre)
    if spread == 0:
        spread = _MEAN_AD_TO_SIGMA * sum(abs(v - centre) for v in values) / len(values)
    return max(spread, _MIN_RELATIVE_SPREAD * abs(centre), 1e-9)


def _median_without(ordered: Sequence[float], index: int) -> float:
    """Median of ``ordered`` with the element at ``index`` left out (``len(ordered) >= 2``)."""
    size = len(ordered) - 1
    lo, hi = (size - 1) // 2, size // 2
    a = ordered[lo] if lo < index else ordered[lo + 1]
    b = ordered[hi] if hi < index else ordered[hi + 1]
    return (a + b) / 2


def peer_baselines(
    grouped: Grouped, metric: Mapping[PersonKey, float], *, with_spread: bool = False
) -> dict[PersonKey, Baseline]:
    """The peer baseline of ``metric`` for every person in it who has at least one peer in it.

    Peers without a value in ``metric`` (e.g. no streamed calls for an abandonment rate) do not count.
    """
    baselines: dict[PersonKey, Baseline] = {}
    cache: dict[int, tuple[list[float], float]] = {}
    for key, value in metric.items():
        group = grouped.peer_group(key)
        cached = cache.get(id(group))
        if cached is None:
            ordered = sorted(metric[k] for k in group if k in metric)
            shared_spread = 0.0
            if with_spread and len(ordered) > EXACT_SPREAD_LIMIT:
                shared_spread = robust_spread(ordered, _sorted_median(ordered))
            cached = cache[id(group)] = (ordered, shared_spread)
        ordered, shared_spread = cached
        if len(ordered) < 2:
            continue
        index = bisect_left(ordered, value)
        centre = _median_without(ordered, index)
        spread = 0.0
        if with_spread:
            spread = shared_spread or robust_spread(ordered[:index] + ordered[index + 1 :], centre)
        baselines[key] = Baseline(median=centre, spread=spread, peers=len(ordered) - 1)
    return baselines


def peer_medians(grouped: Grouped, metric: Mapping[PersonKey, float]) -> dict[PersonKey, float]:
    """The leave-one-out peer median of ``metric`` per person (absent: no peer has a value)."""
    return {key: baseline.median for key, baseline in peer_baselines(grouped, metric).items()}


def peer_quantiles(grouped: Grouped, metric: Mapping[PersonKey, float], q: float) -> dict[PersonKey, float]:
    """The ``q`` quantile (nearest rank) of ``metric`` over each person's peers without the person."""
    found: dict[PersonKey, float] = {}
    cache: dict[int, list[float]] = {}
    for key, value in metric.items():
        group = grouped.peer_group(key)
        ordered = cache.get(id(group))
        if ordered is None:
            ordered = cache[id(group)] = sorted(metric[k] for k in group if k in metric)
        if len(ordered) < 2:
            continue
        index = bisect_left(ordered, value)
        others = ordered[:index] + ordered[index + 1 :]
        found[key] = others[min(len(others) - 1, int(q * len(others)))]
    return found


def share(part: int, whole: int) -> float:
    """``part / whole``, 0.0 for an empty whole."""
    return part / whole if whole else 0.0


def over(observed: float, threshold: float) -> float:
    """Score of a metric that must stay under ``threshold``: 0 at the threshold, 1 at twice it."""
    return round(max(observed / threshold - 1.0, 0.0), 3)


def under(observed: float, threshold: float) -> float:
    """Score of a metric that must stay above ``threshold``: 0 at the threshold, 1 at zero."""
    return round(max(1.0 - observed / threshold, 0.0), 3)
