"""Flags people can read and answer: the flagged person's page, their reply (audited), what managers see."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.exceptions import FlagReplyRefused
from governance.models import AuditLogEntry, Flag, FlagReply, Membership
from governance.services.flags import flag_reply
from tests.factories import UserFactory
from tests.governance.seed import SINCE, UNTIL

EVIDENCE = {
    "summary": "Used 480,000 tokens in the period, 10.4 times the team median of 46,000.",
    "value_summary": "Value from trusted outcomes in the period: 0.0 points (0% of the team median of 4.0).",
    "volume_z": 73.1822,
    "examples": ["req-a1", "req-b2"],
}


@pytest.fixture
def flag(employee, team) -> Flag:
    return Flag.objects.create(
        user=employee,
        team=team,
        detector="volume_without_value",
        score=1.0,
        period_start=SINCE,
        period_end=UNTIL,
        evidence=EVIDENCE,
    )


def test_the_person_flagged_replies_and_it_is_audited(flag, employee):
    reply = flag_reply(flag=flag, author=employee, body="  A migration: the PRs land next week.  ")

    assert (reply.flag_id, reply.author_id, reply.body) == (
        flag.pk,
        employee.pk,
        "A migration: the PRs land next week.",
    )
    entry = AuditLogEntry.objects.get(action="reply")
    assert (entry.actor_id, entry.object_id, entry.after["reply"]) == (
        employee.pk,
        str(flag.pk),
        "A migration: the PRs land next week.",
    )
    flag.refresh_from_db()
    assert flag.state == Flag.State.OPEN


def test_nobody_else_replies_on_a_flag(flag, manager, outsider):
    for other in (manager, outsider):
        with pytest.raises(FlagReplyRefused):
            flag_reply(flag=flag, author=other, body="not mine to answer")

    assert FlagReply.objects.count() == 0
    assert not AuditLogEntry.objects.filter(action="reply").exists()


def test_refuses_an_empty_reply(flag, employee):
    with pytest.raises(ValueError):
        flag_reply(flag=flag, author=employee, body="   ")

    assert FlagReply.objects.count() == 0


def test_own_flag_page_explains_in_plain_words_and_takes_a_reply(client, flag, employee):
    client.force_login(employee)
    url = reverse("governance:my_flag", args=[flag.pk])

    page = client.get(url)
    posted = client.post(url, {"body": "Long documents for the audit; see ticket OPS-12."})

    assert page.status_code == 200
    html = page.content.decode()
    assert EVIDENCE["summary"] in html and EVIDENCE["value_summary"] in html
    assert "What you can do" in html
    assert 'href="/requests/req-a1/"' in html
    assert "73.18" not in html and "Volume z" not in html  # no raw statistics on the page
    assert 'data-chart="flag-chart-data"' in html
    assert posted.status_code == 302
    assert list(FlagReply.objects.values_list("body", flat=True)) == [
        "Long documents for the audit; see ticket OPS-12."
    ]


def test_someone_elses_flag_page_is_not_found(client, flag, manager, outsider):
    for other in (manager, outsider):
        client.force_login(other)

        assert client.get(reverse("governance:my_flag", args=[flag.pk])).status_code == 404
        assert client.post(reverse("governance:my_flag", args=[flag.pk]), {"body": "x"}).status_code == 404

    assert FlagReply.objects.count() == 0


def test_manager_sees_the_reply_and_related_flags(client, flag, employee, manager, team):
    flag_reply(flag=flag, author=employee, body="The agent migration; the PRs are linked now.")
    related = Flag.objects.create(
        user=employee,
        team=team,
        detector="padding",
        score=0.5,
        period_start=SINCE,
        period_end=UNTIL,
        evidence={"summary": "40% of 50 calls were padded."},
    )
    client.force_login(manager)

    page = client.get(reverse("governance:flag_review", args=[flag.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "The agent migration; the PRs are linked now." in html and "replied" in html
    assert reverse("governance:flag_review", args=[related.pk]) in html


def test_a_manager_of_another_team_sees_neither_flag_nor_reply(client, flag, employee, other_team):
    flag_reply(flag=flag, author=employee, body="private to my team")
    stranger = UserFactory()
    Membership.objects.create(user=stranger, team=other_team, role=Membership.Role.MANAGER)
    client.force_login(stranger)

    assert client.get(reverse("governance:flag_review", args=[flag.pk])).status_code == 404


def test_my_usage_groups_related_flags_and_links_to_them(client, flag, employee, team):
    Flag.objects.create(
        user=employee,
        team=team,
        detector="padding",
        score=0.5,
        period_start=SINCE,
        period_end=UNTIL,
        evidence={"summary": "40% of 50 calls were padded."},
    )
    client.force_login(employee)

    html = client.get(reverse("usage:my_usage")).content.decode()

    assert html.count('<article class="flag">') == 1
    assert reverse("governance:my_flag", args=[flag.pk]) in html
