"""The team report page and its CSV export: figures from the rollups, people ranked by value per token."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.models import Membership, Policy
from tests.factories import UserFactory
from tests.governance.views.helpers import flag_add, rollup_add
from usage.models import Outcome

pytestmark = pytest.mark.django_db

MARCH = "?start=2026-03-01&end=2026-03-31"


@pytest.fixture
def march(team, other_team, employee, manager, outsider):
    """Platform's March: alice uses a lot, maria a little; both report one outcome; bob reports nothing."""
    bob = UserFactory(email="bob@example.com")
    Membership.objects.create(user=bob, team=team)
    rollup_add(day=date(2026, 3, 2), user=employee, team=team, model="gpt-4o", requests=10, tokens=800_000, cost="4.00")
    rollup_add(
        day=date(2026, 3, 3), user=employee, team=team, model="gpt-4o-mini", requests=5, tokens=200_000, cost="0.50"
    )
    rollup_add(
        day=date(2026, 3, 3),
        user=manager,
        team=team,
        model="gpt-4o-mini",
        requests=2,
        tokens=100_000,
        cost="0.25",
        unpriced=1,
    )
    rollup_add(day=date(2026, 3, 3), user=bob, team=team, model="gpt-4o-mini", requests=1, tokens=50_000, cost="0.10")
    rollup_add(day=date(2026, 4, 1), user=employee, team=team, requests=99, tokens=999, cost="9.99")  # April
    rollup_add(day=date(2026, 3, 3), user=outsider, team=other_team, requests=7, tokens=7777, cost="7.77")
    for user, external_id in ((employee, "pr-1"), (manager, "pr-2")):
        Outcome.objects.create(
            external_id=external_id,
            kind="pr_merged",
            user=user,
            team=team,
            value=1,
            occurred_at=datetime(2026, 3, 10, 12, tzinfo=UTC),
        )
    Policy.objects.create(scope=Policy.Scope.TEAM, team=team, usd_per_month=Decimal("10"))
    return bob


