"""One simulated person's history: their calls (as ``import_usage`` records), outcomes and feedback.

Everyone starts from the habits of a working style (``HABITS``): which days they work, how many calls
in how many sessions, prompt and answer sizes (log-normal), models, streaming, how often they retry a
prompt or paste an answer back, how many outcomes they ship and how many answers they rate. Honest
people are noisy on purpose (retries, follow-ups, stopped streams, quick questions to big models, busy
weeks), so a detector has to tell habit from chasing. A chaser works like the honest people of their
team (``BASE_STYLE``) and bends that in one way (``_chaser_habits``, ``_day_factor``, ``_CHASE``).
``person_history`` is pure: the same person and plan give the same history.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from devtools.simulation.org import HEAVY, HONEST, OrgPlan, PersonPlan
from devtools.synthetic import (
    Call,
    answer_text,
    import_record,
    lognormal_int,
    mix_of,
    poisson,
    prompt_text,
    retyped,
    words,
)

DAY = timedelta(days=1)
JUMP_SPAN = timedelta(days=10)  # how long the announcement jumper keeps their usage up


@dataclass(frozen=True, slots=True)
class Habits:
    weekday_share: float  # chance of working on a weekday
    weekend_share: float
    calls: tuple[int, int]  # calls on a working day (a third of that on a weekend)
    sessions: tuple[int, int]
    prompt_median: float
    prompt_sigma: float
    completion_median: float
    completion_sigma: float
    models: tuple[tuple[str, float], ...]
    stream_share: float
    stop_share: float  # streams the reader stops early (read enough)
    outcomes_per_day: float  # expected outcomes per working day (each worth 1..``outcome_value`` units)
    linked_share: float  # outcomes that name the calls they came from
    feedback_share: float  # answers rated
    positive_share: float
    retry_share: float = 0.04  # prompts sent again as they were
    follow_up_share: float = 0.04  # prompts that paste the previous answer back in
    quick_share: float = 0.08  # top-tier calls that are a quick question with a one-line answer
    embeddings_share: float = 0.0
    gap_s: tuple[float, float] = (0.0, 0.0)  # (low, high) uniform gaps within a session; (0, 0): human
    outcome_value: int = 2  # an outcome's value is 1..this (story points, ticket size)


_CODER = Habits(
    weekday_share=0.9,
    weekend_share=0.04,
    calls=(6, 20),
    sessions=(2, 4),
    prompt_median=900,
    prompt_sigma=0.9,
    completion_median=350,
    completion_sigma=0.8,
    models=(("gpt-4o-mini", 0.65), ("gpt-4o", 0.25), ("gpt-4.1", 0.1)),
    stream_share=0.6,
    stop_share=0.05,
    outcomes_per_day=0.35,
    linked_share=0.7,
    feedback_share=0.03,
    positive_share=0.85,
)
HABITS: dict[str, Habits] = {
    "coder": _CODER,
    "occasional": replace(
        _CODER,
        weekday_share=0.4,
        weekend_share=0.0,
        calls=(2, 7),
        sessions=(1, 2),
        prompt_median=500,
        prompt_sigma=0.8,
        completion_median=300,
        models=(("gpt-4o-mini", 0.8), ("gpt-4o", 0.2)),
        stream_share=0.3,
        outcomes_per_day=0.3,
        linked_share=0.4,
        feedback_share=0.05,
        positive_share=0.8,
    ),
    "analyst": replace(
        _CODER,
        weekday_share=0.88,
        weekend_share=0.05,
        calls=(5, 14),
        sessions=(2, 3),
        prompt_median=14_000,
        prompt_sigma=0.6,
        completion_median=900,
        completion_sigma=0.5,
        models=(("gpt-4.1", 0.5), ("gpt-4o", 0.2), ("gpt-4.1-mini", 0.3)),
        stream_share=0.5,
        outcomes_per_day=0.35,
        linked_share=0.6,
        feedback_share=0.06,
        embeddings_share=0.15,
        outcome_value=3,
    ),
    "weekend_light": replace(_CODER, weekday_share=0.8, weekend_share=0.35, calls=(5, 16)),
    "model_mixer": replace(
        _CODER,
        models=(("o3-mini", 0.2), ("gpt-4.1-mini", 0.25), ("gpt-4o", 0.2), ("o4-mini", 0.15), ("gpt-5-mini", 0.2)),
        quick_share=0.15,
    ),
    "power_user": replace(
        _CODER,
        weekday_share=0.97,
        weekend_share=0.2,
        calls=(25, 50),
        sessions=(3, 5),
        prompt_median=2_800,
        completion_median=700,
        models=(("gpt-4.1", 0.35), ("gpt-4o", 0.25), ("o3", 0.15), ("gpt-4.1-mini", 0.25)),
        stream_share=0.7,
        outcomes_per_day=1.2,
        outcome_value=4,
        linked_share=0.8,
        feedback_share=0.03,
        positive_share=0.92,
        follow_up_share=0.08,
    ),
    "agent_pipeline": replace(
        _CODER,
        weekday_share=0.95,
        weekend_share=0.1,
        calls=(20, 50),
        sessions=(4, 8),
        prompt_median=3_500,
        prompt_sigma=0.6,
        completion_median=450,
        models=(("gpt-4.1", 0.4), ("gpt-4o-mini", 0.6)),
        stream_share=0.1,
        outcomes_per_day=1.6,
        outcome_value=4,
        linked_share=0.9,
        feedback_share=0.02,
        positive_share=0.9,
        follow_up_share=0.1,
        gap_s=(2.0, 40.0),
    ),
    "agentic": replace(  # calls a day set per person from 100-300x a coder's tokens (_scaled)
        _CODER,
        weekday_share=0.95,
        weekend_share=0.15,
        calls=(40, 80),
        sessions=(4, 10),
        prompt_median=90_000,
        prompt_sigma=0.4,
        completion_median=1_500,
        completion_sigma=0.7,
        models=(("claude-sonnet-4", 0.5), ("gpt-4.1", 0.3), ("o3", 0.2)),
        stream_share=0.9,
        stop_share=0.02,
        linked_share=0.9,
        feedback_share=0.01,
        outcome_value=4,
        follow_up_share=0.25,
        quick_share=0.0,
        gap_s=(2.0, 30.0),
    ),
    "long_context": replace(
        _CODER,
        weekday_share=0.85,
        weekend_share=0.03,
        calls=(3, 10),
        sessions=(1, 3),
        prompt_median=30_000,
        prompt_sigma=0.5,
        completion_median=2_000,
        completion_sigma=0.5,
        models=(("gpt-4.1", 0.6), ("claude-sonnet-4", 0.4)),
        stream_share=0.5,
        linked_share=0.6,
        outcome_value=3,
        quick_share=0.0,
    ),
}
# A chaser works like the honest people of their team, then chases; these change their habits.
BASE_STYLE = {"engineering": "coder", "data": "analyst", "support": "weekend_light"}


def _chaser_habits(style: str, base: Habits, burn: float = 2.5) -> Habits:
    if style == "burner":  # many big calls, next to no value
        return replace(
            base,
            calls=(round(base.calls[0] * burn), round(base.calls[1] * burn)),
            prompt_median=base.prompt_median * 4,
            completion_median=base.completion_median * 2.5,
            outcomes_per_day=0.05,
            feedback_share=0.01,
        )
    if style == "cron_script":  # the script makes the calls; the person adds a few
        return replace(base, calls=(1, 6), sessions=(1, 1), outcomes_per_day=0.1, feedback_share=0.01)
    if style == "abandoner":
        return replace(
            base, outcomes_per_day=base.outcomes_per_day / 3, linked_share=0.0, feedback_share=0.0, stream_share=0.9
        )
    return base


@dataclass(slots=True)
class PersonHistory:
    usage: list[dict[str, Any]] = field(default_factory=list)  # import_usage records, oldest first
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # import_outcomes records
    feedback: list[dict[str, Any]] = field(default_factory=list)  # {"request_id", "user", "team", "score"}


def habits_of(person: PersonPlan, plan: OrgPlan | None = None) -> Habits:
    """The person's habits: their style's, or for a chaser or an honest archetype their team's usual
    style (bent, for a chaser; a target settler is always a light user before the target: that is what
    makes them hug it), scaled by the plan's variation (``_scaled``) when a plan is given."""
    if person.style in HABITS:
        habits = HABITS[person.style]
    else:
        base = "coder" if person.style == "target_settler" else BASE_STYLE[person.team.profile]
        burn = plan.variation.burn_factor if plan is not None else 2.5
        habits = _chaser_habits(person.style, HABITS[base], burn)
    return habits if plan is None else _scaled(person, plan, habits)


