"""The reports data set: millions of usage events (default 10 million, 100 teams, 5,000 people, 12 months).

    DATABASE_URL=postgres://.../tokenwise_bench .venv/bin/python -m bench.harness.generate [--events 10000000]
        [--teams 100] [--people 5000] [--months 12] [--seed 7] [--force]

Writes to the configured PostgreSQL database (a scratch one: ``--force`` empties the usage-event and
rollup tables first). Teams ``gen-000`` ... with their people, memberships and keys are created with bulk
inserts; events are streamed with one psycopg ``COPY`` (text format, built row by row, a progress bar
per million); monthly partitions for the whole range are created first. Daily rollups are then
computed with one ``INSERT ... SELECT ... GROUP BY`` per month - the same sums as
``usage.ledger.rollups._rollup_slice_recompute`` (checked on a sample slice against the service itself) -
and the tables are analysed. Running it again with the same parameters does nothing.

Shape: people use Tokenwise on working days, mostly in office hours; a few heavy users; six models with
list prices; 2% rate-limited, 0.5% upstream errors; half the calls streamed; request ids sequential
(``req_gen...``) so the unique index is appended to, not scattered (10x faster to load).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from devtools.synthetic import MODELS, Mix, office_second

PREFIX = "req_gen"
TEAM_PREFIX = "gen-"
ROWS_PER_WRITE = 20_000
# Share of calls per model (the models' served names, providers and list prices: devtools.synthetic.MODELS).
MODEL_MIX = Mix(
    (
        ("gpt-4o-mini", 0.40),
        ("gpt-4o", 0.20),
        ("gpt-4.1-mini", 0.15),
        ("gpt-4.1", 0.10),
        ("o4-mini", 0.10),
        ("text-embedding-3-small", 0.05),
    )
)


@dataclasses.dataclass(frozen=True, slots=True)
class Person:
    user_id: int
    team_id: int
    key_id: int
    weight: float


def _month_start(day: date, back: int) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def people_ensure(*, teams: int, people: int, rng: random.Random) -> list[Person]:
    """Teams ``gen-NNN``, ``people`` people spread evenly, one membership and one key each."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from governance.models import ApiKey, Membership, Team

    user_model = get_user_model()
    with transaction.atomic():
        existing = {t.slug: t for t in Team.objects.filter(slug__startswith=TEAM_PREFIX)}
        Team.objects.bulk_create(
            [
                Team(slug=f"{TEAM_PREFIX}{i:03d}", name=f"Generated team {i:03d}")
                for i in range(teams)
                if f"{TEAM_PREFIX}{i:03d}" not in existing
            ]
        )
        team_ids = [t.pk for t in Team.objects.filter(slug__startswith=TEAM_PREFIX).order_by("slug")][:teams]
        emails = [f"gen{i:05d}@gen.example" for i in range(people)]
        have = set(user_model.objects.filter(email__in=emails).values_list("email", flat=True))
        user_model.objects.bulk_create(
            [user_model(username=e, email=e, first_name=f"Gen {e[3:8]}") for e in emails if e not in have],
            batch_size=2000,
        )
        users = dict(user_model.objects.filter(email__in=emails).values_list("email", "pk"))
        pairs = [(users[e], team_ids[i % teams]) for i, e in enumerate(emails)]
        have_members = set(Membership.objects.filter(team_id__in=team_ids).values_list("user_id", "team_id"))
        Membership.objects.bulk_create(
            [
                Membership(user_id=u, team_id=t, role=Membership.Role.MANAGER if i < teams else Membership.Role.MEMBER)
                for i, (u, t) in enumerate(pairs)
                if (u, t) not in have_members
            ],
            batch_size=2000,
        )
        keys = dict(ApiKey.objects.filter(user_id__in=users.values(), name="gen").values_list("user_id", "pk"))
        ApiKey.objects.bulk_create(
            [
                ApiKey(user_id=u, team_id=t, name="gen", prefix="tw-gen", key_hash=f"gen{u:061d}")
                for u, t in pairs
                if u not in keys
            ],
            batch_size=2000,
        )
        keys = dict(ApiKey.objects.filter(user_id__in=users.values(), name="gen").values_list("user_id", "pk"))
    # A few heavy users, most ordinary: a log-normal weight per person.
    return [Person(user_id=u, team_id=t, key_id=keys[u], weight=rng.lognormvariate(0, 0.8)) for u, t in pairs]


