"""Monthly partitions of the usage-event table on PostgreSQL (see migration 0003 for the layout).

``usage_partitions_ensure`` creates the partitions of upcoming months ahead of time (a daily beat
task and ``manage.py usage_partitions`` call it); ``usage_partitions_drop`` is retention: whole months
go with one ``DROP TABLE``, never a row-by-row ``DELETE``. Reports read the daily rollups, which are
kept, so dropping old events leaves old reports intact. On other databases, or on a table that is not
partitioned, every function does nothing.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime

from django.db import connection, transaction

TABLE = "usage_usageevent"
DEFAULT = f"{TABLE}_default"
_NAME = re.compile(rf"^{TABLE}_p(\d{{4}})(\d{{2}})$")


@dataclasses.dataclass(frozen=True, slots=True)
class Partition:
    name: str
    month: date | None  # None: the default partition
    rows_estimate: int


def _month_add(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def usage_events_partitioned() -> bool:
    """Whether the usage-event table is partitioned (PostgreSQL after migration 0003)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def usage_partitions_list() -> list[Partition]:
    """The partitions of the usage-event table, oldest month first, the default one last."""
    if not usage_events_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        rows = cursor.fetchall()
    partitions = []
    for name, estimate in rows:
        match = _NAME.match(name)
        month = date(int(match[1]), int(match[2]), 1) if match else None
        partitions.append(Partition(name=name, month=month, rows_estimate=estimate))
    return sorted(partitions, key=lambda p: (p.month is None, p.month or date.min))


@transaction.atomic
def _partition_create(month: date) -> None:
    """Create one month's partition, moving its rows out of the default partition first if any.

    PostgreSQL refuses to attach a range that rows in the default partition fall into, so those rows
    move into the new table (in this transaction) before it is attached.
    """
    following = _month_add(month, 1)
    name = f"{TABLE}_p{month:%Y%m}"
    lower, upper = f"{month.isoformat()} 00:00:00+00", f"{following.isoformat()} 00:00:00+00"
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {DEFAULT} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT 1 FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s LIMIT 1", [lower, upper])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)", [lower, upper])
            return
        cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE created_at >= %s AND created_at < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [lower, upper],
        )
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [lower, upper])


def usage_partitions_ensure(
    *, months_ahead: int = 3, since: date | None = None, today: date | None = None
) -> list[str]:
    """Create every missing monthly partition from ``since``'s month to ``months_ahead`` months after today.

    ``since`` defaults to the current month. Each partition is created in its own transaction (rows of
    its month already in the default partition move into it). Idempotent. Returns the names created.
    """
    if not usage_events_partitioned():
        return []
    current = (today or datetime.now(UTC).date()).replace(day=1)
    month = (since or current).replace(day=1)
    existing = {p.month for p in usage_partitions_list() if p.month is not None}
    created = []
    while month <= _month_add(current, months_ahead):
        if month not in existing:
            _partition_create(month)
            created.append(f"{TABLE}_p{month:%Y%m}")
        month = _month_add(month, 1)
    return created


def usage_partitions_drop(*, before: date) -> list[str]:
    """Retention: drop the monthly partitions whose whole month lies before ``before``'s month.

    Irreversible: those events are gone (their daily rollups stay). The default partition is never
    dropped. Returns the names dropped.
    """
    cutoff = before.replace(day=1)
    dropped = []
    for partition in usage_partitions_list():
        if partition.month is not None and partition.month < cutoff:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name}")
                cursor.execute(f"DROP TABLE {partition.name}")
            dropped.append(partition.name)
    return dropped
