"""The per-person index every detector reads, built once per run.

``group_events`` makes one pass over the window's events: it keeps successful calls (status < 400:
blocked and failed calls carry no tokens and no output, so they are no usage to judge), drops events
outside the window, and files them by person - a (user_id, team_id) pair - oldest first, with their
timestamps as epoch seconds beside them. Peers of a person are the other people of the same team, or
the whole organisation when the team has fewer than ``min_team_size`` active people.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from operator import attrgetter, gt
from typing import Any, Protocol

from governance.detectors.base import (
    EventRecord,
    Finding,
    PersonKey,
    Thresholds,
    ValueSignals,
    Window,
)

_BY_TIME = attrgetter("created_at")
_TOTAL_TOKENS = attrgetter("total_tokens")
_TIMESTAMP = datetime.timestamp


DAY_SECONDS = 86_400.0


@dataclass(slots=True)
class Person:
    """One person's successful calls in the window, oldest first; ``times`` are epoch seconds.

    The derived views below (``tokens``, ``text_calls``, ``daily_tokens``) are computed on first use
    and shared by every detector of the run: treat them as read-only.
    """

    user_id: int
    team_id: int
    events: list[EventRecord] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    total_tokens: int = 0
    _tokens: list[int] | None = field(default=None, init=False, repr=False, compare=False)
    _text_calls: list[EventRecord] | None = field(default=None, init=False, repr=False, compare=False)
    _daily: dict[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def key(self) -> PersonKey:
        return (self.user_id, self.team_id)

    def tokens(self) -> list[int]:
        """``total_tokens`` of each call, aligned with ``events`` (sum a slice instead of the events)."""
        if self._tokens is None:
            self._tokens = list(map(_TOTAL_TOKENS, self.events))
        return self._tokens

    def text_calls(self) -> list[EventRecord]:
        """The calls that ask for generated output (``generates_text``), oldest first."""
        if self._text_calls is None:
            self._text_calls = list(filter(generates_text, self.events))
        return self._text_calls

    def daily_tokens(self) -> dict[int, int]:
        """Tokens per UTC day (day number since the epoch), active days only, in day order.

        ``times`` is sorted, so each day is one slice, found by bisecting at the next midnight.
        """
        if self._daily is None:
            times, tokens = self.times, self.tokens()
            days: dict[int, int] = {}
            first, size = 0, len(times)
            while first < size:
                day = int(times[first] // DAY_SECONDS)
                last = bisect_left(times, (day + 1) * DAY_SECONDS, first)
                days[day] = sum(tokens[first:last])
                first = last
            self._daily = days
        return self._daily


@dataclass(slots=True)
class Grouped:
    """People (ordered by key), their teams (and ``everyone``), and who their peers are."""

    window: Window
    people: dict[PersonKey, Person]
    teams: dict[int, list[PersonKey]]
    everyone: list[PersonKey]
    min_team_size: int
    # Per-run derived data detectors share (e.g. ``value.value_sides``), keyed by name; each entry
    # records the signals it was computed from.
    cache: dict[str, Any] = field(default_factory=dict)

    def peer_group(self, key: PersonKey) -> list[PersonKey]:
        """The people this person is compared with, the person included (callers leave them out)."""
        team = self.teams[key[1]]
        return team if len(team) >= self.min_team_size else self.everyone

    def peer_scope(self, key: PersonKey) -> str:
        """ "team" or "organisation": the words evidence uses for the person's peer group."""
        return "team" if len(self.teams[key[1]]) >= self.min_team_size else "organisation"

    def judged(self, thresholds: Thresholds) -> Iterable[Person]:
        """The people with enough calls to be judged at all (``min_events``), in key order."""
        minimum = thresholds.min_events
        return (p for p in self.people.values() if len(p.events) >= minimum)


class DetectorFn(Protocol):
    """The contract of every detector module's ``detect``.

    Pure: no I/O, no clock, deterministic for the same input; findings ordered by (user_id, team_id).
    ``grouped`` is the shared per-person index (``group_events``); when absent the detector
    builds it from ``events``, which must then be the window's events.
    """

    def __call__(
        self,
        events: Sequence[EventRecord],
        signals: ValueSignals,
        window: Window,
        thresholds: Thresholds,
        *,
        grouped: Grouped | None = None,
    ) -> list[Finding]: ...


def time_buckets(times: Sequence[float], width: float, first: int = 0, last: int | None = None) -> list[int]:
    """The distinct ``int(t // width)`` of the sorted ``times[first:last]``, in order (e.g. active days).

    One bisect per bucket instead of a division per call: a heavy user has thousands of calls a day.
    """
    last = len(times) if last is None else last
    buckets = []
    while first < last:
        bucket = int(times[first] // width)
        buckets.append(bucket)
        first = bisect_left(times, (bucket + 1) * width, first, last)
    return buckets


def group_events(events: Sequence[EventRecord], window: Window, *, min_team_size: int) -> Grouped:
    """Index ``events`` by person (see the module docstring). O(n); sorts only people out of order."""
    start, end = window.start, window.end
    buckets: dict[PersonKey, list[EventRecord]] = {}
    for event in events:
        if event.status < 400 and start <= event.created_at < end:
            key = (event.user_id, event.team_id)
            bucket = buckets.get(key)
            if bucket is None:
                buckets[key] = [event]
            else:
                bucket.append(event)
    people: dict[PersonKey, Person] = {}
    teams: dict[int, list[PersonKey]] = {}
    for key in sorted(buckets):
        person_events = buckets[key]
        times = list(map(_TIMESTAMP, map(_BY_TIME, person_events)))
        if any(map(gt, times, islice(times, 1, None))):
            person_events.sort(key=_BY_TIME)
            times.sort()
        person = people[key] = Person(key[0], key[1], person_events, times)
        person.total_tokens = sum(person.tokens())
        teams.setdefault(key[1], []).append(key)
    return Grouped(window=window, people=people, teams=teams, everyone=list(people), min_team_size=min_team_size)


def as_detector(find: Callable[[Grouped, ValueSignals, Thresholds], list[Finding]]) -> DetectorFn:
    """The public ``detect`` (see ``DetectorFn``) of a ``find`` that works on the shared index.

    ``detect`` uses the caller's ``grouped`` index when given, else groups ``events`` itself.
    """

    def detect(
        events: Sequence[EventRecord],
        signals: ValueSignals,
        window: Window,
        thresholds: Thresholds,
        *,
        grouped: Grouped | None = None,
    ) -> list[Finding]:
        if grouped is None:
            grouped = group_events(events, window, min_team_size=thresholds.min_team_size)
        return find(grouped, signals, thresholds)

    detect.__doc__ = find.__doc__
    detect.__module__ = find.__module__
    return detect


def generates_text(event: EventRecord) -> bool:
    """Whether the call asks for generated output (embeddings return vectors: no output to judge)."""
    return "embeddings" not in event.endpoint
