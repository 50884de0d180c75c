"""End to end in headless Chromium: each role signs in, loads its pages with seeded data, and the
charts' numbers are checked against the ledger as ``export_usage`` prints it."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command

from governance.models import ApiKey, FlagReview, Membership
from governance.services.keys import key_hash
from governance.templatetags.tokenwise import usd, usd_headline
from usage.models import Feedback

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHART_DATA = """id => {
  const chart = Chart.getChart(id);
  return {labels: chart.data.labels, datasets: chart.data.datasets.map(d => ({label: d.label, data: d.data}))};
}"""
PAINTED_PIXELS = """id => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted++; }
  return painted;
}"""


def chart(page, canvas_id: str) -> dict:
    page.wait_for_selector(f"#{canvas_id}[data-rendered='true']", state="attached")
    data = page.evaluate(CHART_DATA, canvas_id)
    data["painted"] = page.evaluate(PAINTED_PIXELS, canvas_id)
    return data


def exported(*, team: str | None = None, user: str | None = None) -> list[dict]:
    """The ledger as ``export_usage --format csv`` prints it."""
    out = io.StringIO()
    call_command("export_usage", "--format", "csv", *(["--team", team] if team else []), stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    return [row for row in rows if user is None or row["user"] == user]


def per_day(rows: list[dict], field: str) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[row["created_at"][:10]] += Decimal(row[field] or 0)
    return dict(sums)


def per_model(rows: list[dict]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for row in rows:
        sums[row["model"]] += int(row["total_tokens"])
    return dict(sums)


def per_model_cost(rows: list[dict]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[row["model"]] += Decimal(row["cost_usd"] or 0)
    return dict(sums)


def nonzero(labels: list[str], values: list) -> dict[str, Decimal]:
    return {day: Decimal(str(value)) for day, value in zip(labels, values, strict=True) if value}


def test_manager_report_charts_match_the_ledger(pages, seeded):
    ledger = exported(team="platform")

    page = pages.sign_in("maria@example.com")

    assert page.url.endswith("/teams/platform/")
    usage = chart(page, "chart-usage")
    tokens, cost = usage["datasets"]
    assert nonzero(usage["labels"], tokens["data"]) == per_day(ledger, "total_tokens")
    assert {day: round(value, 8) for day, value in nonzero(usage["labels"], cost["data"]).items()} == {
        day: round(value, 8) for day, value in per_day(ledger, "cost_usd").items()
    }
    mix = chart(page, "chart-mix")
    assert {
        model: round(Decimal(str(cost)), 8)
        for model, cost in zip(mix["labels"], mix["datasets"][0]["data"], strict=True)
    } == {model: round(cost, 8) for model, cost in per_model_cost(ledger).items()}
    burn = chart(page, "chart-burn-usd")
    spent = sum(Decimal(row["cost_usd"]) for row in ledger)
    actual = [value for value in burn["datasets"][0]["data"] if value is not None]
    assert Decimal(str(actual[-1])) == spent.quantize(Decimal("0.000001"))
    assert set(burn["datasets"][2]["data"]) == {0.25}
    assert min(usage["painted"], mix["painted"], burn["painted"]) > 1000
    total_tokens = sum(int(row["total_tokens"]) for row in ledger)
    assert page.get_by_test_id("total-tokens").get_attribute("title") == f"{total_tokens:,} tokens"
    assert page.get_by_test_id("total-cost").get_attribute("title") == usd(spent)
    assert page.get_by_test_id("total-cost").inner_text() == usd_headline(spent)
    people = page.get_by_test_id("people-table").locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert people == ["alice@example.com", "bob@example.com", "maria@example.com"]
    assert "78% of bob's prompts were near-identical" in page.locator("#h-flags + article").inner_text()
    pages.screenshot(page, "manager-team-report")
    assert page.errors == []


def test_manager_of_two_teams_switches_with_the_selector(pages, seeded):
    Membership.objects.create(user=seeded["people"]["maria"], team=seeded["research"], role="manager")
    page = pages.sign_in("maria@example.com")

    page.get_by_label("Team", exact=True).select_option("research")
    page.wait_for_url("**/teams/research/**")

    assert page.locator("h1").inner_text() == "Research"
    ledger = exported(team="research")
    assert page.get_by_test_id("total-tokens").get_attribute("title") == (
        f"{sum(int(r['total_tokens']) for r in ledger):,} tokens"
    )
    assert chart(page, "chart-usage")["painted"] > 1000


def test_manager_reviews_a_flag(pages, seeded):
    flag = seeded["flag"]
    page = pages.sign_in("maria@example.com")

    page.get_by_role("link", name="Review").first.click()
    assert page.get_by_test_id("flag-summary").inner_text() == (
        "78% of bob's prompts were near-identical (team median 6%)."
    )
    page.get_by_label("Dismiss - the usage is legitimate").check()
    page.get_by_label("Comment (the person flagged sees it)").fill("Batch translation job, agreed with me.")
    page.get_by_role("button", name="Record review").click()
    page.wait_for_load_state()

    assert page.get_by_test_id("flag-status").inner_text() == "Dismissed as legitimate"
    assert "Batch translation job, agreed with me." in page.get_by_test_id("flag-history").inner_text()
    review = FlagReview.objects.get(flag=flag)
    assert (review.action, review.reviewer, review.comment) == (
        "dismiss",
        seeded["people"]["maria"],
        "Batch translation job, agreed with me.",
    )
    pages.screenshot(page, "manager-flag-review")
    bob = pages.sign_in("bob@example.com")
    assert "Batch translation job, agreed with me." in bob.locator("#h-flags").locator("..").inner_text()
    pages.screenshot(bob, "employee-flag-comment")


def test_employee_sees_own_usage_creates_and_revokes_a_key_and_rates_a_call(pages, seeded):
    alice = seeded["people"]["alice"]
    ledger = exported(team="platform", user="alice@example.com")

    page = pages.sign_in("alice@example.com")

    assert page.url.endswith("/me/")
    usage = chart(page, "chart-usage")
    assert nonzero(usage["labels"], usage["datasets"][0]["data"]) == per_day(ledger, "total_tokens")
    assert usage["painted"] > 1000
    assert page.get_by_test_id("total-tokens").get_attribute("title") == (
        f"{sum(int(r['total_tokens']) for r in ledger):,} tokens"
    )
    pages.screenshot(page, "employee-my-usage")

    page.get_by_label("Name").fill("browser-test")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-key-secret").inner_text().strip()
    key = ApiKey.objects.get(user=alice, name="browser-test")
    assert key.key_hash == key_hash(secret)
    pages.screenshot(page, "employee-key-created")
    page.get_by_role("link", name="Done").click()
    assert secret not in page.content()
    page.get_by_role("button", name=f"Revoke key browser-test ({key.prefix}…)").click()
    page.wait_for_load_state()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert page.locator(f"tr[data-key-id='{key.pk}'] .badge").inner_text() == "revoked"

    page.get_by_role("button", name="Useful answer").first.click()
    page.wait_for_load_state()
    feedback = Feedback.objects.get(user=alice)
    assert (feedback.score, feedback.scale) == (1, "binary")
    assert page.get_by_role("button", name="Useful answer").first.get_attribute("aria-pressed") == "true"
    assert page.errors == []


def test_admin_pages(pages, seeded):
    ledger = exported()

    page = pages.sign_in("root@example.com")

    assert page.url.endswith("/manage/")
    assert page.get_by_test_id("total-tokens").get_attribute("title") == (
        f"{sum(int(r['total_tokens']) for r in ledger):,} tokens"
    )
    assert chart(page, "chart-usage")["painted"] > 1000
    pages.screenshot(page, "admin-overview")
    for path, heading, name in [
        ("/manage/teams/", "Teams", "admin-teams"),
        ("/manage/teams/platform/", "Platform", "admin-team-members"),
        ("/manage/policies/", "Policies", "admin-policies"),
        ("/manage/providers/", "Providers and routes", "admin-providers"),
        ("/manage/prices/", "Prices", "admin-prices"),
        ("/manage/audit/", "Audit log", "admin-audit"),
    ]:
        page.goto(pages.base_url + path)
        assert page.locator("h1").inner_text() == heading
        pages.screenshot(page, name)
    page.goto(pages.base_url + "/manage/teams/platform/")
    page.get_by_label("E-mail").fill("newbie@example.com")
    page.get_by_role("button", name="Add").click()
    page.wait_for_load_state()
    assert "newbie@example.com" in page.get_by_test_id("members-table").inner_text()
    assert page.errors == []


@pytest.mark.parametrize(
    ("email", "path", "name"),
    [
        ("maria@example.com", "/teams/platform/", "phone-team-report"),
        ("alice@example.com", "/me/", "phone-my-usage"),
    ],
)
def test_pages_fit_a_phone_screen(pages, seeded, email, path, name):
    page = pages.sign_in(email, width=390, height=844)

    page.goto(pages.base_url + path)

    assert chart(page, "chart-usage")["painted"] > 500
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    pages.screenshot(page, name)


def test_sign_in_refuses_a_wrong_password_and_guards_pages(pages, seeded, browser):
    page = pages.sign_in("maria@example.com", password="wrong")

    assert "Please enter a correct" in page.locator("[role=alert]").inner_text()
    page.goto(pages.base_url + "/teams/platform/")
    assert "/accounts/login/?next=/teams/platform/" in page.url
    pages.screenshot(page, "sign-in")
