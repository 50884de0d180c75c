"""A family of simulated organisations: each seed draws its own parameters, so no one simulator is the test.

A ``Variation`` is everything the simulator does not hold fixed: how much everyone uses (calls, prompt
sizes), how much value comes out of tokens and how sub-linearly (``value_exponent``: a person who uses
k times a coder's tokens ships k ** exponent times a coder's outcomes), how many of each honest archetype
and heavy user there are, and how hard each kind of chaser chases. ``variation_draw`` draws one from
the seed, within the ranges of a *family*:

- ``standard``: the ranges the detectors' thresholds are tuned on;
- ``independent``: other ranges and habits (more heavy agentic users, sparser outcomes, shorter and
  longer prompts, milder chasers, a different mix of teams) drawn from a different random stream - an
  organisation the tuning never saw, used only as a held-out check.

Pure and Django-free: the same (family, seed) gives the same variation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FAMILIES = ("standard", "independent")


@dataclass(frozen=True, slots=True)
class Variation:
    family: str
    calls_scale: float  # everyone's calls a day, times this
    prompt_scale: float  # everyone's prompt sizes, times this
    outcome_scale: float  # a coder's outcomes a day, times this
    value_exponent: float  # outcomes grow as (tokens / a coder's tokens) ** this
    person_sigma: float  # log-normal spread of each person's own usage and outcome rate around the style's
    # How many of each archetype per 50 people (rounded, at least the minimum the org needs).
    agentic: float
    long_context: float
    nightly_bot: float
    on_call: float
    new_joiner: float
    back_from_leave: float
    # How hard each chaser chases.
    burn_factor: float  # a burner's calls and prompt sizes, times this (of their base style's)
    repeat_share: float
    pad_share: float
    overkill_share: float
    abandon_share: float
    loop_share: float
    cron_minutes: float  # the cron script's period
    surge_factor: float
    jump_factor: float
    profile_weights: tuple[float, float, float]  # engineering, data, support teams


def variation_draw(*, family: str, seed: int) -> Variation:
    """The parameters of organisation ``seed`` of ``family`` (see the module docstring).

    Raises ValueError for an unknown family.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown simulation family {family!r} (one of {', '.join(FAMILIES)})")
    rng = random.Random(f"variation:{family}:{seed}")
    u = rng.uniform
    if family == "standard":
        return Variation(
            family=family,
            calls_scale=u(0.8, 1.25),
            prompt_scale=u(0.75, 1.35),
            outcome_scale=u(0.8, 1.25),
            value_exponent=u(0.35, 0.6),
            person_sigma=u(0.1, 0.25),
            agentic=u(1.5, 3.0),
            long_context=u(1.0, 2.5),
            nightly_bot=u(1.0, 2.0),
            on_call=u(1.5, 3.0),
            new_joiner=u(1.0, 2.5),
            back_from_leave=u(1.5, 3.0),
            burn_factor=u(2.4, 3.2),
            repeat_share=u(0.6, 0.75),
            pad_share=u(0.42, 0.55),
            overkill_share=u(0.6, 0.72),
            abandon_share=u(0.6, 0.75),
            loop_share=u(0.65, 0.8),
            cron_minutes=rng.choice((30.0, 60.0, 60.0, 120.0)),
            surge_factor=u(5.5, 7.0),
            jump_factor=u(4.5, 6.0),
            profile_weights=(0.6, 0.2, 0.2),
        )
    return Variation(
        family=family,
        calls_scale=u(0.6, 1.6),
        prompt_scale=u(0.5, 1.9),
        outcome_scale=u(0.5, 1.0),
        value_exponent=u(0.3, 0.5),
        person_sigma=u(0.2, 0.35),
        agentic=u(2.5, 4.0),
        long_context=u(1.5, 3.0),
        nightly_bot=u(1.5, 2.5),
        on_call=u(1.5, 3.0),
        new_joiner=u(1.5, 3.0),
        back_from_leave=u(1.5, 3.0),
        burn_factor=u(2.3, 2.8),
        repeat_share=u(0.55, 0.65),
        pad_share=u(0.4, 0.48),
        overkill_share=u(0.58, 0.65),
        abandon_share=u(0.58, 0.66),
        loop_share=u(0.6, 0.7),
        cron_minutes=rng.choice((15.0, 45.0, 90.0)),
        surge_factor=u(5.0, 6.0),
        jump_factor=u(4.2, 5.0),
        profile_weights=(0.4, 0.3, 0.3),
    )
