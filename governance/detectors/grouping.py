"""The per-person index every detector reads, built once per run.

``group_events`` makes one pass over the window's events: it keeps successful calls (status < 400:
blocked and failed calls carry no tokens and no output, so they are no usage to judge), drops events
outside the window, and files them by person - a (user_id, team_id) pair - oldest first, with their
timestamps as epoch seconds beside them. Peers of a person are the other people of the same team, or
the whole organisation when the team has fewer than ``min_team_size`` active people.
"""

from __future__ import annotations

from collections import defaultdict

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from governance.detectors.base import (
    DetectorFn,
    EventRecord,
    Finding,
    PersonKey,
    Thresholds,
    ValueSignals,
    Window,
)

_BY_TIME = attrgetter("created_at")


DAY_SECONDS = 86_400.0


@dataclass(slots=True)
class Person:
    """One person's successful calls in the window, oldest first; ``times`` are epoch seconds."""

    user_id: int
    team_id: int
    events: list[EventRecord] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    total_tokens: int = 0

    @property
    def key(self) -> PersonKey:
        return (self.user_id, self.team_id)

    def daily_tokens(self) -> dict[int, int]:
        """Tokens per UTC day (day number since the epoch), active days only."""
        days: dict[int, int] = defaultdict(int)
        for moment, event in zip(self.times, self.events):
            days[int(moment // DAY_SECONDS)] += event.total_tokens
        return days


@dataclass(slots=True)
class Grouped:
    """People (ordered by key), their teams (and ``everyone``), and who their peers are."""

    window: Window
    people: dict[PersonKey, Person]
    teams: dict[int, list[PersonKey]]
    everyone: list[PersonKey]
    min_team_size: int

    def peer_group(self, key: PersonKey) -> list[PersonKey]:
        """The people this person is compared with, the person included (callers leave them out)."""
        team = self.teams[key[1]]
        return team if len(team) >= self.min_team_size else self.everyone

    def peer_scope(self, key: PersonKey) -> str:
        """"team" or "organisation": the words evidence uses for the person's peer group."""
        return "team" if len(self.teams[key[1]]) >= self.min_team_size else "organisation"

    def judged(self, thresholds: Thresholds) -> Iterable[Person]:
        """The people with enough calls to be judged at all (``min_events``), in key order."""
        minimum = thresholds.min_events
        return (p for p in self.people.values() if len(p.events) >= minimum)


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
        times = [e.created_at.timestamp() for e in person_events]
        if any(a > b for a, b in zip(times, times[1:])):
            person_events.sort(key=_BY_TIME)
            times.sort()
        people[key] = Person(key[0], key[1], person_events, times, sum(e.total_tokens for e in person_events))
        teams.setdefault(key[1], []).append(key)
    return Grouped(window=window, people=people, teams=teams, everyone=list(people), min_team_size=min_team_size)


def as_detector(find: Callable[[Grouped, ValueSignals, Thresholds], list[Finding]]) -> DetectorFn:
    """The public ``detect`` (see ``base.DetectorFn``) of a ``find`` that works on the shared index.

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
