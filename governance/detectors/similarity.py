"""Finding fingerprints within a Hamming distance without comparing every pair.

Pigeonhole: cut the 64 bits into ``distance + 1`` bands; two fingerprints at most ``distance`` bits
apart agree exactly on at least one band. So, band by band, only fingerprints that share that band's
bits are compared - for unrelated texts almost none - and the band keys are built and intersected
with list comprehensions and sets, which keeps the cost near a microsecond per fingerprint.

A band shared by very many distinct fingerprints (a script's near-identical variants) is compared
only ``MAX_CANDIDATES`` deep, which bounds the cost at the price of possibly missing a match further
back. Fingerprints may be signed (as stored) or unsigned - band keys and distances use the low 64
bits either way; ``0`` means "no fingerprint" and never matches.

When the bands are whole bytes, halves or quarters of the 64 bits (distance 1, 3 or 7; 3 is the
default) the band keys of a list are cut in C: the fingerprints are packed as 64-bit integers and
read back through a memoryview as 8-, 16- or 32-bit pieces - several times faster than shifting and
masking each value in Python, which a run over a million calls does a dozen times per call.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import compress
from typing import Literal

_MASK64 = (1 << 64) - 1
MAX_CANDIDATES = 64
_UNSIGNED_CODES: tuple[Literal["B", "H", "I"], ...] = ("B", "H", "I")
_PIECE_CODES = {8 * struct.calcsize(code): code for code in _UNSIGNED_CODES}  # unsigned, by width in bits


def _bands(distance: int) -> list[tuple[int, int]]:
    """(shift, mask) of each of the ``distance + 1`` bands covering the 64 bits."""
    width, extra = divmod(64, distance + 1)
    bands, shift = [], 0
    for index in range(distance + 1):
        bits = width + (1 if index < extra else 0)
        bands.append((shift, (1 << bits) - 1))
        shift += bits
    return bands


def _band_keys(values: Sequence[int], distance: int) -> list[list[int]]:
    """For each band of ``_bands(distance)``, the band's bits of every value (a list aligned with it)."""
    bands = _bands(distance)
    code = _PIECE_CODES.get(64 // len(bands)) if 64 % len(bands) == 0 else None
    if code is None or sys.byteorder != "little":
        return [[(v >> shift) & mask for v in values] for shift, mask in bands]
    try:
        packed = array("q", values)  # signed, as stored: two's complement bits, like ``>>`` and ``&``
    except OverflowError:  # unsigned values (or wider): their low 64 bits
        packed = array("Q", [v & _MASK64 for v in values])
    # Little-endian: piece i of each 64-bit value holds bits [i x width, (i + 1) x width), i.e. band i.
    pieces = memoryview(packed).cast("B").cast(code)
    return [pieces[index :: len(bands)].tolist() for index in range(len(bands))]


def near_duplicates(values: Sequence[int], distance: int) -> set[int]:
    """The distinct non-zero ``values`` that have another distinct value within ``distance`` bits."""
    unique = set(values)
    unique.discard(0)
    distinct = sorted(unique)
    found: set[int] = set()
    if distance == 0 or len(distinct) < 2:
        return found
    for keys in _band_keys(distinct, distance):
        if len(set(keys)) == len(keys):
            continue
        shared = {key for key, seen in Counter(keys).items() if seen > 1}
        groups: dict[int, list[int]] = defaultdict(list)
        for value, key in zip(distinct, keys, strict=True):
            if key in shared:
                groups[key].append(value)
        for group in groups.values():
            for i, value in enumerate(group):
                for other in group[i + 1 : i + 1 + MAX_CANDIDATES]:
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
    for kept_keys, asked_keys in zip(_band_keys(stored, distance), _band_keys(queries, distance), strict=True):
        common = set(kept_keys).intersection(asked_keys)
        if not common:
            continue
        positions: dict[int, list[int]] = defaultdict(list)
        for j in compress(range(len(kept_keys)), map(common.__contains__, kept_keys)):
            if stored[j]:
                positions[kept_keys[j]].append(j)
        for i in compress(range(len(asked_keys)), map(common.__contains__, asked_keys)):
            value = queries[i]
            earlier = positions.get(asked_keys[i])
            if not value or not earlier:
                continue
            end = bisect_left(earlier, i)
            for j in reversed(earlier[max(end - MAX_CANDIDATES, 0) : end]):
                if j <= result[i]:
                    break
                if ((stored[j] ^ value) & _MASK64).bit_count() <= distance:
                    result[i] = j
                    break
    return result
