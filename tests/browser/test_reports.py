"""The report pages in headless Chromium: every page x role at desktop and phone width (screenshots in
test-output/screenshots/), card numbers against ``export_usage``, no console errors, no horizontal
overflow on a phone, and axe-core (npm, installed by scripts/npm_deps) finding no serious or critical
accessibility violation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from governance.templatetags.tokenwise import usd
from tests.browser.test_pages import chart, exported
from usage.integrations.github import github_identity_map
from usage.models import UsageEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}"""
PHONE = {"width": 390, "height": 844}


def axe_violations(page) -> list[str]:
    if not AXE.exists():
        pytest.fail(f"axe-core not installed at {AXE}: run scripts/npm_deps (npm ci)")
    # Evaluated through the DevTools protocol, so the pages' Content-Security-Policy does not refuse it.
    page.evaluate(AXE.read_text() + "\n;void 0")
    return page.evaluate(AXE_RUN)


def check(pages, page, path: str, name: str, *, phone: bool) -> None:
    """Open ``path``, wait for its charts, and assert: no script errors, fits the width, no axe finding.

    A page expected to be a 404 (``name`` ends in -404) may log only its own 404 to the console.
    """
    page.errors.clear()
    response = page.goto(pages.base_url + path)
    page.wait_for_load_state("load")
    assert response.status == (404 if name.endswith("-404") else 200), path
    if name.endswith("-404"):
        page.errors[:] = [error for error in page.errors if "status of 404" not in error]
    for canvas in page.locator("canvas[data-chart]").all():
        if canvas.is_visible():
            page.wait_for_selector(f"#{canvas.get_attribute('id')}[data-rendered='true']", state="attached")
    pages.screenshot(page, f"{name}-{'phone' if phone else 'desktop'}")
    assert page.errors == [], (path, page.errors)
    if phone:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    assert axe_violations(page) == [], path


@pytest.fixture
def tagged(seeded):
    """Some of the seeded calls come from a coding agent, in a session, with purposes."""
    UsageEvent.objects.filter(request_id__in=["req_browser_0000", "req_browser_0005"]).update(
        client="claude-cli/2.1.3", session_id="sess-browser-1", purpose="review"
    )
    github_identity_map(login="alice-gh", user=seeded["people"]["alice"], actor_label="test")
    github_identity_map(login="stranger-gh", user=None, actor_label="test")  # listed as unmapped
    return seeded


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_every_report_page_for_every_role(pages, tagged, phone):
    people = tagged["people"]
    size = PHONE if phone else {"width": 1280, "height": 900}
    alice_call = "req_browser_0000"
    oscar_call = "req_browser_0004"
    plan = {
        "maria@example.com": [
            ("/teams/platform/", "manager-team"),
            (f"/people/{people['alice'].pk}/", "manager-person"),
            ("/requests/", "manager-requests"),
            (f"/requests/{alice_call}/", "manager-call"),
        ],
        "alice@example.com": [
            ("/me/", "employee-me"),
            (f"/people/{people['alice'].pk}/", "employee-person"),
            ("/requests/", "employee-requests"),
            (f"/requests/{alice_call}/", "employee-call"),
            (f"/requests/{oscar_call}/", "employee-404"),
        ],
        "root@example.com": [
            ("/manage/", "admin-overview"),
            ("/manage/policies/new/", "admin-policy-form"),
            ("/manage/providers/", "admin-providers"),
            ("/manage/integrations/github/", "admin-github"),
            (f"/people/{people['oscar'].pk}/", "admin-person"),
            ("/requests/?window=90d", "admin-requests"),
        ],
    }
    for email, paths in plan.items():
        page = pages.sign_in(email, width=size["width"], height=size["height"])
        for path, name in paths:
            check(pages, page, path, name, phone=phone)
        if email == "alice@example.com":
            assert page.locator("h1").inner_text() == "Page not found"  # oscar's call: as if it did not exist


def test_manager_reaches_a_call_in_two_clicks_and_cards_match_the_ledger(pages, tagged):
    ledger = exported(team="platform")
    alice = [row for row in ledger if row["user"] == "alice@example.com"]

    page = pages.sign_in("maria@example.com")

    assert page.get_by_test_id("total-cost").get_attribute("title") == usd(sum(Decimal(r["cost_usd"]) for r in ledger))
    assert page.get_by_test_id("period-label").inner_text() == "Last 30 days"
    stacked = chart(page, "chart-stacked")
    assert {dataset["label"] for dataset in stacked["datasets"]} == {
        "alice@example.com",
        "bob@example.com",
        "maria@example.com",
    }
    total = sum(Decimal(str(v)) for dataset in stacked["datasets"] for v in dataset["data"] if v)
    assert round(total, 6) == round(sum(Decimal(r["cost_usd"]) for r in ledger), 6)
    page.get_by_role("button", name="by client").click()
    assert {d["label"] for d in chart(page, "chart-stacked")["datasets"]} == {"claude-cli", "(unknown client)"}

    page.get_by_test_id("request-log-link").click()  # click 1
    page.wait_for_url("**/requests/**")
    rows = page.get_by_test_id("calls-table").locator("tbody tr")
    assert rows.count() == len(ledger)
    rows.first.get_by_role("link").click()  # click 2
    page.wait_for_url("**/requests/req_browser_*/")
    request_id = page.get_by_test_id("call-id").inner_text()
    call = next(row for row in ledger if row["request_id"] == request_id)
    assert page.get_by_test_id("call-cost").inner_text() == usd(Decimal(call["cost_usd"]))
    assert page.get_by_test_id("call-text-not-stored").is_visible()

    page.goto(pages.base_url + "/teams/platform/")
    page.get_by_test_id("people-table").get_by_role("link", name="alice@example.com").click()
    page.wait_for_url("**/people/**")
    assert page.get_by_test_id("total-tokens").get_attribute("title") == (
        f"{sum(int(r['total_tokens']) for r in alice):,} tokens"
    )
    assert page.get_by_test_id("sessions-table").locator("tbody tr").count() == 1
    assert page.errors == []


def test_manager_cannot_open_another_teams_call_or_person(pages, tagged):
    page = pages.sign_in("maria@example.com")

    for path in ("/requests/req_browser_0004/", f"/people/{tagged['people']['oscar'].pk}/"):
        response = page.goto(pages.base_url + path)
        assert response.status == 404
        assert page.locator("h1").inner_text() == "Page not found"
    page.goto(pages.base_url + f"/requests/?team={tagged['research'].pk}&window=90d")
    assert page.get_by_test_id("no-calls").is_visible()
