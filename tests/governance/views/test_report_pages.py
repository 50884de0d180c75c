"""The team report's headline (window, change, budget risk, drivers), the admin overview, error pages, polish."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from governance.models import Alert, Policy
from governance.periods import Period
from governance.selectors.budgets import budget_burn
from tests.governance.views.helpers import flag_add, rollup_add
from usage.models import OutcomeKind

pytestmark = pytest.mark.django_db


def test_team_report_defaults_to_30_days_and_compares_with_the_30_before(client, team, employee, manager):
    today = timezone.localdate()
    rollup_add(day=today, user=employee, team=team, tokens=1_234_567, cost="12.3456")
    rollup_add(day=today - timedelta(days=35), user=employee, team=team, tokens=1000, cost="10")
    client.force_login(manager)

    response = client.get("/teams/platform/")

    body = response.content.decode()
    assert response.context["window"].preset == "30d"
    assert response.context["previous"].cost_usd == Decimal("10")
    assert 'data-testid="total-cost" title="$12.35">$12.35<' in body
    assert 'data-testid="total-tokens" title="1,234,567 tokens">1.2M<' in body
    assert 'data-testid="total-cost-change">+23% vs previous period<' in body
    assert 'aria-current="true">Last 30 days<' in body
    assert [s.label for s in response.context["drivers"].shares["person"]] == ["alice@example.com"]
    assert f'href="/people/{employee.pk}/?window=30d"' in body


def test_budget_risk_is_amber_when_the_forecast_crosses_and_red_when_spent():
    month = Period(start=date(2026, 12, 1), end=date(2026, 12, 31))

    def burn(spent_per_day: str, limit: str):
        return budget_burn(
            unit="usd",
            period_name="month",
            period=month,
            limit=Decimal(limit),
            daily={date(2026, 12, d): Decimal(spent_per_day) for d in range(1, 6)},
            today=date(2026, 12, 5),
        )

    assert burn("1", "100").risk == "ok"  # 31 forecast
    assert burn("1", "20").risk == "at_risk"  # 5 spent, 31 forecast
    assert burn("5", "20").risk == "over"


def test_team_report_headline_shows_budget_at_risk(client, team, employee, manager):
    rollup_add(day=timezone.localdate(), user=employee, team=team, cost="9")
    Policy.objects.create(
        scope=Policy.Scope.TEAM,
        team=team,
        usd_per_day=Decimal("10"),
        usd_per_week=Decimal("10"),
        usd_per_month=Decimal("10"),
    )
    client.force_login(manager)

    response = client.get("/teams/platform/")

    assert response.context["risk"] in ("at_risk", "over")
    assert 'class="card risk-' in response.content.decode()


def test_empty_window_says_no_usage(client, team, manager):
    client.force_login(manager)

    body = client.get("/teams/platform/?window=7d").content.decode()

    assert 'data-testid="empty-usage"' in body and 'data-testid="empty-drivers"' in body


def test_admin_overview(client, admin, team, employee):
    rollup_add(day=timezone.localdate(), user=employee, team=team, cost="9")
    Policy.objects.create(scope=Policy.Scope.TEAM, team=team, usd_per_day=Decimal("5"))
    flag_add(user=employee, team=team)
    Alert.objects.create(
        scope="team",
        team=team,
        metric="usd",
        period="day",
        period_start=timezone.localdate(),
        threshold_percent=100,
        used=Decimal("9"),
        limit=Decimal("5"),
        is_exceeded=True,
        recipients=["maria@example.com"],
        webhook_status="200",
    )
    OutcomeKind.objects.create(kind="pr_merged", weight=Decimal("2.5000"))
    client.force_login(admin)

    response = client.get("/manage/")

    body = response.content.decode()
    overview = response.context["overview"]
    assert [(item.team_slug, item.burn.risk) for item in overview.at_risk] == [("platform", "over")]
    assert overview.open_flag_count == 1
    assert "maria@example.com" in body and "webhook: 200" in body
    assert ">2.5<" in body
    assert response.context["trend_chart"]["series"][0]["label"] == team.name


@pytest.mark.parametrize("who", ["employee", "manager"])
def test_admin_overview_is_404_for_others(client, employee, manager, who):
    client.force_login(employee if who == "employee" else manager)

    assert client.get("/manage/").status_code == 404


@override_settings(DEBUG=False)
def test_error_pages_are_styled_and_fit_a_phone(client, employee):
    client.force_login(employee)

    response = client.get("/no/such/page/")

    body = response.content.decode()
    assert response.status_code == 404
    assert '<meta name="viewport"' in body and "tokenwise.css" in body and "Page not found" in body


def test_500_page_renders_without_a_request_context():
    from django.template.loader import render_to_string

    body = render_to_string("500.html")

    assert "Something went wrong" in body and '<meta name="viewport"' in body


def test_navigation_links_requests_and_api_docs(client, employee):
    client.force_login(employee)

    body = client.get("/me/").content.decode()

    assert 'href="/requests/"' in body and 'href="/api/docs/"' in body


def test_removals_ask_for_confirmation(client, admin, team, employee):
    client.force_login(admin)

    body = client.get("/manage/teams/platform/").content.decode()

    assert 'data-confirm="Remove alice@example.com from' in body
    assert "js/pages.js" in body


def test_policy_values_read_as_numbers(client, team, manager):
    Policy.objects.create(scope=Policy.Scope.TEAM, team=team, usd_per_month=Decimal("25.0000"))
    client.force_login(manager)

    rows = {row.name: row.value for row in client.get("/teams/platform/").context["policy_rows"]}

    assert rows["budget.usd_per_month"] == "25"


def test_policy_form_is_grouped_and_shows_inherited_values(client, admin, team):
    Policy.objects.create(scope=Policy.Scope.ORG, usd_per_month=Decimal("500.0000"), alert_thresholds=[50, 80, 100])
    policy = Policy.objects.create(scope=Policy.Scope.TEAM, team=team, usd_per_day=Decimal("5"))
    client.force_login(admin)

    response = client.get(f"/manage/policies/{policy.pk}/")

    body = response.content.decode()
    assert [title for title, _ in response.context["groups"]] == [
        "Target",
        "Budgets",
        "Rates",
        "Models",
        "Caps",
        "Alerts",
        "Privacy",
    ]
    assert "Empty inherits: 500 (organisation default)" in body
    assert "Empty inherits: 50, 80, 100 (organisation default)" in body


def test_provider_edit_form_is_prefilled_and_its_connection_can_be_tested(client, admin, fake_upstream):
    from governance.services.providers import provider_upsert
    from tests.conftest import free_port

    reachable = provider_upsert(name="fake", base_url=fake_upstream.base_url, api_key="sk-test")
    unreachable = provider_upsert(name="gone", base_url=f"http://127.0.0.1:{free_port()}/v1")
    client.force_login(admin)

    edit = client.get("/manage/providers/?edit=fake").content.decode()
    tested = client.post(f"/manage/providers/{reachable.pk}/test/", follow=True).content.decode()
    failed = client.post(f"/manage/providers/{unreachable.pk}/test/", follow=True).content.decode()

    assert "Edit provider fake" in edit and f'value="{fake_upstream.base_url}"' in edit
    assert "sk-test" not in edit and "sk-test" not in tested
    assert "fake: Connected" in tested or "fake: Reachable, but" in tested
    assert "gone: Could not reach" in failed


def test_provider_connection_test_is_404_for_a_manager(client, manager):
    from governance.services.providers import provider_upsert

    provider = provider_upsert(name="fake", base_url="http://127.0.0.1:9/v1")
    client.force_login(manager)

    assert client.post(f"/manage/providers/{provider.pk}/test/").status_code == 404
