"""The admins' GitHub page (``/manage/integrations/github/``): the webhook secret (write-only), GitHub
logins mapped to people, unmapped logins listed with what waits on them; every change audited, and the
page refused to anyone but an admin."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from governance.models import AuditLogEntry, GithubIdentity, IntegrationSecret
from tests.usage.integrations.conftest import SECRET, GithubSender, github_example, table_rows
from usage.integrations.github import github_identity_map, github_webhook_secret
from usage.models import Outcome

pytestmark = pytest.mark.django_db

PAGE = "/manage/integrations/github/"


def _merged_pull_request() -> dict:
    payload = github_example("pull_request", "closed")
    payload["pull_request"].update(merged=True, merged_at="2019-05-15T15:21:18Z")
    return payload


def _identities(response) -> list[list[str]]:
    """Login, person, matched, events, waiting (the last-seen time and the actions left out)."""
    return [row[:5] for row in table_rows(response.content.decode(), testid="github-identities")]


def _map(client: Client, login: str, email: str):
    return client.post(PAGE, {"form": "map", "map-login": login, "map-email": email})


def test_an_admin_sets_the_webhook_secret_and_it_is_never_shown_back(api_client_admin):
    saved = api_client_admin.post(PAGE, {"form": "secret", "secret-secret": SECRET})
    page = api_client_admin.get(PAGE)
    delivery = GithubSender().send("ping", github_example("ping"))

    assert (saved.status_code, saved["Location"]) == (302, PAGE)
    assert page.status_code == 200
    assert SECRET not in page.content.decode()
    assert "A secret is set" in page.content.decode()
    row = IntegrationSecret.objects.get(integration="github")
    assert SECRET not in row.secret_encrypted
    assert github_webhook_secret() == SECRET
    assert delivery.status_code == 200  # GitHub's deliveries signed with it are now accepted
    entry = AuditLogEntry.objects.get(object_type="governance.IntegrationSecret")
    assert (entry.actor.email, entry.action, entry.after["secret_encrypted"]) == ("root@example.com", "create", "***")


def test_a_secret_too_short_is_refused_and_nothing_is_stored(api_client_admin):
    response = api_client_admin.post(PAGE, {"form": "secret", "secret-secret": "short"})

    assert response.status_code == 400
    assert "Ensure this value has at least 16 characters" in response.content.decode()
    assert 'value="short"' not in response.content.decode()
    assert not IntegrationSecret.objects.exists()
    assert not AuditLogEntry.objects.exists()


def test_an_unmapped_login_is_listed_with_its_waiting_signals(github, api_client_admin, employee):
    github.send("pull_request", _merged_pull_request())
    github_identity_map(login="octocat", user=employee, actor_label="test")

    page = api_client_admin.get(PAGE)

    assert _identities(page) == [
        ["codertocat", "unmapped", "—", "1", "1"],
        ["octocat", "alice@example.com", "by an admin", "0", "0"],
    ]
    assert not Outcome.objects.exists()


def test_an_admin_maps_a_login_and_its_waiting_signals_are_recorded(github, api_client_admin, employee, team):
    github.send("pull_request", _merged_pull_request())
    audited_before = AuditLogEntry.objects.count()

    response = _map(api_client_admin, "Codertocat", "ALICE@example.com")

    assert (response.status_code, response["Location"]) == (302, PAGE)
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "codertocat is now mapped to alice@example.com; 1 waiting signal recorded."
    ]
    assert list(Outcome.objects.values_list("kind", "user_id", "team_id")) == [("pr_merged", employee.pk, team.pk)]
    assert _identities(api_client_admin.get(PAGE)) == [["codertocat", "alice@example.com", "by an admin", "1", "0"]]
    entry = AuditLogEntry.objects.get(object_type="governance.GithubIdentity")
    assert AuditLogEntry.objects.count() == audited_before + 1
    assert (entry.actor.email, entry.action, entry.before["user_id"], entry.after["user_id"]) == (
        "root@example.com",
        "update",
        None,
        employee.pk,
    )


def test_an_admin_removes_a_mapping_and_recorded_outcomes_stay(github, api_client_admin, employee):
    github_identity_map(login="codertocat", user=employee, actor_label="test")
    github.send("pull_request", _merged_pull_request())
    listed = api_client_admin.get(PAGE).content.decode()

    response = _map(api_client_admin, "codertocat", "")  # what the row's Unmap button posts

    assert 'aria-label="Unmap codertocat"' in listed
    assert response.status_code == 302
    assert [str(message) for message in get_messages(response.wsgi_request)] == ["codertocat is unmapped."]
    assert GithubIdentity.objects.get(login="codertocat").user is None
    assert list(Outcome.objects.values_list("user_id", flat=True)) == [employee.pk]
    assert _identities(api_client_admin.get(PAGE)) == [["codertocat", "unmapped", "—", "1", "0"]]
    entry = AuditLogEntry.objects.filter(object_type="governance.GithubIdentity").first()  # the newest
    assert (entry.actor.email, entry.before["user_id"], entry.after["user_id"]) == (
        "root@example.com",
        employee.pk,
        None,
    )


@pytest.mark.parametrize("email", ["nobody@example.com", "not an e-mail"])
def test_mapping_to_no_person_is_refused_and_nothing_changes(api_client_admin, employee, email):
    response = _map(api_client_admin, "codertocat", email)

    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not GithubIdentity.objects.exists()
    assert not AuditLogEntry.objects.exists()


@pytest.mark.parametrize("who", ["manager", "employee"])
def test_the_page_is_refused_to_anyone_but_an_admin(client, github, employee, manager, who):
    client.force_login(manager if who == "manager" else employee)
    secret_before = IntegrationSecret.objects.get().secret_encrypted
    audited_before = AuditLogEntry.objects.count()

    page = client.get(PAGE)
    secret = client.post(PAGE, {"form": "secret", "secret-secret": "a-secret-of-my-own-choosing"})
    mapping = _map(client, "codertocat", employee.email)

    assert (page.status_code, secret.status_code, mapping.status_code) == (404, 404, 404)
    assert IntegrationSecret.objects.get().secret_encrypted == secret_before
    assert github_webhook_secret() == SECRET
    assert not GithubIdentity.objects.exists()
    assert AuditLogEntry.objects.count() == audited_before


def test_the_page_asks_a_stranger_to_sign_in(client):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=" + PAGE