def day_tokens(habits: Habits) -> float:
    """Expected tokens on a working weekday of someone with ``habits`` (log-normal means)."""
    calls = sum(habits.calls) / 2
    prompt = habits.prompt_median * math.exp(habits.prompt_sigma**2 / 2)
    completion = habits.completion_median * math.exp(habits.completion_sigma**2 / 2)
    return calls * (prompt + completion)


def _scaled(person: PersonPlan, plan: OrgPlan, habits: Habits) -> Habits:
    """``habits`` under the plan's variation: everyone's calls and prompt sizes scaled, each person
    jittered, and - for honest and heavy people - outcomes that grow sub-linearly with tokens:
    (day tokens / a coder's) ** value_exponent times a coder's rate (an agentic user's factor held
    to 5-20). Chasers keep their style's outcome rate (times the organisation's scale)."""
    v = plan.variation
    rng = random.Random(f"scale:{v.family}:{plan.seed}:{person.index}")
    usage, worth = rng.lognormvariate(0, v.person_sigma), rng.lognormvariate(0, v.person_sigma)
    if person.style == "agentic":
        ratio = rng.uniform(100, 300)
        per_call = habits.prompt_median * math.exp(habits.prompt_sigma**2 / 2) + habits.completion_median * math.exp(
            habits.completion_sigma**2 / 2
        )
        mean_calls = ratio * day_tokens(_CODER) / per_call
        habits = replace(habits, calls=(max(1, round(mean_calls * 0.7)), round(mean_calls * 1.3)))
        usage = 1.0
    calls = (
        max(1, round(habits.calls[0] * v.calls_scale * usage)),
        max(1, round(habits.calls[1] * v.calls_scale * usage)),
    )
    scaled = replace(habits, calls=calls, prompt_median=habits.prompt_median * v.prompt_scale)
    rate = habits.outcomes_per_day
    if person.kind in (HONEST, HEAVY):
        factor = (day_tokens(scaled) / (day_tokens(_CODER) * v.calls_scale * v.prompt_scale)) ** v.value_exponent
        if person.style == "agentic":
            factor = min(max(factor, 5.0), 20.0)
        rate = _CODER.outcomes_per_day * factor * worth
    return replace(scaled, outcomes_per_day=rate * v.outcome_scale)


