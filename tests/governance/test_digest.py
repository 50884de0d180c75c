"""The weekly digest e-mail to managers."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail

from governance.models import Membership, Policy
from governance.services.digest import digest_send, digest_week, digests_send_all
from tests.governance.views.helpers import flag_add, rollup_add

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 3, 16)


@pytest.fixture(autouse=True)
def isolated_cache(settings, request):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"tw-digest-{request.node.nodeid}",
        }
    }


def test_the_week_is_the_last_full_monday_to_sunday():
    week = digest_week(today=date(2026, 3, 18))

    assert (week.start, week.end) == (date(2026, 3, 9), date(2026, 3, 15))


def test_sends_last_weeks_figures_with_a_link(team, employee, manager, settings):
    settings.TOKENWISE_BASE_URL = "https://tokenwise.example"
    rollup_add(day=date(2026, 3, 2), user=employee, team=team, tokens=1000, cost="2.00", requests=4)
    rollup_add(day=date(2026, 3, 10), user=employee, team=team, tokens=5000, cost="3.00", requests=6)
    rollup_add(day=date(2026, 3, 16), user=employee, team=team, tokens=99999, cost="99.00")  # this week
    Policy.objects.create(scope=Policy.Scope.TEAM, team=team, usd_per_month=Decimal("200"))
    flag_add(user=employee, team=team)

    sent = digest_send(manager=manager, today=MONDAY)

    assert sent is True
    (message,) = mail.outbox
    assert message.to == ["maria@example.com"]
    assert message.subject == "Tokenwise weekly digest: 09 Mar – 15 Mar 2026"
    assert "Spend: $3.00 (+50% on the week before)" in message.body
    assert "Tokens: 5,000 in 6 requests" in message.body
    assert "Budget (monthly, usd): $104.00 of $200.00 used" in message.body
    assert "Open flags: 1" in message.body
    assert "https://tokenwise.example/teams/platform/?start=2026-03-09&end=2026-03-15" in message.body
    html = message.alternatives[0][0]
    assert 'href="https://tokenwise.example/teams/platform/?start=2026-03-09&amp;end=2026-03-15"' in html


def test_never_sends_the_same_week_twice(team, manager):
    first = digest_send(manager=manager, today=MONDAY)
    again = digest_send(manager=manager, today=date(2026, 3, 17))

    assert (first, again) == (True, False)
    assert len(mail.outbox) == 1


def test_goes_to_managers_only(team, other_team, employee, manager, outsider):
    Membership.objects.create(user=manager, team=other_team, role=Membership.Role.MANAGER)

    sent = digests_send_all(today=MONDAY)

    assert sent == 1
    (message,) = mail.outbox
    assert message.to == ["maria@example.com"]
    assert "== Platform ==" in message.body and "== Research ==" in message.body


def test_a_manager_without_e_mail_gets_nothing(team, manager):
    manager.email = ""
    manager.save()

    sent = digest_send(manager=manager, today=MONDAY)

    assert sent is False
    assert mail.outbox == []


def test_beat_schedules_the_digest(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["governance-weekly-digest"]

    assert entry["task"] == "governance.tasks.weekly_digest_send_task"
    assert (entry["schedule"].day_of_week, entry["schedule"].hour, entry["schedule"].minute) == ({1}, {7}, {0})


def test_the_beat_task_sends_every_managers_digest(team, manager, employee):
    from governance.tasks import weekly_digest_send_task

    sent = weekly_digest_send_task()

    assert sent == 1
    assert [message.to for message in mail.outbox] == [["maria@example.com"]]
