"""The simulated organisation: teams, who is who (the ground truth), announcements, period ends.

Everyone gets a *kind* - the truth the evaluation scores the detectors against - and a *style*:

- ``honest``: ``coder`` (bursty office-hours sessions), ``occasional`` (a few calls on some days),
  ``analyst`` (long documents, in the data team), ``weekend_light`` (weekdays plus light weekends),
  ``model_mixer`` (many different models);
- honest archetypes spread over every team (``ARCHETYPES``): ``long_context`` (analysts who send whole
  documents), ``nightly_bot`` (a person whose key also runs a nightly job; each batch that publishes a
  document names its calls), ``on_call`` (incident weeks: bursts day and night), ``new_joiner`` (joins
  during the window and ramps up), ``back_from_leave`` (two to four weeks away, then a catch-up);
- ``heavy_productive``: ``power_user`` (several times a coder's tokens), ``agent_pipeline`` (chained
  agent runs that end in outcomes) and ``agentic`` (coding agents: 100-300 times a coder's tokens for
  5-20 times the outcomes);
- one chaser kind per detector, named after it (``CHASERS``): the style says how they chase.

Teams have a profile (engineering, data, support) that sets their honest people's styles and the kind
of outcome they ship. Chasers and heavy users are spread over the teams so no team's peer baseline is
made of them. An organisation-wide usage target is announced about 40% into the window and a review
to the announcement jumper's team about 65% in. Nothing here touches the database: ``org_plan`` is a
pure function of its arguments.
"""

from __future__ import annotations

import hashlib
import random
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devtools.simulation.family import Variation, variation_draw
from governance.detectors.base import Thresholds

HONEST, HEAVY = "honest", "heavy_productive"
# (kind, style) of every chaser variant; the kind is the detector that should flag them.
CHASERS: tuple[tuple[str, str], ...] = (
    ("volume_without_value", "burner"),
    ("repetition", "repeater"),
    ("mechanical_cadence", "cron_script"),
    ("padding", "padder"),
    ("period_end_surge", "surger"),
    ("unread_output", "abandoner"),
    ("self_feeding_loop", "looper"),
    ("target_hugging", "target_settler"),
    ("target_hugging", "announcement_jumper"),
    ("overkill_model", "overkiller"),
)
HEAVY_STYLES = ("power_user", "agent_pipeline")
AGENTIC = "agentic"
# Honest archetypes placed on purpose (not by team profile), named as ``Variation`` fields.
ARCHETYPES = ("long_context", "nightly_bot", "on_call", "new_joiner", "back_from_leave")
# Honest working styles by team profile, with their weights.
PROFILE_STYLES: dict[str, tuple[tuple[str, float], ...]] = {
    "engineering": (("coder", 0.45), ("weekend_light", 0.2), ("model_mixer", 0.2), ("occasional", 0.15)),
    "data": (("analyst", 0.75), ("model_mixer", 0.1), ("occasional", 0.15)),
    "support": (("occasional", 0.45), ("weekend_light", 0.35), ("model_mixer", 0.2)),
}
OUTCOME_KIND = {"engineering": "pr_merged", "data": "doc_published", "support": "ticket_resolved"}
# What an admin weighs each outcome kind at (team outcomes included).
OUTCOME_WEIGHTS = {"pr_merged": 3, "doc_published": 4, "ticket_resolved": 2, "release_shipped": 5}
TARGET_TOKENS_PER_DAY = 60_000

_TEAMS = (
    ("platform", "engineering", 0),
    ("data", "data", 1),
    ("support", "support", -4),
    ("payments", "engineering", 2),
    ("mobile", "engineering", 5),
    ("growth", "engineering", -3),
    ("infra", "engineering", 0),
    ("research", "data", 3),
    ("success", "support", -5),
    ("security", "engineering", 1),
)
_FIRST = (
    "ada",
    "ben",
    "chloe",
    "dev",
    "elif",
    "femi",
    "grace",
    "hugo",
    "ines",
    "jun",
    "kofi",
    "lena",
    "mateo",
    "nadia",
    "omar",
    "priya",
    "quinn",
    "rosa",
    "sami",
    "tara",
    "umar",
    "vera",
    "wei",
    "xena",
    "yusuf",
    "zoe",
    "aiko",
    "bruno",
    "carla",
    "diego",
    "emma",
    "farid",
    "gita",
    "hana",
    "ivan",
    "jade",
)
_LAST = (
    "okafor",
    "lindqvist",
    "moreau",
    "tanaka",
    "silva",
    "novak",
    "haddad",
    "kowalski",
    "nguyen",
    "fischer",
    "rossi",
    "mensah",
    "ibrahim",
    "costa",
    "dubois",
    "sato",
    "berg",
    "kaur",
    "lopez",
    "petrov",
    "wright",
    "yilmaz",
    "adeyemi",
    "murphy",
    "schmidt",
    "park",
    "ali",
    "garcia",
)
MIN_PEOPLE, MIN_DAYS = 30, 35
QUIET_BEFORE_END = timedelta(days=Thresholds().jump_days + 1)  # no announcement this close to a period end


