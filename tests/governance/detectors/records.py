"""Builders of detector input records: one call, a person's office-hours calls, a team of peers.

Every call gets its own request id ``u<user>-<n>``, prompt hash and fingerprints (random-looking,
so no two unrelated calls are near-identical) unless a test overrides them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from governance.detectors import EventRecord, Window

T0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday, 00:00 UTC
WINDOW = Window(start=T0, end=T0 + timedelta(days=28))
# Eight calls an office day, minutes after 09:00: bursty, irregular gaps, five clock hours.
OFFICE_MINUTES = (0, 4, 31, 95, 180, 187, 300, 420)


def fingerprint(label: str) -> int:
    """A signed 64-bit value that looks random, stable for ``label``."""
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "big", signed=True)


def event(n: int = 0, *, user_id: int = 1, team_id: int = 1, at: datetime | None = None, **fields: Any) -> EventRecord:
    """Call number ``n`` of a person; ``fields`` override any EventRecord field."""
    prompt = fields.pop("prompt_tokens", 1_000)
    completion = fields.pop("completion_tokens", 200)
    values: dict[str, Any] = {
        "request_id": f"u{user_id}-{n}",
        "created_at": at or T0 + timedelta(hours=9, minutes=n),
        "user_id": user_id,
        "team_id": team_id,
        "model": "gpt-4o-mini",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost_usd": None,
        "max_tokens": None,
        "stream": False,
        "client_disconnected": False,
        "prompt_hash": f"hash-{user_id}-{n}",
        "prompt_simhash": fingerprint(f"prompt {user_id} {n}"),
        "output_simhash": fingerprint(f"output {user_id} {n}"),
    }
    values.update(fields)
    return EventRecord(**values)


def office_times(count: int, *, first_day: int = 0) -> list[datetime]:
    """``count`` call times, eight an office day (``OFFICE_MINUTES``) from day ``first_day`` of T0."""
    return [
        T0 + timedelta(days=first_day + day, hours=9, minutes=OFFICE_MINUTES[slot])
        for day, slot in (divmod(i, len(OFFICE_MINUTES)) for i in range(count))
    ]


def person(
    user_id: int, count: int = 40, *, team_id: int = 1, times: Sequence[datetime] | None = None, **fields: Any
) -> list[EventRecord]:
    """``count`` calls of one person at ``times`` (default: office hours from T0); same ``fields`` each."""
    moments = list(times) if times is not None else office_times(count)
    return [event(n, user_id=user_id, team_id=team_id, at=moments[n], **fields) for n in range(count)]


def team(user_ids: Iterable[int], count: int = 40, *, team_id: int = 1, **fields: Any) -> list[EventRecord]:
    """Ordinary peers: ``count`` office-hours calls each, the same ``fields`` for all."""
    return [e for user_id in user_ids for e in person(user_id, count, team_id=team_id, **fields)]


def ids(user_id: int, numbers: Iterable[int]) -> list[str]:
    """Request ids of a person's calls, in the given order."""
    return [f"u{user_id}-{n}" for n in numbers]