def _columns() -> list[str]:
    from usage.models import UsageEvent

    return [f.column for f in UsageEvent._meta.concrete_fields if not f.primary_key]


def _day_weights(start: date, days: int) -> list[float]:
    return [0.12 if (start + timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(days)]


def events_copy(*, events: int, people: list[Person], start: date, end: date, rng: random.Random) -> float:
    """COPY ``events`` rows into the usage-event table; returns the seconds spent."""
    from django.db import connection
    from tqdm import tqdm

    missing = set(_columns()) - set(ROW_COLUMNS)
    if missing:  # a column added to the model later: COPY leaves it NULL (fails loudly if NOT NULL)
        print(f"note: columns not generated (left NULL): {', '.join(sorted(missing))}")
    days = (end - start).days
    day_weights = _day_weights(start, days)
    total_weight = sum(day_weights)
    per_day = [events * w / total_weight for w in day_weights]
    cumulative_people = []
    acc = 0.0
    for person in people:
        acc += person.weight
        cumulative_people.append(acc)
    import bisect

    rand = rng.random
    purposes = ("", "", "", "triage", "code-review", "support", "summarise")
    clients = ("claude-cli/2.1.3", "codex_cli_rs/0.40.0", "OpenAI/Python 1.99.0", "Anthropic/Python 0.64.0")
    hashes = [f"{rng.getrandbits(256):064x}" for _ in range(4096)]
    written = 0
    started = time.perf_counter()
    progress = tqdm(total=events, unit="ev", unit_scale=True, desc="events (COPY)", mininterval=1.0)
    column_list = ", ".join(ROW_COLUMNS)
    null = "\\N"
    carry = 0.0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY usage_usageevent ({column_list}) FROM STDIN") as copy:
            buffer: list[str] = []
            for d in range(days):
                day = start + timedelta(days=d)
                carry += per_day[d]
                count = int(carry) if d < days - 1 else events - written
                carry -= count
                if count <= 0:
                    continue
                weekend = day.weekday() >= 5
                day_prefix = day.isoformat()
                # Office hours (8-19 UTC) for most calls, some around the clock; sorted within the day.
                seconds = sorted(office_second(rand, weekend=weekend) for _ in range(count))
                for second in seconds:
                    person = people[bisect.bisect_left(cumulative_people, rand() * cumulative_people[-1])]
                    m = MODELS[MODEL_MIX.pick(rand())]
                    roll = rand()
                    status = 429 if roll < 0.02 else (502 if roll < 0.025 else 200)
                    embedding = m.embedding
                    stream = (not embedding) and rand() < 0.5
                    if status == 200:
                        prompt = int(50 + rand() * rand() * 4000)
                        completion = 0 if embedding else int(10 + rand() * rand() * 1200)
                        cached = int(prompt * 0.3) if rand() < 0.3 else 0
                        reasoning = int(completion * 0.4) if m.name == "o4-mini" else 0
                        cost_text = f"{m.list_cost_usd(prompt, completion):.8f}"
                        served, provider, error_code = m.served, m.provider, ""
                        latency = int(200 + rand() * 3000)
                        ttfb = str(int(80 + rand() * 600)) if stream else str(latency)
                    else:
                        prompt = completion = cached = reasoning = 0
                        cost_text = "0.00000000"
                        served, provider = ("", "") if status == 429 else (m.served, m.provider)
                        error_code = "rate_limited" if status == 429 else "upstream_502"
                        latency = int(2 + rand() * 30) if status == 429 else int(200 + rand() * 2000)
                        ttfb = null
                    # A third of the calls come from coding agents, in sessions of about 40 calls per person.
                    if rand() < 0.33:
                        session = f"s-{person.user_id}-{d}-{int(second) // 3600 // 3}"
                        agent = (
                            clients[int(rand() * 2)],
                            session,
                            "" if rand() < 0.8 else f"a{int(rand() * 9)}",
                            "",
                            "compaction" if rand() < 0.02 else "",
                        )
                        cache_write = int(prompt * 0.1) if status == 200 else 0
                    else:
                        agent = (clients[2 + int(rand() * 2)], "", "", "", "")
                        cache_write = 0
                    h = int(second) // 3600
                    mi = int(second) % 3600 // 60
                    s = second % 60
                    written += 1
                    buffer.append(
                        f"{PREFIX}{written:012d}\t{day_prefix} {h:02d}:{mi:02d}:{s:09.6f}+00\t{person.key_id}\t"
                        f"{person.user_id}\t{person.team_id}\t"
                        f"{'embeddings' if embedding else 'chat.completions'}\t{m.name}\t{served}\t{provider}\t"
                        f"{status}\t{error_code}\t{'t' if stream else 'f'}\t{prompt}\t{completion}\t{cached}\t"
                        f"{reasoning}\t{prompt + completion}\t{cost_text}\t{null}\t{latency}\t{ttfb}\tf\t"
                        f"{'t' if stream and rand() < 0.03 else 'f'}\t{null if embedding else 1024}\t"
                        f"{purposes[int(rand() * 7)]}\t\t{hashes[int(rand() * 4096)]}\t"
                        f"{rng.getrandbits(63)}\t{rng.getrandbits(63)}\t{null}\t{null}\t"
                        f"{agent[0]}\t{agent[1]}\t{agent[2]}\t{agent[3]}\t{agent[4]}\t{cache_write}\n"
                    )
                    if len(buffer) >= ROWS_PER_WRITE:
                        copy.write("".join(buffer))
                        progress.update(len(buffer))
                        buffer.clear()
            if buffer:
                copy.write("".join(buffer))
                progress.update(len(buffer))
    progress.close()
    return time.perf_counter() - started


# Columns in the order the rows above are built.
ROW_COLUMNS = (
    "request_id",
    "created_at",
    "key_id",
    "user_id",
    "team_id",
    "endpoint",
    "model_requested",
    "model_served",
    "provider",
    "status",
    "error_code",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "price_id",
    "latency_ms",
    "time_to_first_byte_ms",
    "is_estimated",
    "client_disconnected",
    "max_tokens",
    "purpose",
    "policy_action",
    "prompt_hash",
    "prompt_simhash",
    "output_simhash",
    "prompt_text",
    "output_text",
    "client",
    "session_id",
    "agent_id",
    "parent_agent_id",
    "request_class",
    "cache_write_tokens",
)


def rollups_build(*, start: date, end: date) -> float:
    """Daily rollups of the generated range, one month per statement (the service's exact sums)."""
    from django.conf import settings
    from django.db import connection, transaction
    from tqdm import tqdm

    zone = settings.TIME_ZONE
    started = time.perf_counter()
    months = []
    month = start.replace(day=1)
    while month < end:
        following = _month_start(month, -1)
        months.append((month, min(following, end)))
        month = following
    for lower, upper in tqdm(months, desc="rollups (per month)", unit="month"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM usage_dailyrollup WHERE day >= %s AND day < %s AND team_id IN "
                "(SELECT id FROM governance_team WHERE slug LIKE %s)",
                [lower, upper, TEAM_PREFIX + "%"],
            )
            cursor.execute(
                """
                INSERT INTO usage_dailyrollup (day, user_id, team_id, model, requests, errors, prompt_tokens,
                    completion_tokens, cached_tokens, reasoning_tokens, total_tokens, cost_usd, unpriced_requests)
                SELECT (created_at AT TIME ZONE %s)::date, user_id, team_id,
                       CASE WHEN model_served = '' THEN model_requested ELSE model_served END,
                       count(*), count(*) FILTER (WHERE status >= 400), sum(prompt_tokens), sum(completion_tokens),
                       sum(cached_tokens), sum(reasoning_tokens), sum(total_tokens), coalesce(sum(cost_usd), 0),
                       count(*) FILTER (WHERE cost_usd IS NULL)
                FROM usage_usageevent
                WHERE created_at >= %s AND created_at < %s AND request_id >= %s AND request_id < %s
                GROUP BY 1, 2, 3, 4
                """,
                [
                    zone,
                    datetime.combine(lower, datetime.min.time(), UTC),
                    datetime.combine(upper, datetime.min.time(), UTC),
                    PREFIX,
                    PREFIX + "~",
                ],
            )
    return time.perf_counter() - started


def rollup_sample_matches_service(*, day: date, team_id: int) -> bool:
    """Recompute one (day, team) slice with the ledger's own service; the rows must not change."""
    from usage.ledger.rollups import usage_rollups_refresh
    from usage.models import DailyRollup

    def rows():
        return sorted(
            DailyRollup.objects.filter(day=day, team_id=team_id).values_list(
                "user_id",
                "model",
                "requests",
                "errors",
                "prompt_tokens",
                "completion_tokens",
                "cached_tokens",
                "reasoning_tokens",
                "total_tokens",
                "cost_usd",
                "unpriced_requests",
            )
        )

    before = rows()
    usage_rollups_refresh(slices=[(day, team_id)])
    return bool(before) and before == rows()


def generated_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM usage_usageevent WHERE request_id >= %s AND request_id < %s", [PREFIX, PREFIX + "~"]
        )
        return cursor.fetchone()[0]