@dataclass(frozen=True, slots=True)
class TeamPlan:
    slug: str
    profile: str  # a PROFILE_STYLES key
    utc_offset_hours: int  # office hours are 08:30-19:00 in this offset

    @property
    def outcome_kind(self) -> str:
        return OUTCOME_KIND[self.profile]


@dataclass(frozen=True, slots=True)
class PersonPlan:
    index: int
    email: str
    team: TeamPlan
    kind: str  # HONEST, HEAVY or a detector name (the ground truth)
    style: str


@dataclass(frozen=True, slots=True)
class Announcement:
    """A usage target or review announced to a team (None: the organisation), as ``UsageTarget`` holds it."""

    kind: str  # "usage_target" | "review"
    team: str | None
    announced_at: datetime
    tokens_per_day: int | None
    description: str


@dataclass(frozen=True, slots=True)
class OrgPlan:
    seed: int
    start: datetime  # 00:00 UTC of the first day
    days: int
    teams: tuple[TeamPlan, ...]
    people: tuple[PersonPlan, ...]
    announcements: tuple[Announcement, ...]
    period_ends: tuple[datetime, ...]  # month starts in the organisation's time zone, in the window
    run_up_days: float  # how long before a period end the surger piles up usage
    variation: Variation

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def tag(self) -> str:
        """8 hex digits naming this scenario (seed, size, window) in request and outcome ids, so two
        different scenarios never share an id (an import would silently skip the second one's)."""
        label = f"{self.seed}:{len(self.people)}:{self.days}:{self.start.isoformat()}"
        if self.variation.family != "standard":
            label += f":{self.variation.family}"
        return hashlib.blake2b(label.encode(), digest_size=4).hexdigest()

    def announced(self, kind: str, team: str | None = None) -> Announcement | None:
        """The first announcement of ``kind`` that applies to ``team`` (or the organisation)."""
        return next((a for a in self.announcements if a.kind == kind and a.team in (None, team)), None)


def month_starts(*, start: datetime, end: datetime, time_zone: str) -> tuple[datetime, ...]:
    """Midnights of the 1st in ``time_zone`` with ``start < P <= end``, in UTC (the detection's period ends)."""
    zone = zoneinfo.ZoneInfo(time_zone)
    local = start.astimezone(zone)
    year, month = local.year, local.month
    found: list[datetime] = []
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        boundary = datetime(year, month, 1, tzinfo=zone)
        if boundary > end:
            return tuple(found)
        if boundary > start:
            found.append(boundary.astimezone(UTC))


def _announcement_at(start: datetime, day: int, period_ends: tuple[datetime, ...]) -> datetime:
    """08:00 UTC of day ``day``, moved forward past weekends and out of the ``QUIET_BEFORE_END`` before a
    period end: a period-end run-up right after an announcement would read as a jump on cue, and the
    scenario should tell the two kinds of chasing apart."""
    moment = start + timedelta(days=day, hours=8)
    while moment.weekday() >= 5 or any(timedelta(0) <= end - moment <= QUIET_BEFORE_END for end in period_ends):
        moment += timedelta(days=1)
    return moment


def _honest_styles(profile: str, count: int, rng: random.Random) -> list[str]:
    """``count`` working styles in the profile's proportions (largest remainder), shuffled."""
    weights = PROFILE_STYLES[profile]
    shares = [(style, weight * count) for style, weight in weights]
    counts = {style: int(share) for style, share in shares}
    by_remainder = sorted(shares, key=lambda item: int(item[1]) - item[1])
    for style, _ in by_remainder[: count - sum(counts.values())]:
        counts[style] += 1
    styles = [style for style, _ in weights for _ in range(counts[style])]
    rng.shuffle(styles)
    return styles


