"""Flags as the report pages show them: open flags of a team, a person's own flags, one flag's history.

Reads the Flag model once it exists; until then every selector returns nothing, and the pages say
"no open flags".
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from governance.models import Team


@dataclasses.dataclass(frozen=True, slots=True)
class FlagEvent:
    """One step of a flag's history: raised, or a review decision with its comment."""

    at: datetime
    actor: str
    action: str
    comment: str


@dataclasses.dataclass(frozen=True, slots=True)
class FlagView:
    id: int
    detector: str
    user_id: int | None
    person: str
    team_id: int | None
    team_slug: str
    status: str
    raised_at: datetime
    summary: str
    evidence: Any
    history: list[FlagEvent]


def flags_open_for_team(*, team: Team) -> list[FlagView]:
    """The team's flags that still wait for a review, newest first."""
    return []


def flags_for_person(*, user) -> list[FlagView]:
    """Every flag raised about ``user`` (any team, any status), newest first, with the reviews."""
    return []