def dataset_ensure(
    *,
    events: int,
    teams: int,
    people: int,
    months: int,
    seed: int = 7,
    force: bool = False,
    at_least: bool = False,
    today: date | None = None,
) -> dict:
    """Generate the data set unless it is already there; returns what was done and how long it took.

    ``at_least``: a larger generated set already present is kept and used as it is.
    """
    from django.db import connection

    from governance.models import Team
    from usage.ledger.partitions import usage_partitions_ensure

    today = today or datetime.now(UTC).date()
    end = today + timedelta(days=1)
    start = _month_start(today, months - 1)  # this month and the 11 before it
    have = generated_count()
    have_teams = Team.objects.filter(slug__startswith=TEAM_PREFIX).count()
    if (have == events or (at_least and have > events)) and have_teams >= teams and not force:
        return {"generated": False, "events": have, "start": _first_event_day(), "end": end}
    rng = random.Random(seed)
    if have or force:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE usage_usageevent, usage_dailyrollup")
    usage_partitions_ensure(since=start, months_ahead=3)
    people_list = people_ensure(teams=teams, people=people, rng=rng)
    copy_s = events_copy(events=events, people=people_list, start=start, end=end, rng=rng)
    rollup_s = rollups_build(start=start, end=end)
    analyse_started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE usage_usageevent")
    rollups_settle()
    analyse_s = time.perf_counter() - analyse_started
    sample_day = today - timedelta(days=today.weekday() + 5)  # a Wednesday of last week
    check = rollup_sample_matches_service(day=sample_day, team_id=people_list[0].team_id)
    return {
        "generated": True,
        "events": generated_count(),
        "start": start,
        "end": end,
        "copy_s": copy_s,
        "rollup_s": rollup_s,
        "analyse_s": analyse_s,
        "rollup_check": check,
    }


def rollups_settle() -> float:
    """``VACUUM (ANALYZE)`` the rollup table, as autovacuum does after a bulk load (PostgreSQL 13+ also
    vacuums insert-only tables): the reports read it with index-only scans, which skip the table only for
    pages the visibility map marks all-visible - none right after a load. Seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute("VACUUM (ANALYZE) usage_dailyrollup")
    return time.perf_counter() - started


def _first_event_day() -> date | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(created_at) FROM usage_usageevent WHERE request_id >= %s AND request_id < %s",
            [PREFIX, PREFIX + "~"],
        )
        first = cursor.fetchone()[0]
    return first.date() if first else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.harness.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--force", action="store_true", help="empty the event and rollup tables and regenerate")
    arguments = parser.parse_args()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    result = dataset_ensure(
        events=arguments.events,
        teams=arguments.teams,
        people=arguments.people,
        months=arguments.months,
        seed=arguments.seed,
        force=arguments.force,
    )
    print(result)


if __name__ == "__main__":
    main()