def _session_times(rng: random.Random, day: datetime, offset: int, calls: int, habits: Habits) -> list[datetime]:
    """``calls`` moments on ``day`` in office hours (local 08:30-19:00): a few sessions of bursty calls."""
    sessions = min(rng.randint(*habits.sessions), calls)
    counts = [1] * sessions
    for _ in range(calls - sessions):
        counts[rng.randrange(sessions)] += 1
    moments = []
    for count in counts:
        at = day + timedelta(hours=rng.uniform(8.5, 17.5) - offset)
        for _ in range(count):
            moments.append(at)
            if habits.gap_s != (0.0, 0.0):
                gap = rng.uniform(*habits.gap_s)
            elif rng.random() < 0.15:
                gap = rng.uniform(0.1, 0.9)  # parallel calls from one action
            else:
                gap = 5 + rng.expovariate(1 / 150)
            at += timedelta(seconds=gap)
    return sorted(moments)


def _fresh_call(rng: random.Random, habits: Habits, at: datetime, previous: Call | None) -> Call:
    """One ordinary call of someone with ``habits`` (``previous``: their call before, for retries)."""
    if rng.random() < habits.embeddings_share:
        tokens = lognormal_int(rng, 2_000, 0.8, 20, 8_000)
        return Call(
            at, "text-embedding-3-small", "/v1/embeddings", words(rng, rng.randint(20, 40)), "", tokens, 0, None, False
        )
    model = mix_of(habits.models).pick(rng.random())
    prompt_tokens = lognormal_int(rng, habits.prompt_median, habits.prompt_sigma, 20, 200_000)
    completion_tokens = lognormal_int(rng, habits.completion_median, habits.completion_sigma, 5, 16_000)
    prompt = prompt_text(rng)
    if previous is not None and previous.output:
        draw = rng.random()
        if draw < habits.retry_share:
            prompt = retyped(rng, previous.prompt)
        elif draw < habits.retry_share + habits.follow_up_share:
            prompt = previous.output + " " + prompt_text(rng, low=2, high=6)
    if model in ("gpt-4o", "gpt-4.1", "o3") and rng.random() < habits.quick_share:
        prompt_tokens, completion_tokens = rng.randint(20, 400), rng.randint(1, 20)
    max_tokens = rng.choice((None, None, 1_024, 2_048, 4_096, 8_192))
    if max_tokens is not None:
        completion_tokens = min(completion_tokens, max_tokens)
    stream = rng.random() < habits.stream_share
    call = Call(
        at,
        model,
        "/v1/chat/completions",
        prompt,
        answer_text(rng),
        prompt_tokens,
        completion_tokens,
        max_tokens,
        stream,
    )
    if stream and rng.random() < habits.stop_share:
        call.client_disconnected = True
        call.completion_tokens = max(1, call.completion_tokens // 3)
    if rng.random() < 0.005:
        call.status, call.error_code = 429, "rate_limit_exceeded"
        call.prompt_tokens = call.completion_tokens = 0
        call.output = ""
    return call


def _day_factor(person: PersonPlan, plan: OrgPlan, day: datetime) -> tuple[float, bool]:
    """(how many times the usual calls, whether they work that day regardless) for time-bound chasers."""
    if person.style == "surger":
        run_up = timedelta(days=plan.run_up_days)
        if any(end - run_up <= day < end for end in plan.period_ends):
            return plan.variation.surge_factor, True
    if person.style == "announcement_jumper":
        review = plan.announced("review", person.team.slug)
        if review is not None and timedelta(0) <= day - review.announced_at.replace(hour=0) < JUMP_SPAN:
            return plan.variation.jump_factor, day.weekday() < 5
    return 1.0, False


@dataclass(frozen=True, slots=True)
class Calendar:
    """An honest archetype's days: when they are away, ramping up, on call (day numbers in the window)."""

    away: frozenset[int] = frozenset()  # no calls (before joining, on leave)
    ramp: dict[int, float] = field(default_factory=dict)  # day -> factor (a new joiner's first weeks)
    on_call: frozenset[int] = frozenset()  # incident weeks
    on_call_factor: float = 1.0
    catch_up: frozenset[int] = frozenset()  # the first days back from leave


def calendar_of(person: PersonPlan, plan: OrgPlan) -> Calendar:
    """The archetype's calendar (empty for everyone else); deterministic per person and plan."""
    rng = random.Random(f"calendar:{plan.variation.family}:{plan.seed}:{person.index}")
    days = plan.days
    if person.style == "new_joiner":
        join = int(days * rng.uniform(0.15, 0.5))
        ramp = {d: min(1.0, 0.25 + 0.75 * (d - join) / 14) for d in range(join, min(days, join + 14))}
        return Calendar(away=frozenset(range(join)), ramp=ramp)
    if person.style == "back_from_leave":
        leave = int(days * rng.uniform(0.1, 0.55))
        back = min(days, leave + rng.randint(14, 28))
        return Calendar(away=frozenset(range(leave, back)), catch_up=frozenset(range(back, back + 3)))
    if person.style == "on_call":
        every, offset = rng.choice((3, 4)), rng.randrange(7 * 3)
        weeks = {d for d in range(days) if ((d + offset) // 7) % every == 0}
        return Calendar(on_call=frozenset(weeks), on_call_factor=rng.uniform(2.5, 4.0))
    return Calendar()


def _hug_target(rng: random.Random, calls: list[Call], target: int) -> None:
    """Scale a day's prompts so the day's tokens land 0-4.5% above ``target`` (tokens spent to be seen)."""
    live = [c for c in calls if c.status < 400]
    if not live:
        return
    goal = int(target * rng.uniform(1.002, 1.045))
    completions = sum(c.completion_tokens for c in live)
    prompts = sum(c.prompt_tokens for c in live)
    scale = max(goal - completions, len(live)) / max(prompts, 1)
    for c in live:
        c.prompt_tokens = max(1, int(c.prompt_tokens * scale))
    live[-1].prompt_tokens += goal - sum(c.prompt_tokens + c.completion_tokens for c in live)


def _daily_calls(
    rng: random.Random, person: PersonPlan, plan: OrgPlan, habits: Habits, calendar: Calendar
) -> list[Call]:
    """Every call of the person over the window, day by day, oldest first (before any chasing)."""
    calls: list[Call] = []
    target = plan.announced("usage_target", person.team.slug)
    for number in range(plan.days):
        if number in calendar.away:
            continue
        day = plan.start + number * DAY
        factor, forced = _day_factor(person, plan, day)
        factor *= calendar.ramp.get(number, 1.0)
        if number in calendar.catch_up:
            factor, forced = factor * 1.5, True
        on_call = number in calendar.on_call
        if on_call:
            factor, forced = factor * calendar.on_call_factor, forced or rng.random() < 0.6
        weekday = day.weekday() < 5
        if not forced and rng.random() >= (habits.weekday_share if weekday else habits.weekend_share):
            continue
        count = rng.randint(*habits.calls)
        count = max(1, round(count * factor if weekday or forced else count / 3))
        moments = _session_times(rng, day, person.team.utc_offset_hours, count, habits)
        if on_call and rng.random() < 0.4:  # an incident at night
            at = day + timedelta(hours=rng.uniform(0, 24))
            incident = [at + timedelta(seconds=rng.uniform(20, 400) * k) for k in range(rng.randint(3, 10))]
            moments = sorted(moments + incident)
        today: list[Call] = []
        for at in moments:
            today.append(_fresh_call(rng, habits, at, today[-1] if today else (calls[-1] if calls else None)))
        if person.style == "target_settler" and target is not None and target.announced_at.date() <= day.date():
            _hug_target(rng, today, target.tokens_per_day or 0)
        calls.extend(today)
    return calls


def _nightly_job(rng: random.Random, person: PersonPlan, plan: OrgPlan) -> tuple[list[Call], list[list[Call]]]:
    """A nightly documentation job on the person's key: a batch of regular calls every night at about
    01:00 local; (every call, the batches that published a document)."""
    gap, size, publish = rng.uniform(15, 40), rng.randint(25, 60), rng.uniform(0.5, 0.9)
    calls, published = [], []
    for number in range(plan.days):
        at = plan.start + number * DAY + timedelta(hours=1 - person.team.utc_offset_hours, minutes=rng.uniform(0, 30))
        batch = []
        for _ in range(rng.randint(size - 5, size + 5)):
            batch.append(
                Call(
                    at,
                    "gpt-4o-mini",
                    "/v1/chat/completions",
                    prompt_text(rng, low=20, high=30),
                    answer_text(rng),
                    rng.randint(1_500, 4_000),
                    rng.randint(300, 900),
                    2_048,
                    False,
                )
            )
            at += timedelta(seconds=gap + rng.uniform(-0.5, 0.5))
        calls += batch
        if rng.random() < publish:
            published.append(batch)
    return calls, published


# --- Chasing: how each chaser bends their calls --------------------------------------------------------


def _repeat(rng: random.Random, calls: list[Call], plan: OrgPlan, habits: Habits) -> list[Call]:
    """The same handful of prompts again and again (to run the numbers up without thinking)."""
    pool = [prompt_text(rng) for _ in range(6)]
    for call in calls:
        if call.endpoint.endswith("completions") and rng.random() < plan.variation.repeat_share:
            call.prompt = retyped(rng, rng.choice(pool))
    return calls


def _pad(rng: random.Random, calls: list[Call], plan: OrgPlan, habits: Habits) -> list[Call]:
    """Prompts inflated 6-15 times their usual size (a pasted manual) for a one-word answer and a huge
    ``max_tokens``."""
    for call in calls:
        if call.status < 400 and call.endpoint.endswith("completions") and rng.random() < plan.variation.pad_share:
            call.prompt_tokens = min(int(habits.prompt_median * rng.uniform(6, 15)), 190_000)
            call.completion_tokens = rng.randint(3, 15)
            call.max_tokens, call.output = 16_000, words(rng, rng.randint(2, 5))
    return calls


def _overkill(rng: random.Random, calls: list[Call], plan: OrgPlan, habits: Habits) -> list[Call]:
    """Top-tier models for trivial questions with one-line answers."""
    for call in calls:
        if call.status < 400 and call.endpoint.endswith("completions") and rng.random() < plan.variation.overkill_share:
            call.model = rng.choice(("gpt-4o", "gpt-4o", "o1"))
            call.prompt_tokens, call.completion_tokens = rng.randint(20, 300), rng.randint(1, 15)
            call.output = words(rng, rng.randint(2, 6))
    return calls


def _abandon(rng: random.Random, calls: list[Call], plan: OrgPlan, habits: Habits) -> list[Call]:
    """Streams started and dropped: the tokens are counted, the answers never read."""
    for call in calls:
        if call.stream and call.status < 400 and rng.random() < plan.variation.abandon_share:
            call.client_disconnected = True
            call.completion_tokens = max(1, int(call.completion_tokens * rng.uniform(0.05, 0.3)))
    return calls


def _loop(rng: random.Random, calls: list[Call], plan: OrgPlan, habits: Habits) -> list[Call]:
    """Each answer pasted back as the next prompt, all day: tokens generating tokens."""
    for previous, call in zip(calls, calls[1:], strict=False):
        same_day = previous.at.date() == call.at.date()
        if same_day and previous.output and call.status < 400 and rng.random() < plan.variation.loop_share:
            call.prompt = retyped(rng, previous.output)
    return calls


def _cron(rng: random.Random, calls: list[Call], plan: OrgPlan, habits: Habits) -> list[Call]:
    """A script on the person's key: a call every ``cron_minutes``, day and night, next to their own calls."""
    at, scripted = plan.start + timedelta(seconds=rng.uniform(0, 3_600)), []
    while at < plan.end:
        scripted.append(
            Call(
                at,
                "gpt-4o-mini",
                "/v1/chat/completions",
                f"status digest: {words(rng, 14)}",
                answer_text(rng),
                rng.randint(200, 400),
                rng.randint(50, 150),
                512,
                False,
            )
        )
        at += timedelta(seconds=plan.variation.cron_minutes * 60 + rng.gauss(0, 5))
    return sorted(calls + scripted, key=lambda c: c.at)


_CHASE = {
    "repeater": _repeat,
    "padder": _pad,
    "overkiller": _overkill,
    "abandoner": _abandon,
    "looper": _loop,
    "cron_script": _cron,
}


# --- Value: outcomes and feedback ----------------------------------------------------------------------


def _outcomes(
    rng: random.Random, person: PersonPlan, plan: OrgPlan, habits: Habits, calls: list[Call], calendar: Calendar
) -> list[dict[str, Any]]:
    """Outcomes on the person's working days (Poisson), some naming the calls of that day they came from;
    more on on-call and catch-up days, fewer while ramping up."""
    by_day: dict[Any, list[Call]] = {}
    for call in calls:
        if call.status < 400:
            by_day.setdefault(call.at.date(), []).append(call)
    outcomes: list[dict[str, Any]] = []
    for today in by_day.values():
        number = (datetime.combine(today[0].at.date(), datetime.min.time(), tzinfo=plan.start.tzinfo) - plan.start).days
        rate = habits.outcomes_per_day * calendar.ramp.get(number, 1.0)
        rate *= 2.5 if number in calendar.on_call else 1.5 if number in calendar.catch_up else 1.0  # incidents closed
        for _ in range(poisson(rng, rate)):
            occurred = min(today[-1].at + timedelta(minutes=rng.uniform(5, 120)), plan.end - timedelta(seconds=1))
            record = {
                "external_id": f"sim-{plan.tag}-{person.index:03d}-o{len(outcomes)}",
                "kind": person.team.outcome_kind,
                "user": person.email,
                "team": person.team.slug,
                "occurred_at": occurred.isoformat(),
                "value": rng.randint(1, habits.outcome_value),
            }
            if rng.random() < habits.linked_share:
                record["request_ids"] = [c.request_id for c in rng.sample(today, k=min(len(today), rng.randint(1, 6)))]
            outcomes.append(record)
    return outcomes


def _feedback(rng: random.Random, person: PersonPlan, habits: Habits, calls: list[Call]) -> list[dict[str, Any]]:
    """Ratings of some answers: thumbs up/down mostly, sometimes stars."""
    rated = []
    for call in calls:
        if call.status >= 400 or not call.output or rng.random() >= habits.feedback_share:
            continue
        positive = rng.random() < habits.positive_share
        if rng.random() < 0.8:
            score = 1 if positive else -1
        else:
            score = rng.choice((4, 5)) if positive else rng.choice((1, 2))
        rated.append({"request_id": call.request_id, "user": person.email, "team": person.team.slug, "score": score})
    return rated


def person_history(person: PersonPlan, plan: OrgPlan) -> PersonHistory:
    """The person's calls, outcomes and feedback over the plan's window (deterministic, see module doc)."""
    family = plan.variation.family
    rng = random.Random(
        f"person:{plan.seed}:{person.index}" if family == "standard" else f"person:{family}:{plan.seed}:{person.index}"
    )
    habits = habits_of(person, plan)
    calendar = calendar_of(person, plan)
    calls = _daily_calls(rng, person, plan, habits, calendar)
    chase = _CHASE.get(person.style)
    if chase is not None:
        calls = chase(rng, calls, plan, habits)
    published: list[list[Call]] = []
    everything = calls
    if person.style == "nightly_bot":
        job, published = _nightly_job(rng, person, plan)
        everything = sorted(calls + job, key=lambda c: c.at)
    everything = [c for c in everything if plan.start <= c.at < plan.end]
    prefix = f"sim-{plan.tag}-{person.index:03d}"
    for number, call in enumerate(everything):
        call.request_id = f"{prefix}-{number:05d}"
    calls = [c for c in calls if plan.start <= c.at < plan.end]
    history = PersonHistory(usage=[import_record(c, user=person.email, team=person.team.slug) for c in everything])
    history.outcomes = _outcomes(rng, person, plan, habits, calls, calendar)
    for batch in published:
        batch = [c for c in batch if c.request_id]
        if batch:
            history.outcomes.append(
                {
                    "external_id": f"sim-{plan.tag}-{person.index:03d}-doc{len(history.outcomes)}",
                    "kind": "doc_published",
                    "user": person.email,
                    "team": person.team.slug,
                    "occurred_at": min(
                        batch[-1].at + timedelta(minutes=5), plan.end - timedelta(seconds=1)
                    ).isoformat(),
                    "value": 1,
                    "request_ids": [c.request_id for c in batch],
                }
            )
    history.feedback = _feedback(rng, person, habits, calls)
    return history


def team_outcomes(plan: OrgPlan) -> list[dict[str, Any]]:
    """Team-level outcomes (a release every two weeks per team): value for the team, for no one person."""
    outcomes = []
    for team in plan.teams:
        for number, day in enumerate(range(10, plan.days, 14)):
            outcomes.append(
                {
                    "external_id": f"sim-{plan.tag}-{team.slug}-release{number}",
                    "kind": "release_shipped",
                    "team": team.slug,
                    "occurred_at": (plan.start + day * DAY + timedelta(hours=15)).isoformat(),
                    "value": 1,
                }
            )
    return outcomes


__all__ = ["HABITS", "Habits", "PersonHistory", "habits_of", "person_history", "team_outcomes"]
