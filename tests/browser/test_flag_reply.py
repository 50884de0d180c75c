"""In headless Chromium: the flagged employee reads why, sees the chart against the team, replies; the
manager reads the reply on the review page."""

from __future__ import annotations

import pytest

from governance.models import AuditLogEntry, FlagReply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_employee_replies_on_a_flag_and_the_manager_sees_it(pages, seeded):
    flag = seeded["flag"]
    bob = pages.sign_in("bob@example.com")

    bob.get_by_role("link", name="Why, what you can do, and reply").first.click()
    bob.wait_for_load_state()
    bob.wait_for_selector("#flag-chart[data-rendered='true']", state="attached")
    assert bob.get_by_test_id("flag-summary").inner_text() == flag.evidence["summary"]
    assert "What you can do" in bob.get_by_test_id("flag-advice").inner_text()
    bob.get_by_label("Your reply").fill("A batch translation job my manager asked for; it ends Friday.")
    bob.get_by_role("button", name="Send reply").click()
    bob.wait_for_load_state()

    assert "A batch translation job my manager asked for" in bob.get_by_test_id("flag-history").inner_text()
    assert bob.errors == []
    assert list(FlagReply.objects.values_list("flag_id", "author__email")) == [(flag.pk, "bob@example.com")]
    assert AuditLogEntry.objects.filter(action="reply", object_id=str(flag.pk)).count() == 1
    pages.screenshot(bob, "employee-flag-reply")
    maria = pages.sign_in("maria@example.com")
    maria.goto(f"{pages.base_url}/flags/{flag.pk}/")
    assert "A batch translation job my manager asked for; it ends Friday." in (
        maria.get_by_test_id("flag-reply").inner_text()
    )
    assert maria.errors == []
    pages.screenshot(maria, "manager-sees-flag-reply")
