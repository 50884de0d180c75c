"""Building findings: evidence a manager can read, with the numbers in plain words.

Every finding's evidence holds "summary" (one sentence with the numbers, in units and percentages),
"value_summary" (the value side in one sentence: what the person's tokens bought against their peers), the
numbers themselves,
"peer_scope" ("team" or "organisation"), and "examples": up to ``MAX_EXAMPLES`` request ids. Floats
are rounded (4 decimals) so evidence is stable and JSON-serialisable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from governance.detectors.base import Finding
from governance.detectors.grouping import Grouped, Person

MAX_EXAMPLES = 5


def make_finding(
    *,
    grouped: Grouped,
    person: Person,
    detector: str,
    score: float,
    summary: str,
    examples: Iterable[str],
    value_side: Any = None,
    **numbers: Any,
) -> Finding:
    """A ``Finding`` over the grouped window, its evidence as described in the module docstring.

    ``value_side`` (a ``value.ValueSide``) adds the value sentence ("value_summary") and its numbers.
    """
    evidence: dict[str, Any] = {"summary": summary}
    if value_side is not None:
        evidence["value_summary"] = value_side.sentence()
        numbers = {**value_side.numbers(), **numbers}
    evidence.update({name: _clean(value) for name, value in numbers.items()})
    evidence["peer_scope"] = grouped.peer_scope(person.key)
    evidence["examples"] = list(islice(examples, MAX_EXAMPLES))
    return Finding(
        user_id=person.user_id,
        team_id=person.team_id,
        detector=detector,
        score=score,
        period_start=grouped.window.start,
        period_end=grouped.window.end,
        evidence=evidence,
    )


def peer_clause(
    grouped: Grouped,
    person: Person,
    peer: float | None,
    shown: Callable[[float], str],
    *,
    what: str = "median",
    brackets: bool = False,
) -> str:
    """ "; team median 4%" (or " (team median 4%)") to end a summary; "" when the person has no peers."""
    if peer is None:
        return ""
    words = f"{grouped.peer_scope(person.key)} {what} {shown(peer)}"
    return f" ({words})" if brackets else f"; {words}"


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def count(value: float) -> str:
    """1210 -> "1,210" (rounded to a whole number)."""
    return f"{round(value):,}"


def percent(value: float) -> str:
    """0.4213 -> "42%"."""
    return f"{value:.0%}"


def decimal(value: float, places: int = 1) -> str:
    """3.14159 -> "3.1", with thousands separators."""
    return f"{value:,.{places}f}"


def times(value: float, reference: float) -> str:
    """12,000 against 1,000 -> "12.0 times"; against nothing -> "far above"."""
    if reference <= 0:
        return "far above"
    return f"{value / reference:,.1f} times"


def duration(seconds: float) -> str:
    """45 -> "45 s", 600 -> "10 min", 3600 -> "1 h", 5400 -> "1.5 h"."""
    if seconds < 90:
        return f"{seconds:,.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:,.0f} min"
    hours = seconds / 3600
    return f"{hours:,.0f} h" if abs(hours - round(hours)) < 0.05 else f"{hours:,.1f} h"