def test_report_totals_come_from_the_teams_rollups_in_the_period(client, march, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/" + MARCH)

    report = response.context["report"]
    assert response.status_code == 200
    assert (report.totals.requests, report.totals.tokens, report.totals.cost_usd) == (18, 1_150_000, Decimal("4.85"))
    assert report.totals.unpriced_requests == 1
    assert [(share.model, share.tokens) for share in report.models] == [("gpt-4o", 800_000), ("gpt-4o-mini", 350_000)]
    assert [(point.day.day, point.tokens) for point in report.days if point.tokens] == [(2, 800_000), (3, 350_000)]
    assert len(report.days) == 31
    assert b"$4.85" in response.content and b"1,150,000" in response.content


def test_people_are_ranked_by_value_per_token_never_by_volume(client, march, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/" + MARCH)

    people = response.context["report"].people
    assert [row.name for row in people] == ["maria@example.com", "alice@example.com", "bob@example.com"]
    assert [row.value.outcomes_per_mtok for row in people] == [10.0, 1.0, None]
    assert [row.tokens for row in people] == [100_000, 1_000_000, 50_000]
    assert people[1].value.cost_per_outcome == Decimal("4.5000")


def test_team_value_metrics(client, march, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/" + MARCH)

    value = response.context["report"].value
    assert value.outcomes == 2.0
    assert value.outcomes_per_mtok == pytest.approx(2 / 1.15)
    assert value.cost_per_outcome == Decimal("2.4250")
    assert value.feedback_rate == 0.0


def test_budget_burn_down_of_a_finished_month(client, march, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/" + MARCH)

    (burn,) = response.context["report"].budgets
    assert (burn.unit, burn.period_name, burn.limit) == ("usd", "month", Decimal("10"))
    assert (burn.spent, burn.forecast_at_end, burn.run_out_on) == (Decimal("4.85"), Decimal("4.85"), None)
    assert burn.points[2].actual == Decimal("4.85")
    assert b"not before the period ends" in response.content


def test_report_without_value_data_says_so(client, team, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/" + MARCH)

    assert response.context["report"].value.outcomes is None
    assert b"value per token cannot be measured yet" in response.content


def test_open_flags_are_shown_with_their_evidence(client, team, employee, manager):
    flag_add(user=employee, team=team, summary="82% of prompts are near-identical.", share=0.82)
    reviewed = flag_add(user=employee, team=team, detector="padding", summary="Old news.")
    reviewed.state = "dismissed"
    reviewed.save()
    client.force_login(manager)

    response = client.get("/teams/platform/")

    flags = response.context["report"].flags
    assert [(flag.detector, flag.summary, flag.evidence) for flag in flags] == [
        ("repetition", "82% of prompts are near-identical.", {"share": 0.82})
    ]
    assert b"82% of prompts are near-identical." in response.content
    assert b"Old news." not in response.content


def test_csv_per_person_matches_the_page(client, march, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/report.csv" + MARCH + "&table=people")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="tokenwise-platform-people-2026-03-01-2026-03-31.csv"'
    )
    assert response.content.decode().splitlines() == [
        "team,rank_by_value_per_token,person,outcomes,outcomes_per_mtok,cost_per_outcome_usd,feedback_rate,"
        "requests,total_tokens,cost_usd",
        "platform,1,maria@example.com,1.0000,10.0000,0.2500,0.0000,2,100000,0.250000",
        "platform,2,alice@example.com,1.0000,1.0000,4.5000,0.0000,15,1000000,4.500000",
        "platform,3,bob@example.com,,,,,1,50000,0.100000",
    ]


def test_csv_per_day_and_per_model(client, march, manager):
    client.force_login(manager)

    days = client.get("/teams/platform/report.csv" + MARCH + "&table=days").content.decode().splitlines()
    models = client.get("/teams/platform/report.csv" + MARCH + "&table=models").content.decode().splitlines()

    assert days[0] == "team,day,requests,total_tokens,cost_usd"
    assert days[2:4] == ["platform,2026-03-02,10,800000,4.000000", "platform,2026-03-03,8,350000,0.850000"]
    assert len(days) == 32
    assert models == [
        "team,model,requests,total_tokens,cost_usd,token_share",
        "platform,gpt-4o,10,800000,4.000000,0.6957",
        "platform,gpt-4o-mini,8,350000,0.850000,0.3043",
    ]


def test_csv_refuses_an_unknown_table(client, team, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/report.csv?table=secrets")

    assert response.status_code == 400


def test_a_bad_range_falls_back_to_the_last_30_days_with_a_message(client, team, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/?start=2026-05-01&end=2026-04-01")

    assert response.status_code == 400
    assert b"the start date is after the end date" in response.content
    period = response.context["report"].period
    assert (period.end, (period.end - period.start).days) == (timezone.localdate(), 29)


def test_manager_of_two_teams_can_switch(client, team, other_team, manager):
    Membership.objects.create(user=manager, team=other_team, role=Membership.Role.MANAGER)
    client.force_login(manager)

    page = client.get("/teams/platform/")
    switched = client.get("/teams/switch/?team=research&start=2026-03-01&end=2026-03-31")

    assert [team.slug for team in page.context["teams"]] == ["platform", "research"]
    assert b'name="team"' in page.content
    assert switched.status_code == 302
    assert switched["Location"] == "/teams/research/?start=2026-03-01&end=2026-03-31"


def test_default_report_is_the_first_managed_team(client, team, manager):
    client.force_login(manager)

    response = client.get("/teams/")

    assert response.status_code == 302
    assert response["Location"] == "/teams/platform/"


def test_managers_read_the_rules_in_force_for_their_team(client, team, manager):
    Policy.objects.create(
        scope=Policy.Scope.ORG, allowed_models=["gpt-4o-mini", "text-embedding-3-*"], tokens_per_month=5_000_000
    )
    Policy.objects.create(scope=Policy.Scope.TEAM, team=team, tokens_per_month=200_000, on_exceed="warn")
    client.force_login(manager)

    response = client.get("/teams/platform/")

    rows = [(row.name, row.value, row.source) for row in response.context["policy_rows"]]
    assert rows == [
        ("budget.tokens_per_month", "200000", "team"),
        ("models", "gpt-4o-mini, text-embedding-3-*", "organisation default"),
        ("on_exceed", "warn", "team"),
    ]
    assert b"budget.tokens_per_month" in response.content
