"""Ledger ingest throughput: events/s into the configured database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tw_ledger REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/probes/ledger_ingest.py --events 50000

Measures (1) ``usage_events_ingest`` in batches of TOKENWISE_LEDGER_BATCH_SIZE, (2) with Redis, the
whole worker path: XADD to a scratch stream, then ``usage_stream_drain`` (XREADGROUP, JSON parse,
ingest, XACK + XDEL), and (3) the rollup refresh of the touched slices. It writes to the configured
database (use a scratch one) and deletes its own events afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from core.redis import get_sync_redis  # noqa: E402
from governance.models import ApiKey, Team  # noqa: E402
from governance.services.keys import key_create  # noqa: E402
from governance.services.orgs import membership_ensure, team_get_or_create, user_get_or_create  # noqa: E402
from usage.ledger.event_record import UsageEventData, utc_now  # noqa: E402
from usage.ledger.ingest import usage_events_ingest  # noqa: E402
from usage.ledger.rollups import usage_rollups_refresh  # noqa: E402
from usage.models import DailyRollup, UsageEvent  # noqa: E402


def make_keys(n_people: int, n_teams: int) -> list[ApiKey]:
    keys = []
    for t in range(n_teams):
        team = team_get_or_create(slug=f"bench-team-{t}", actor_label="bench")
        for p in range(n_people // n_teams):
            user = user_get_or_create(email=f"bench{t}-{p}@example.com", actor_label="bench")
            membership_ensure(user=user, team=team, actor_label="bench")
            key = ApiKey.objects.filter(user=user, team=team).first()
            if key is None:
                key, _ = key_create(user=user, team=team, name="bench", actor_label="bench")
            keys.append(key)
    return keys


def make_events(n: int, keys: list[ApiKey], tag: str) -> list[UsageEventData]:
    now = utc_now()
    events = []
    for i in range(n):
        key = keys[i % len(keys)]
        events.append(
            UsageEventData(
                request_id=f"req_bench{tag}{i:09d}",
                created_at=now - timedelta(seconds=(n - i) % 86400),
                endpoint="/v1/chat/completions",
                status=200,
                key_id=key.pk,
                user_id=key.user_id,
                team_id=key.team_id,
                model_requested="gpt-4o-mini",
                model_served="gpt-4o-mini-2024-07-18",
                provider="openai",
                stream=i % 2 == 0,
                prompt_tokens=812,
                completion_tokens=211,
                cached_tokens=256,
                total_tokens=1023,
                cost_usd="0.00023220",
                price_id=None,
                latency_ms=640,
                time_to_first_byte_ms=120,
                max_tokens=1024,
                purpose="bench",
                policy_action="allow",
                prompt_hash="ab" * 32,
                prompt_simhash=-1234567890123,
                output_simhash=987654321,
            )
        )
    return events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=settings.TOKENWISE_LEDGER_BATCH_SIZE)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    keys = make_keys(200, 10)
    db = settings.DATABASES["default"]
    print(
        f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')}; batch {args.batch}; "
        f"{args.events} events; {len(keys)} keys; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    tag = uuid.uuid4().hex[:8]
    try:
        events = make_events(args.events, keys, tag)
        started, cpu = time.perf_counter(), time.process_time()
        inserted = 0
        for start in range(0, len(events), args.batch):
            inserted += usage_events_ingest(events=events[start : start + args.batch])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"usage_events_ingest: {inserted} rows in {elapsed:.2f}s = {inserted / elapsed:,.0f} events/s "
            f"(client CPU {cpu:.2f}s)"
        )

        started = time.perf_counter()
        again = sum(usage_events_ingest(events=events[s : s + args.batch]) for s in range(0, len(events), args.batch))
        elapsed = time.perf_counter() - started
        print(f"re-ingest (all duplicates): {again} rows in {elapsed:.2f}s = {len(events) / elapsed:,.0f} events/s")

        started = time.perf_counter()
        slices = usage_rollups_refresh()
        if not settings.REDIS_URL:
            slices = "inline during ingest"
        print(
            f"rollup refresh: {slices} slices in {time.perf_counter() - started:.2f}s "
            f"({DailyRollup.objects.count()} rollup rows)"
        )

        client = get_sync_redis()
        if client is not None:
            from usage.ledger.stream import usage_stream_drain

            settings.TOKENWISE_LEDGER_STREAM = f"bench:{tag}:events"
            stream_events = make_events(args.events, keys, tag + "s")
            pipe = client.pipeline(transaction=False)
            for event in stream_events:
                pipe.xadd(settings.TOKENWISE_LEDGER_STREAM, {"e": event.to_json()})
            pipe.execute()
            started, cpu = time.perf_counter(), time.process_time()
            drained = 0
            while True:
                result = usage_stream_drain(time_budget_s=60.0, batch_size=args.batch)
                drained += result.inserted
                if result.exhausted:
                    break
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"stream drain (XREADGROUP + parse + ingest + XACK/XDEL): {drained} rows in {elapsed:.2f}s "
                f"= {drained / elapsed:,.0f} events/s (client CPU {cpu:.2f}s)"
            )
            client.delete(settings.TOKENWISE_LEDGER_STREAM, f"{settings.TOKENWISE_LEDGER_STREAM}:dirty-rollups")
    finally:
        UsageEvent.objects.filter(request_id__startswith=f"req_bench{tag}").delete()
        DailyRollup.objects.filter(team__in=Team.objects.filter(slug__startswith="bench-team-")).delete()


if __name__ == "__main__":
    main()
