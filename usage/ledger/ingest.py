"""Ledger writes: bulk ingest of usage events, idempotent on ``request_id``.

INSERT ... ON CONFLICT DO NOTHING against the unique index (a COPY-fed statement on PostgreSQL,
``bulk_create(ignore_conflicts=True)`` elsewhere), so a redelivered stream entry or a re-imported file
never counts twice. The (day, team) rollup slices an ingest touches are handed to ``usage.ledger.rollups``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import cast

from django.db import connection, transaction
from django.db.models import Q

from governance.models import ApiKey
from usage.ledger.event_record import UsageEventData
from usage.ledger.rollups import rollup_day, usage_rollups_mark_dirty
from usage.models import UsageEvent
from usage.value import outcomes_link_session_calls

_EVENT_FIELDS = frozenset(field.name for field in dataclasses.fields(UsageEventData))
_INSERT_BATCH = 1000  # rows per INSERT on the portable path
_LOOKUP_BATCH = 900  # ids per IN (...) lookup: under SQLite's historical 999-parameter limit


def _insert_copy(events: list[UsageEventData]) -> int:
    """PostgreSQL: COPY the batch into a scratch table, then one INSERT ... ON CONFLICT DO NOTHING.

    The same statement ``bulk_create(ignore_conflicts=True)`` issues, minus Django's per-value Python
    preparation, which bounds that path's throughput (docs/performance.md, "Ingest"). The statement's
    row count is exactly the number of rows inserted.
    """
    fields = [field for field in UsageEvent._meta.concrete_fields if not field.primary_key]
    getters = [
        (field.attname, None) if field.attname in _EVENT_FIELDS else (None, field.get_default()) for field in fields
    ]
    # A concrete field always has a column; django-stubs types Field.column as optional for all fields.
    columns = ", ".join(connection.ops.quote_name(cast(str, field.column)) for field in fields)
    table = connection.ops.quote_name(UsageEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE tw_ledger_batch ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY tw_ledger_batch ({columns}) FROM STDIN") as copy:
            write_row = copy.write_row
            for event in events:
                write_row([getattr(event, name) if name else default for name, default in getters])
        # No conflict target, as bulk_create writes it: the unique index is (request_id) on a plain table
        # and (request_id, created_at) on the monthly-partitioned one (usage/0003).
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM tw_ledger_batch ON CONFLICT DO NOTHING")
        inserted = cursor.rowcount
        # ON COMMIT DROP alone is not enough: inside an outer transaction the next batch would clash.
        cursor.execute("DROP TABLE tw_ledger_batch")
        return inserted


def _event_row(event: UsageEventData) -> UsageEvent:
    values = {name: getattr(event, name) for name in _EVENT_FIELDS}
    if values["cost_usd"] is not None:
        values["cost_usd"] = Decimal(values["cost_usd"])
    return UsageEvent(**values)


def _insert_portable(events: list[UsageEventData]) -> int:
    """Any other database: ``bulk_create(ignore_conflicts=True)``, counting the ids not yet present."""
    request_ids = [event.request_id for event in events]
    existing: set[str] = set()
    for start in range(0, len(request_ids), _LOOKUP_BATCH):
        chunk = request_ids[start : start + _LOOKUP_BATCH]
        existing.update(UsageEvent.objects.filter(request_id__in=chunk).values_list("request_id", flat=True))
    rows = [_event_row(event) for event in events if event.request_id not in existing]
    UsageEvent.objects.bulk_create(rows, batch_size=_INSERT_BATCH, ignore_conflicts=True)
    return len(rows)


def _keys_last_used_advance(events: list[UsageEventData]) -> None:
    """Each key's ``last_used_at`` moves to its newest event in the batch, never backwards.

    PostgreSQL: one UPDATE for the whole batch (ORM CASE expressions are slow to compile per key).
    Elsewhere: one UPDATE per key, in key order.
    """
    latest: dict[int, datetime] = {}
    for event in events:
        if event.key_id is not None:
            seen = latest.get(event.key_id)
            if seen is None or event.created_at > seen:
                latest[event.key_id] = event.created_at
    if not latest:
        return
    key_ids = sorted(latest)  # a fixed order, so concurrent batches take row locks in the same order
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(ApiKey._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS k SET last_used_at = v.moment "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, moment) "
                "WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.moment)",
                [key_ids, [latest[key_id] for key_id in key_ids]],
            )
        return
    for key_id in key_ids:
        moment = latest[key_id]
        ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=moment), pk=key_id).update(
            last_used_at=moment
        )


def usage_events_ingest(*, events: list[UsageEventData]) -> int:
    """Write a batch of usage events; return how many were new to the ledger.

    Idempotent on ``request_id``: events already in the ledger (or repeated within the batch) are
    skipped, and a concurrent ingest of the same ids is absorbed by the unique index (INSERT ... ON
    CONFLICT DO NOTHING - COPY + INSERT on PostgreSQL, ``bulk_create(ignore_conflicts=True)``
    elsewhere). The count is exact on PostgreSQL; elsewhere two ingests racing on the same new ids may
    both count them (the rows are still written once). In the same transaction,
    ``ApiKey.last_used_at`` moves forward to the newest event of each key (never backwards). After
    commit, the touched (day, team) rollup slices are marked dirty for ``usage_rollups_refresh`` (in
    Redis; without Redis, or when Redis fails, recomputed inline). Database errors propagate with
    nothing written.
    """
    unique: dict[str, UsageEventData] = {}
    for event in events:
        unique.setdefault(event.request_id, event)
    if not unique:
        return 0
    batch = list(unique.values())
    slices = {(rollup_day(event.created_at), event.team_id) for event in batch}
    with transaction.atomic():
        inserted = _insert_copy(batch) if connection.vendor == "postgresql" else _insert_portable(batch)
        _keys_last_used_advance(batch)
        outcomes_link_session_calls(
            calls=[
                (event.request_id, event.session_id, event.user_id, event.created_at)
                for event in batch
                if event.session_id and event.user_id is not None
            ]
        )
        transaction.on_commit(lambda: usage_rollups_mark_dirty(slices=slices))
    return inserted
