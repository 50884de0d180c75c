"""The employee's own page: usage, budgets left, keys (created once, revoked), flags, rating calls."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import ApiKey, AuditLogEntry, FlagReview, Policy
from governance.services.keys import key_hash
from tests.governance.views.helpers import event_add, flag_add, rollup_add
from usage.models import Feedback

pytestmark = pytest.mark.django_db


def test_shows_only_my_own_usage(client, team, employee, manager):
    today = timezone.localdate()
    rollup_add(day=today, user=employee, team=team, tokens=1200, cost="0.30", requests=3)
    rollup_add(day=today, user=manager, team=team, tokens=99999, cost="9.00", requests=9)
    client.force_login(employee)

    response = client.get("/me/")

    usage = response.context["usage"]
    assert response.status_code == 200
    assert (usage.totals.requests, usage.totals.tokens, usage.totals.cost_usd) == (3, 1200, Decimal("0.30"))
    assert b"99,999" not in response.content


def test_budget_left_counts_the_team_pool_and_my_own_limit(client, team, employee, manager):
    today = timezone.localdate()
    rollup_add(day=today, user=employee, team=team, tokens=1000, cost="1.50")
    rollup_add(day=today, user=manager, team=team, tokens=1000, cost="2.00")
    Policy.objects.create(scope=Policy.Scope.ORG, usd_per_day=Decimal("10"))
    Policy.objects.create(scope=Policy.Scope.USER, team=team, user=employee, usd_per_day=Decimal("2"))
    client.force_login(employee)

    response = client.get("/me/")

    (platform,) = response.context["usage"].teams
    assert [(burn.scope, burn.limit, burn.spent, burn.left) for burn in platform.budgets] == [
        ("team", Decimal("10"), Decimal("3.50"), Decimal("6.50")),
        ("person", Decimal("2"), Decimal("1.50"), Decimal("0.50")),
    ]
    assert b"My own daily spend budget" in response.content


def test_creating_a_key_shows_the_secret_once(client, team, employee):
    client.force_login(employee)

    response = client.post("/me/keys/", {"name": "laptop", "team": team.pk})

    key = ApiKey.objects.get(user=employee)
    secret = response.context["secret"]
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    assert secret.startswith("tw-") and secret.encode() in response.content
    assert key.key_hash == key_hash(secret) and key.name == "laptop" and key.team == team
    assert secret.encode() not in client.get("/me/").content
    assert AuditLogEntry.objects.filter(action="create", object_type="governance.ApiKey", actor=employee).count() == 1


def test_cannot_create_a_key_for_a_team_i_am_not_in(client, team, other_team, employee):
    client.force_login(employee)

    response = client.post("/me/keys/", {"name": "sneaky", "team": other_team.pk})

    assert response.status_code == 400
    assert ApiKey.objects.count() == 0


def test_revokes_my_key(client, employee, employee_key):
    key, _ = employee_key
    client.force_login(employee)

    response = client.post(f"/me/keys/{key.pk}/revoke/")

    key.refresh_from_db()
    assert response.status_code == 302
    assert key.revoked_at is not None


def test_cannot_revoke_someone_elses_key(client, employee_key, manager):
    key, _ = employee_key
    client.force_login(manager)

    response = client.post(f"/me/keys/{key.pk}/revoke/")

    key.refresh_from_db()
    assert response.status_code == 404
    assert key.revoked_at is None


def test_shows_my_flags_with_the_managers_comment(client, team, employee, manager, outsider, other_team):
    flag = flag_add(user=employee, team=team, summary="Prompts padded to 9x your usual length.")
    FlagReview.objects.create(flag=flag, reviewer=manager, action="acknowledge", comment="Let's talk on Monday.")
    flag_add(user=outsider, team=other_team, summary="Someone else's flag.")
    client.force_login(employee)

    response = client.get("/me/")

    assert [flag.summary for flag in response.context["flags"]] == ["Prompts padded to 9x your usual length."]
    assert b"Let&#x27;s talk on Monday." in response.content


def test_rates_my_own_call(client, team, employee):
    event_add(user=employee, team=team, request_id="req_mine")
    client.force_login(employee)

    response = client.post("/me/calls/req_mine/rate/", {"score": "1"})
    client.post("/me/calls/req_mine/rate/", {"score": "-1"})

    feedback = Feedback.objects.get()
    assert response.status_code == 302
    assert (feedback.request_id, feedback.user, feedback.score, feedback.scale) == ("req_mine", employee, -1, "binary")
    assert client.get("/me/").context["calls"][0].rating == -1


def test_cannot_rate_someone_elses_call(client, team, employee, manager):
    event_add(user=manager, team=team, request_id="req_theirs")
    client.force_login(employee)

    response = client.post("/me/calls/req_theirs/rate/", {"score": "1"})

    assert response.status_code == 404
    assert Feedback.objects.count() == 0


def test_recent_calls_are_mine_newest_first(client, team, employee, manager):
    now = timezone.now()
    event_add(user=employee, team=team, request_id="req_old", when=now - timedelta(hours=2))
    event_add(user=employee, team=team, request_id="req_new", when=now - timedelta(minutes=1))
    event_add(user=manager, team=team, request_id="req_other", when=now)
    client.force_login(employee)

    response = client.get("/me/")

    assert [call.request_id for call in response.context["calls"]] == ["req_new", "req_old"]


def test_a_past_period(client, team, employee):
    rollup_add(day=date(2026, 1, 5), user=employee, team=team, tokens=777, cost="0.07")
    client.force_login(employee)

    response = client.get("/me/?start=2026-01-01&end=2026-01-31")

    assert response.context["usage"].totals.tokens == 777
    assert b"January 2026" in response.content
