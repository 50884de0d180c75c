"""The drill-down pages: a person's page, the request log and one call, with who may see what.

Managers see their own teams' people and calls, employees only themselves, admins everything; any
other id is a 404 (the same answer as for an id that does not exist). Roles are read on every request.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import Membership, Policy
from tests.factories import UserFactory
from tests.governance.views.helpers import event_add, flag_add, rollup_add
from usage.models import Feedback, UsageEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(team, other_team, employee, manager, outsider):
    """alice (platform) two calls, maria (platform manager) one, oscar (research) one; rollups to match."""
    today = timezone.localdate()
    now = timezone.now()
    event_add(
        user=employee,
        team=team,
        request_id="req_alice_1",
        when=now - timedelta(hours=1),
        tokens=1200,
        cost="0.012",
        model="gpt-4o",
    )
    event_add(
        user=employee, team=team, request_id="req_alice_2", when=now - timedelta(hours=2), tokens=300, cost="0.0003"
    )
    event_add(user=manager, team=team, request_id="req_maria_1", when=now - timedelta(hours=3), tokens=50)
    event_add(
        user=outsider,
        team=other_team,
        request_id="req_oscar_1",
        when=now - timedelta(hours=1),
        tokens=999,
        cost="0.5",
        model="gpt-4o",
    )
    UsageEvent.objects.filter(request_id="req_alice_1").update(
        purpose="review", client="claude-cli/2.1.3", session_id="sess-1", policy_action="warn"
    )
    rollup_add(day=today, user=employee, team=team, model="gpt-4o", tokens=1200, cost="0.012")
    rollup_add(day=today, user=employee, team=team, model="gpt-4o-mini", tokens=300, cost="0.0003")
    rollup_add(day=today, user=manager, team=team, tokens=50, cost="0.001")
    rollup_add(day=today, user=outsider, team=other_team, model="gpt-4o", tokens=999, cost="0.5")
    rollup_add(day=today - timedelta(days=40), user=employee, team=team, tokens=500, cost="0.006")  # previous window


# --- Person page ------------------------------------------------------------------------------------


def test_employee_sees_own_person_page(client, employee, calls):
    client.force_login(employee)

    response = client.get(f"/people/{employee.pk}/")

    assert response.status_code == 200
    page = response.context["page"]
    assert (page.totals.tokens, page.totals.cost_usd, page.team_ids) == (1500, Decimal("0.0123"), None)
    assert page.previous.tokens == 500
    assert [share.label for share in page.drivers.shares["model"]] == ["gpt-4o", "gpt-4o-mini"]
    assert [share.label for share in page.drivers.shares["client"]] == ["claude-cli", "(unknown client)"]
    assert [session["session_id"] for session in page.sessions] == ["sess-1"]


@pytest.mark.parametrize("who", ["employee", "outsider"])
def test_others_person_page_is_404_for_an_employee(client, employee, manager, outsider, calls, who):
    client.force_login(employee if who == "employee" else outsider)
    target = manager if who == "employee" else employee

    assert client.get(f"/people/{target.pk}/").status_code == 404
    assert client.get("/people/999999999/").status_code == 404
    assert client.get(f"/people/{2**64}/").status_code == 404


def test_manager_sees_a_member_only_within_their_teams(client, team, other_team, employee, manager, outsider, calls):
    Membership.objects.create(user=employee, team=other_team)  # alice also in research, which maria doesn't manage
    rollup_add(day=timezone.localdate(), user=employee, team=other_team, tokens=7000, cost="7")
    client.force_login(manager)

    member = client.get(f"/people/{employee.pk}/")
    stranger = client.get(f"/people/{outsider.pk}/")

    assert member.status_code == 200
    assert member.context["page"].team_ids == [team.pk]
    assert member.context["page"].totals.tokens == 1500  # not the 7,000 tokens in research
    assert stranger.status_code == 404


def test_manager_role_is_checked_on_every_request(client, manager, employee, calls):
    client.force_login(manager)
    assert client.get(f"/people/{employee.pk}/").status_code == 200

    Membership.objects.filter(user=manager).update(role=Membership.Role.MEMBER)

    assert client.get(f"/people/{employee.pk}/").status_code == 404
    assert client.get("/requests/req_alice_1/").status_code == 404


def test_person_page_compares_value_with_peers(client, team, employee, manager, calls):
    from usage.models import Outcome

    bob = UserFactory(email="bob@example.com")
    Membership.objects.create(user=bob, team=team)
    rollup_add(day=timezone.localdate(), user=bob, team=team, tokens=1_000_000, cost="1")
    Outcome.objects.create(
        external_id="o-1", kind="pr_merged", user=employee, team=team, value=3, occurred_at=timezone.now()
    )
    Outcome.objects.create(
        external_id="o-2", kind="pr_merged", user=bob, team=team, value=2, occurred_at=timezone.now()
    )
    client.force_login(manager)

    page = client.get(f"/people/{employee.pk}/").context["page"]

    assert page.value.outcomes_per_mtok == pytest.approx(3 * 1_000_000 / 1500)
    assert (page.peers_outcomes_per_mtok, page.peers) == (pytest.approx(2.0), 1)


def test_person_page_lists_flags_of_visible_teams_only(client, team, other_team, employee, manager, calls):
    Membership.objects.create(user=employee, team=other_team)
    flag_add(user=employee, team=team, summary="Platform flag.")
    flag_add(user=employee, team=other_team, summary="Research flag.")
    client.force_login(manager)

    body = client.get(f"/people/{employee.pk}/").content.decode()

    assert "Platform flag." in body
    assert "Research flag." not in body


def test_person_page_empty_window_says_so(client, employee):
    client.force_login(employee)

    response = client.get(f"/people/{employee.pk}/?window=7d")

    assert response.status_code == 200
    assert b"No usage in this period." in response.content


# --- Request log ------------------------------------------------------------------------------------


def _ids(response) -> list[str]:
    return [call.request_id for call in response.context["page"].calls]


def test_employee_log_holds_only_own_calls(client, employee, calls):
    client.force_login(employee)

    assert _ids(client.get("/requests/")) == ["req_alice_1", "req_alice_2"]


def test_manager_log_holds_their_teams_calls(client, manager, calls):
    client.force_login(manager)

    assert _ids(client.get("/requests/")) == ["req_alice_1", "req_alice_2", "req_maria_1"]


def test_manager_cannot_reach_another_teams_call_by_filter_or_url(client, manager, other_team, outsider, calls):
    client.force_login(manager)

    assert _ids(client.get(f"/requests/?team={other_team.pk}")) == []
    assert _ids(client.get(f"/requests/?user={outsider.pk}")) == []
    assert _ids(client.get("/requests/?q=req_oscar")) == []
    assert client.get("/requests/req_oscar_1/").status_code == 404
    assert client.get("/requests/req_does_not_exist/").status_code == 404


def test_admin_log_holds_every_call(client, admin, calls):
    client.force_login(admin)

    assert set(_ids(client.get("/requests/"))) == {"req_alice_1", "req_alice_2", "req_maria_1", "req_oscar_1"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("model=gpt-4o", ["req_alice_1"]),
        ("purpose=review", ["req_alice_1"]),
        ("client=claude-cli", ["req_alice_1"]),
        ("session=sess-1", ["req_alice_1"]),
        ("q=req_alice_2", ["req_alice_2"]),
        ("status=error", []),
        ("status=ok", ["req_alice_1", "req_alice_2", "req_maria_1"]),
        ("window=7d&model=gpt-4o-mini", ["req_alice_2", "req_maria_1"]),
    ],
)
def test_log_filters(client, manager, calls, query, expected):
    client.force_login(manager)

    assert _ids(client.get(f"/requests/?{query}")) == expected


def test_log_filters_by_key(client, employee, team, calls):
    from governance.services.keys import key_create

    key = key_create(user=employee, team=team, name="laptop")[0]
    UsageEvent.objects.filter(request_id="req_alice_2").update(key=key)
    client.force_login(employee)

    assert _ids(client.get(f"/requests/?key={key.pk}")) == ["req_alice_2"]


def test_log_filters_by_date_range(client, employee, team, calls):
    event_add(user=employee, team=team, request_id="req_old", when=timezone.now() - timedelta(days=60))
    client.force_login(employee)
    old_day = (timezone.localdate() - timedelta(days=60)).isoformat()

    assert _ids(client.get("/requests/")) == ["req_alice_1", "req_alice_2"]
    assert _ids(client.get(f"/requests/?start={old_day}&end={old_day}")) == ["req_old"]


def test_log_pages_without_counting(client, employee, team):
    now = timezone.now()
    for index in range(55):
        event_add(user=employee, team=team, request_id=f"req_{index:03d}", when=now - timedelta(minutes=index))
    client.force_login(employee)

    first = client.get("/requests/")
    second = client.get("/requests/?page=2")

    assert (len(_ids(first)), first.context["page"].has_next) == (50, True)
    assert (_ids(second), second.context["page"].has_next) == ([f"req_{i:03d}" for i in range(50, 55)], False)
    assert b"Older calls" in first.content


# --- One call ---------------------------------------------------------------------------------------


def test_call_page_shows_tokens_cost_and_timing(client, employee, calls):
    UsageEvent.objects.filter(request_id="req_alice_1").update(
        cached_tokens=200, cache_write_tokens=100, reasoning_tokens=40, latency_ms=2400, time_to_first_byte_ms=350
    )
    client.force_login(employee)

    response = client.get("/requests/req_alice_1/")

    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["call"].request_id == "req_alice_1"
    assert "2.4 s" in body and "350 ms" in body and "$0.0120" in body
    assert 'data-testid="call-policy-action">warn<' in body
    assert 'data-testid="call-text-not-stored"' in body


def test_call_text_is_shown_only_when_stored(client, employee, team, calls):
    Policy.objects.create(scope=Policy.Scope.TEAM, team=team, store_text=True)
    UsageEvent.objects.filter(request_id="req_alice_2").update(prompt_text="Summarise the RFC", output_text="It says")
    client.force_login(employee)

    stored = client.get("/requests/req_alice_2/").content.decode()
    not_stored = client.get("/requests/req_alice_1/").content.decode()

    assert "Summarise the RFC" in stored and "It says" in stored
    assert 'data-testid="call-prompt"' not in not_stored


def test_employee_cannot_open_a_teammates_call(client, employee, calls):
    client.force_login(employee)

    assert client.get("/requests/req_maria_1/").status_code == 404


def test_pages_need_sign_in(client, employee, calls):
    for path in (f"/people/{employee.pk}/", "/requests/", "/requests/req_alice_1/"):
        response = client.get(path)
        assert (response.status_code, response["Location"].split("?")[0]) == (302, "/accounts/login/")


# --- Feedback rate ------------------------------------------------------------------------------------


def test_feedback_rate_counts_calls_rated_by_the_calls_time(client, employee, team, manager):
    now = timezone.now()
    old = event_add(user=employee, team=team, request_id="req_last_month", when=now - timedelta(days=45))
    event_add(user=employee, team=team, request_id="req_new_1", when=now - timedelta(hours=1))
    event_add(user=employee, team=team, request_id="req_new_2", when=now - timedelta(hours=2))
    rollup_add(day=timezone.localdate(), user=employee, team=team, requests=2)
    for request_id, score in ((old.request_id, 1), ("req_new_1", 1)):
        Feedback.objects.create(request_id=request_id, user=employee, team=team, score=score, scale="binary")
    Feedback.objects.create(request_id="req_new_1", user=manager, team=team, score=-1, scale="binary")
    client.force_login(manager)

    report = client.get("/teams/platform/").context["report"]

    assert (
        report.value.feedback_rate == 0.5
    )  # one of the two calls made in the window; the old call's rating not counted
    assert report.value.positive_feedback_rate == 1.0
