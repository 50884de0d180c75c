"""PostgreSQL: the usage-event table becomes range-partitioned by month on ``created_at``.

Why: the ledger grows by millions of rows a month; monthly partitions keep each index small, let a
query for a period touch only its months, and make retention a ``DROP TABLE`` of an old month instead
of a huge ``DELETE`` (docs/scaling.md). Reports read the daily rollups, not this table.

Idempotency on ``request_id`` - what changes: PostgreSQL requires every unique constraint of a
partitioned table to contain the partition key, so ``UNIQUE (request_id)`` becomes
``UNIQUE (request_id, created_at)`` (same constraint name) and the primary key becomes
``(id, created_at)``. Ingest stays idempotent because ``created_at`` is fixed once, when the proxy
creates the event (``Call.begin``), and travels with it: a redelivered stream entry, the direct-write
fallback and a re-imported export all carry the same ``created_at`` for the same ``request_id``, so a
duplicate always collides with the row already written. ``id`` keeps coming from one sequence, so it
stays unique; the Django model is unchanged (state operations: none).

Layout: one partition per calendar month (UTC bounds), named ``usage_usageevent_pYYYYMM``, created for
every month that has rows plus the next three; a ``DEFAULT`` partition catches anything outside them,
so no write ever fails for want of a partition. ``python manage.py usage_partitions`` (and the daily
beat task) creates upcoming months and moves any rows out of the default partition.

Other databases (SQLite): nothing happens. Running it twice does nothing the second time.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from django.db import migrations

TABLE = "usage_usageevent"
OLD = "usage_usageevent_unpartitioned"
MONTHS_AHEAD = 3


def _is_partitioned(cursor) -> bool:
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
    row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def _month_add(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _index_definitions(cursor, table: str) -> list[tuple[str, str, str | None]]:
    """(name, CREATE INDEX statement, constraint type or None) of every index of ``table``."""
    cursor.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid), c.contype
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
        WHERE x.indrelid = to_regclass(%s)
        ORDER BY i.relname
        """,
        [table],
    )
    return cursor.fetchall()


def partition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        if _is_partitioned(cursor):
            return
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        indexes = _index_definitions(cursor, TABLE)
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = to_regclass(%s) AND contype = 'c'", [TABLE])
        checks = cursor.fetchall()
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        for name, _, contype in indexes:
            if contype:
                cursor.execute(f'ALTER TABLE {OLD} RENAME CONSTRAINT "{name}" TO "{name}_old"')
            else:
                cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{name}_old"')
        for name, _ in checks:
            cursor.execute(f'ALTER TABLE {OLD} RENAME CONSTRAINT "{name}" TO "{name}_old"')
        cursor.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)")
        for name, definition in checks:
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')

        cursor.execute(f"SELECT min(created_at), coalesce(max(id), 0) FROM {OLD}")
        oldest, max_id = cursor.fetchone()
        today = datetime.now(timezone.utc).date().replace(day=1)
        month = min(oldest.astimezone(timezone.utc).date().replace(day=1), today) if oldest else today
        while month <= _month_add(today, MONTHS_AHEAD):
            following = _month_add(month, 1)
            cursor.execute(
                f"CREATE TABLE {TABLE}_p{month:%Y%m} PARTITION OF {TABLE} "
                f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') TO ('{following.isoformat()} 00:00:00+00')")
            month = following
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")

        # One sequence for every partition (PostgreSQL 15 has no identity columns on partitioned tables).
        cursor.execute("SELECT attidentity FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'id'",
                       [OLD])
        if cursor.fetchone()[0]:  # an identity column (Django's default): its sequence goes with it
            cursor.execute(f"ALTER TABLE {OLD} ALTER COLUMN id DROP IDENTITY")
            cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq")
        else:  # a plain owned sequence (after a reverse migration): keep it
            cursor.execute(f"ALTER SEQUENCE {TABLE}_id_seq OWNED BY NONE")
        cursor.execute(f"ALTER SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
        cursor.execute(f"SELECT setval('{TABLE}_id_seq', %s, %s)", [max(max_id, 1), max_id > 0])

        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")

        for name, definition, contype in indexes:
            if contype == "p":
                cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" PRIMARY KEY (id, created_at)')
            elif contype == "u":
                columns = definition[definition.index("(") + 1: definition.rindex(")")]
                cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" UNIQUE ({columns}, created_at)')
            else:
                cursor.execute(definition)  # on the new parent: it has the old table's name


def unpartition(apps, schema_editor) -> None:
    """Back to one plain table (unique ``request_id`` again: fails if two rows share one)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        if not _is_partitioned(cursor):
            return
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        indexes = _index_definitions(cursor, TABLE)
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        for name, _, contype in indexes:
            if contype:
                cursor.execute(f'ALTER TABLE {OLD} RENAME CONSTRAINT "{name}" TO "{name}_old"')
            else:
                cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{name}_old"')
        cursor.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(f"ALTER SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD} CASCADE")
        for name, definition, contype in indexes:
            if contype == "p":
                cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" PRIMARY KEY (id)')
            elif contype == "u":
                cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" UNIQUE (request_id)')
            else:
                cursor.execute(definition.replace(" ON ONLY ", " ON "))


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ("usage", "0002_value_signals"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
