"""The clock enforcement reads: wall time in epoch seconds, replaceable by tests.

Budget periods, rate-limit buckets and reservation deadlines all read ``now()``; tests move time with
``clock_set`` instead of sleeping. Only this process is affected (a proxy subprocess keeps real time).
"""

from __future__ import annotations

import time
from collections.abc import Callable

_clock: Callable[[], float] = time.time


def now() -> float:
    """The current time, epoch seconds."""
    return _clock()


def clock_set(clock: Callable[[], float] | None) -> None:
    """Replace the clock (None restores the real one). For tests."""
    global _clock
    _clock = clock or time.time
