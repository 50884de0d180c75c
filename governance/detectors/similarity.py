"""Finding fingerprints within a Hamming distance without comparing every pair.

Pigeonhole: cut the 64 bits into ``distance + 1`` bands; two fingerprints at most ``distance`` bits
apart agree exactly on at least one band. So, band by band, only fingerprints that share that band's
bits are compared - for unrelated texts almost none - and the band keys are built and intersected
with list comprehensions and sets, which keeps the cost near a microsecond per fingerprint.

A band shared by very many distinct fingerprints (a script's near-identical variants) is compared
only ``MAX_CANDIDATES`` deep, which bounds the cost at the price of possibly missing a match further
back. Fingerprints may be signed (as stored) or unsigned - band keys and distances use the low 64
bits either way; ``0`` means "no fingerprint" and never matches.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Sequence

_MASK64 = (1 << 64) - 1
MAX_CANDIDATES = 64


def _bands(distance: int) -> list[tuple[int, int]]:
    """(shift, mask) of each of the ``distance + 1`` bands covering the 64 bits."""
    width, extra = divmod(64, distance + 1)
    bands, shift = [], 0
    for index in range(distance + 1):
        bits = width + (1 if index < extra else 0)
        bands.append((shift, (1 << bits) - 1))
        shift += bits
    return bands


def near_duplicates(values: Sequence[int], distance: int) -> set[int]:
    """The distinct non-zero ``values`` that have another distinct value within ``distance`` bits."""
    distinct = sorted({v for v in values if v})
    found: set[int] = set()
    if distance == 0 or len(distinct) < 2:
        return found
    for shift, mask in _bands(distance):
        keys = [(v >> shift) & mask for v in distinct]
        if len(set(keys)) == len(keys):
            continue
        shared = {key for key, seen in Counter(keys).items() if seen > 1}
        groups: dict[int, list[int]] = defaultdict(list)
        for value, key in zip(distinct, keys):
            if key in shared:
                groups[key].append(value)
        for group in groups.values():
            for i, value in enumerate(group):
                for other in group[i + 1:i + 1 + MAX_CANDIDATES]:
                    if ((value ^ other) & _MASK64).bit_count() <= distance:
                        found.add(value)
                        found.add(other)
    return found


def latest_earlier_match(queries: Sequence[int], stored: Sequence[int], distance: int) -> list[int]:
    """For each position i, the largest j < i with ``stored[j]`` within ``distance`` of ``queries[i]``.

    -1 where there is none. ``queries`` and ``stored`` are aligned (e.g. the prompt and the output
    fingerprints of the same calls, oldest first).
    """
    result = [-1] * len(queries)
    for shift, mask in _bands(distance):
        # Python's >> on a negative (signed) fingerprint keeps two's-complement bits: no unsigned copy.
        kept_keys = [(v >> shift) & mask for v in stored]
        asked_keys = [(v >> shift) & mask for v in queries]
        common = set(kept_keys).intersection(asked_keys)
        if not common:
            continue
        positions: dict[int, list[int]] = defaultdict(list)
        for j in [j for j, key in enumerate(kept_keys) if key in common]:
            if stored[j]:
                positions[kept_keys[j]].append(j)
        for i in [i for i, key in enumerate(asked_keys) if key in common]:
            value = queries[i]
            earlier = positions.get(asked_keys[i])
            if not value or not earlier:
                continue
            end = bisect_left(earlier, i)
            for j in reversed(earlier[max(end - MAX_CANDIDATES, 0):end]):
                if j <= result[i]:
                    break
                if ((stored[j] ^ value) & _MASK64).bit_count() <= distance:
                    result[i] = j
                    break
    return result