def org_plan(
    *, people: int, days: int, seed: int, start: datetime, time_zone: str = "UTC", family: str = "standard"
) -> OrgPlan:
    """Who is who in an organisation of ``people`` over ``days`` days from ``start`` (see the module doc),
    with the parameters ``family`` draws for ``seed`` (``family.variation_draw``).

    ``start`` is truncated to 00:00 UTC. Deterministic for the same arguments. Raises ValueError for
    fewer than ``MIN_PEOPLE`` people or ``MIN_DAYS`` days (every chaser kind needs peers and a month end)
    and for an unknown family.
    """
    variation = variation_draw(family=family, seed=seed)
    if people < MIN_PEOPLE or days < MIN_DAYS:
        raise ValueError(f"a simulated organisation needs at least {MIN_PEOPLE} people and {MIN_DAYS} days")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    start = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(f"org:{seed}" if family == "standard" else f"org:{family}:{seed}")
    team_count = max(3, round(people / 10))
    profiles = [profile for _, profile, _ in _TEAMS]
    if family != "standard":  # another mix of teams: profiles drawn by the family's weights
        profiles = rng.choices(("engineering", "data", "support"), variation.profile_weights, k=len(_TEAMS))
        profiles[:3] = ["engineering", "data", "support"]
    teams = tuple(
        TeamPlan(
            slug=name if i < len(_TEAMS) else f"{name}-{i // len(_TEAMS) + 1}",
            profile=profiles[i % len(_TEAMS)],
            utc_offset_hours=offset,
        )
        for i in range(team_count)
        for name, _, offset in [_TEAMS[i % len(_TEAMS)]]
    )
    each = max(1, people // 60)
    heavy = max(2, people // 12)
    specials = [kind_style for kind_style in CHASERS for _ in range(each)]
    specials += [(HEAVY, HEAVY_STYLES[i % len(HEAVY_STYLES)]) for i in range(heavy)]
    specials += [(HEAVY, AGENTIC)] * max(1, round(variation.agentic * people / 50))
    for archetype in ARCHETYPES:
        specials += [(HONEST, archetype)] * max(1, round(getattr(variation, archetype) * people / 50))
    if len(specials) > people * 0.7:
        raise ValueError(f"{people} people are too few for this organisation's {len(specials)} special people")
    rng.shuffle(specials)
    members: list[list[tuple[str, str]]] = [[] for _ in teams]
    for i, special in enumerate(specials):
        members[i % team_count].append(special)
    for i in range(people - len(specials)):
        members[(len(specials) + i) % team_count].append((HONEST, ""))
    names = rng.sample([(f, last) for f in _FIRST for last in _LAST], k=min(people, len(_FIRST) * len(_LAST)))
    plans: list[PersonPlan] = []
    for team, crew in zip(teams, members, strict=True):
        honest = iter(_honest_styles(team.profile, sum(1 for kind, style in crew if kind == HONEST and not style), rng))
        for kind, style in crew:
            index = len(plans)
            first, last = names[index % len(names)]
            suffix = "" if index < len(names) else str(index)
            plans.append(
                PersonPlan(
                    index=index,
                    email=f"{first}.{last}{suffix}@example.com",
                    team=team,
                    kind=kind,
                    style=style or next(honest),
                )
            )
    end = start + timedelta(days=days)
    period_ends = month_starts(start=start, end=end, time_zone=time_zone)
    announcements = [
        Announcement(
            kind="usage_target",
            team=None,
            announced_at=_announcement_at(start, round(days * 0.4), period_ends),
            tokens_per_day=TARGET_TOKENS_PER_DAY,
            description=f"Everyone should use at least {TARGET_TOKENS_PER_DAY:,} tokens a day (AI adoption goal)",
        )
    ]
    for slug in dict.fromkeys(p.team.slug for p in plans if p.style == "announcement_jumper"):
        announcements.append(
            Announcement(
                kind="review",
                team=slug,
                announced_at=_announcement_at(start, round(days * 0.65), period_ends),
                tokens_per_day=None,
                description=f"Quarterly review of AI usage in {slug}",
            )
        )
    return OrgPlan(
        seed=seed,
        start=start,
        days=days,
        teams=teams,
        people=tuple(plans),
        announcements=tuple(announcements),
        period_ends=period_ends,
        run_up_days=Thresholds().surge_days,
        variation=variation,
    )
