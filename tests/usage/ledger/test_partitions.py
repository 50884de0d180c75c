"""Monthly partitions of the usage-event table (PostgreSQL only: SQLite has one plain table)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import connection

from usage.ledger.ingest import usage_events_ingest
from usage.ledger.partitions import (
    usage_events_partitioned,
    usage_partitions_drop,
    usage_partitions_ensure,
    usage_partitions_list,
)
from usage.models import UsageEvent


@pytest.fixture
def postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("SKIPPED: partitions exist on PostgreSQL only (set DATABASE_URL to a PostgreSQL database)")


def partition_of(request_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM usage_usageevent WHERE request_id = %s", [request_id])
        return cursor.fetchone()[0]


def test_table_is_partitioned_by_month_with_upcoming_months_and_a_default(postgresql):
    today = datetime.now(UTC).date().replace(day=1)

    partitions = usage_partitions_list()

    months = [p.month for p in partitions if p.month is not None]
    assert usage_events_partitioned() is True
    assert today in months
    assert partitions[-1].name == "usage_usageevent_default"


def test_rows_outside_every_month_land_in_the_default_partition_and_move_when_their_month_is_created(
    postgresql, make_event
):
    moment = datetime(2031, 5, 17, 9, 30, tzinfo=UTC)
    usage_events_ingest(events=[make_event(request_id="req_future", created_at=moment)])
    assert partition_of("req_future") == "usage_usageevent_default"

    created = usage_partitions_ensure(months_ahead=1, today=date(2031, 5, 2), since=date(2031, 5, 1))

    assert created == ["usage_usageevent_p203105", "usage_usageevent_p203106"]
    assert partition_of("req_future") == "usage_usageevent_p203105"
    assert list(UsageEvent.objects.values_list("request_id", "created_at")) == [("req_future", moment)]


def test_ensure_is_idempotent(postgresql):
    usage_partitions_ensure(months_ahead=2, today=date(2031, 1, 10), since=date(2031, 1, 1))

    again = usage_partitions_ensure(months_ahead=2, today=date(2031, 1, 10), since=date(2031, 1, 1))

    assert again == []


def test_ingest_stays_idempotent_on_request_id_across_partitions(postgresql, make_event):
    event = make_event(request_id="req_once", created_at=datetime(2025, 3, 10, 12, 0, tzinfo=UTC))
    usage_partitions_ensure(months_ahead=0, today=date(2025, 3, 1), since=date(2025, 3, 1))
    assert usage_events_ingest(events=[event]) == 1

    again = usage_events_ingest(events=[event, event])

    assert again == 0
    assert UsageEvent.objects.filter(request_id="req_once").count() == 1


def test_drop_removes_whole_old_months_and_keeps_the_rest(postgresql, make_event):
    usage_partitions_ensure(months_ahead=0, today=date(2024, 2, 1), since=date(2024, 1, 1))
    usage_events_ingest(
        events=[
            make_event(request_id="req_jan", created_at=datetime(2024, 1, 31, 23, 0, tzinfo=UTC)),
            make_event(request_id="req_feb", created_at=datetime(2024, 2, 1, 0, 0, tzinfo=UTC)),
        ]
    )

    dropped = usage_partitions_drop(before=date(2024, 2, 15))

    assert "usage_usageevent_p202401" in dropped
    assert "usage_usageevent_p202402" not in dropped
    assert list(
        UsageEvent.objects.filter(request_id__in=["req_jan", "req_feb"]).values_list("request_id", flat=True)
    ) == ["req_feb"]


def test_daily_task_creates_nothing_once_the_coming_months_exist(postgresql):
    from usage.tasks import usage_partitions_ensure_task

    usage_partitions_ensure_task(months_ahead=4)

    assert usage_partitions_ensure_task(months_ahead=4) == 0
