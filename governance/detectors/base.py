"""Data types shared by the usage-chasing detectors: what they read, how they are tuned, what they say.

Detectors are pure functions (no ORM, no Django): a selector turns usage events and value signals into
these records, ``governance.detectors.run_all`` runs every detector, and a service stores the findings
as flags. Every datetime is timezone-aware UTC. A fingerprint value of ``0`` means "none" (no text).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PersonKey = tuple[int, int]  # (user_id, team_id)


@dataclass(slots=True, frozen=True)
class EventRecord:
    """One proxied call, as the detectors see it (``usage.models.UsageEvent`` minus the text)."""

    request_id: str
    created_at: datetime
    user_id: int
    team_id: int
    model: str
    endpoint: str
    status: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None
    max_tokens: int | None
    stream: bool
    client_disconnected: bool
    prompt_hash: str
    prompt_simhash: int
    output_simhash: int


@dataclass(slots=True, frozen=True)
class OutcomeRecord:
    """A reported outcome; ``weight`` is already value x the admin's weight for its kind."""

    user_id: int | None
    team_id: int | None
    occurred_at: datetime
    kind: str
    weight: float
    request_ids: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class Target:
    """An announced usage target or review; ``team_id`` None means the whole organisation."""

    announced_at: datetime
    kind: str  # "usage_target" | "review"
    team_id: int | None = None
    tokens_per_day: int | None = None


@dataclass(slots=True, frozen=True)
class ValueSignals:
    """What gives tokens a value. ``feedback`` maps request_id to a score in -1.0 .. +1.0."""

    feedback: Mapping[str, float] = field(default_factory=dict)
    outcomes: Sequence[OutcomeRecord] = ()
    targets: Sequence[Target] = ()
    period_ends: Sequence[datetime] = ()


@dataclass(slots=True, frozen=True)
class Window:
    """The half-open period under review, ``start <= created_at < end``."""

    start: datetime
    end: datetime


@dataclass(slots=True, frozen=True)
class Finding:
    """One person flagged by one detector. ``evidence`` is JSON-serialisable and always has "summary"."""

    user_id: int
    team_id: int
    detector: str
    score: float
    period_start: datetime
    period_end: datetime
    evidence: dict[str, Any]


_DEFAULT_TOP_TIER = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "claude-opus", "claude-3-opus")


@dataclass(slots=True, frozen=True)
class Thresholds:
    """Every tunable of every detector, with defaults; build one from a policy with ``from_policy``."""

    min_events: int = 30  # calls a person needs in the window before any detector judges them
    min_team_size: int = 4  # smaller teams are compared with the whole organisation instead
    simhash_distance: int = 3  # Hamming distance at or under which two fingerprints are "the same text"
    volume_z: float = 3.5  # robust z-score of tokens against peers
    value_ratio: float = 0.25  # value per token at or under this fraction of the peer median
    repetition_share: float = 0.4  # share of prompts that repeat another prompt of the same person
    cadence_cv: float = 0.1  # robust coefficient of variation of the gaps between calls
    cadence_hours: int = 20  # distinct active hours in a typical active day (of 24)
    padding_prompt_factor: float = 4.0  # prompt this many times the person's (or peers') usual size
    padding_output_ratio: float = 0.02  # ... answered with at most this fraction of the prompt's tokens
    padding_share: float = 0.25  # share of calls that are padded
    surge_days: float = 2.0  # length of the run-up to a period end
    surge_ratio: float = 3.0  # share of tokens in the run-up over the share its length would predict
    surge_baseline_days: int = 3  # active days outside run-ups a person needs for a baseline
    unread_share: float = 0.3  # share of calls whose output the client never received in full
    loop_share: float = 0.2  # share of prompts that are a previous output of the same person
    hug_band: float = 0.05  # "just above": within this fraction above the target or peer average
    hug_share: float = 0.6  # share of active days inside that band
    hug_min_days: int = 5  # active days needed to judge settling
    jump_days: int = 7  # days after an announcement, compared with the window before it
    jump_ratio: float = 3.0  # tokens per day after / before an announcement
    overkill_models: tuple[str, ...] = _DEFAULT_TOP_TIER  # see overkill_model.is_top_tier
    overkill_output_tokens: int = 20  # a "tiny" output
    overkill_prompt_tokens: int = 500  # a "small" prompt
    overkill_share: float = 0.5  # share of top-tier calls that are trivial
    # Value guards (see ``value``): nobody whose value is this many times the peer median is flagged.
    spare_value_ratio: float = 3.0
    volume_value_ratio: float = 1.0  # volume without value: value at most this x the peer median value
    cadence_linked_ratio: float = 0.5  # automation linked to outcomes at this x the peers' rate is spared
    value_follows_ratio: float = 0.7  # surge / jump: spared when value rose >= (token rise) ** this

    @classmethod
    def from_policy(cls, policy: Mapping[str, Any] | None) -> Thresholds:
        """Defaults overridden by ``policy``; raises ValueError on an unknown key, a wrong type or range.

        Numbers are taken as JSON gives them (an int is fine where a float is expected, never a bool);
        a list of names is fine for ``overkill_models``.
        """
        overrides = dict(policy or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"unknown detector threshold(s): {', '.join(unknown)}")
        values = {name: _coerce(name, known[name].default, value) for name, value in overrides.items()}
        return cls(**values)

    def __post_init__(self) -> None:
        """Every instance is valid, however built; raises ValueError naming the first bad field."""
        for name in (
            "value_ratio",
            "repetition_share",
            "padding_share",
            "unread_share",
            "loop_share",
            "hug_share",
            "overkill_share",
            "padding_output_ratio",
        ):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        for name in (
            "spare_value_ratio",
            "volume_value_ratio",
            "cadence_linked_ratio",
            "value_follows_ratio",
            "min_events",
            "volume_z",
            "cadence_cv",
            "cadence_hours",
            "padding_prompt_factor",
            "surge_days",
            "surge_ratio",
            "hug_band",
            "hug_min_days",
            "jump_days",
            "jump_ratio",
            "overkill_output_tokens",
            "overkill_prompt_tokens",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.simhash_distance <= 8:
            raise ValueError("simhash_distance must be in 0..8")
        if self.min_team_size < 2 or self.surge_baseline_days < 0 or self.cadence_hours > 24:
            raise ValueError("min_team_size must be >= 2, surge_baseline_days >= 0, cadence_hours <= 24")


def _coerce(name: str, default: Any, value: Any) -> Any:
    """The policy value in the type of the default, or ValueError (bools are never numbers here)."""
    if isinstance(default, tuple):
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
            return tuple(value)
    elif isinstance(value, bool):
        pass
    elif isinstance(default, int) and isinstance(value, int):
        return value
    elif isinstance(default, float) and isinstance(value, (int, float)):
        return float(value)
    raise ValueError(f"{name}: expected {type(default).__name__}, got {value!r}")
