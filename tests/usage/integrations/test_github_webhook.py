"""GitHub webhooks: real example payloads (@octokit/webhooks-examples), signed as GitHub signs them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from governance.models import AuditLogEntry, GithubIdentity, IntegrationSecret
from governance.selectors.value_sources import outcomes_trusted
from tests.usage.integrations.conftest import SECRET, github_example, github_examples, github_sign
from usage.integrations.github import github_identity_map
from usage.models import GithubDelivery, Outcome, OutcomeKind

pytestmark = pytest.mark.django_db

MERGED_AT = "2019-05-15T15:21:18Z"


def _merged_pull_request() -> dict:
    """The package's pull_request.closed example, merged: GitHub sends the same payload with
    ``merged: true`` and ``merged_at`` when the pull request was merged (the package has no merged one)."""
    payload = github_example("pull_request", "closed")
    payload["pull_request"].update(merged=True, merged_at=MERGED_AT, merged_by=dict(payload["pull_request"]["user"]))
    return payload


def test_a_merged_pull_request_is_an_outcome_of_its_mapped_author(github, employee, team):
    github_identity_map(login="Codertocat", user=employee, actor_label="test")

    response = github.send("pull_request", _merged_pull_request())

    assert response.status_code == 200
    outcome = Outcome.objects.get()
    assert response.json() == {"status": "recorded", "kind": "pr_merged", "outcome_id": outcome.pk}
    assert (outcome.external_id, outcome.kind, outcome.user, outcome.team, outcome.value) == (
        "github:pr_merged:279147437",
        "pr_merged",
        employee,
        team,
        Decimal(1),
    )
    assert (outcome.source_kind, outcome.integration, outcome.reported_by, outcome.source) == (
        "integration",
        "github",
        None,
        "github:Codertocat/Hello-World#2",
    )
    assert outcome.occurred_at == datetime(2019, 5, 15, 15, 21, 18, tzinfo=UTC)
    assert list(outcomes_trusted().values_list("pk", flat=True)) == [outcome.pk]
    assert OutcomeKind.objects.get(kind="pr_merged").weight == Decimal(1)  # listed for admins to weight


def test_a_pull_request_closed_without_merging_adds_nothing(github, employee):
    github_identity_map(login="codertocat", user=employee, actor_label="test")

    response = github.send("pull_request", github_example("pull_request", "closed"))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert not Outcome.objects.exists()


def test_a_review_counts_for_the_reviewer_but_not_on_their_own_pull_request(github, employee, manager, team):
    github_identity_map(login="codertocat", user=employee, actor_label="test")
    own = github_example("pull_request_review", "submitted")  # the example: Codertocat reviews their own PR
    other = github_example("pull_request_review", "submitted")
    other["pull_request"]["user"] = {"login": "octocat", "id": 583231, "type": "User"}

    first = github.send("pull_request_review", own)
    second = github.send("pull_request_review", other)

    assert (first.json()["status"], second.json()["status"]) == ("ignored", "recorded")
    outcome = Outcome.objects.get()
    assert (outcome.kind, outcome.user, outcome.team, outcome.external_id) == (
        "pr_reviewed",
        employee,
        team,
        "github:pr_reviewed:237895671",
    )


def _closed_issue(state_reason: str | None) -> dict:
    """The package's issues.reopened example as GitHub sends it when the issue is then closed."""
    payload = github_example("issues", "reopened")
    payload["action"] = "closed"
    payload["issue"].update(state="closed", closed_at="2019-05-15T16:00:00Z", state_reason=state_reason)
    return payload


def _push_with_commits() -> dict:
    return copy.deepcopy(next(payload for payload in github_examples()["push"] if payload["commits"]))


def test_an_issue_closed_as_completed_counts_for_who_closed_it(github, employee):
    github_identity_map(login="Codertocat", user=employee, actor_label="test")

    done = github.send("issues", _closed_issue("completed"))
    not_planned = github.send("issues", _closed_issue("not_planned"))

    assert (done.json()["status"], not_planned.json()["status"]) == ("recorded", "ignored")
    assert list(Outcome.objects.values_list("kind", "user_id")) == [("issue_closed", employee.pk)]


def test_every_example_payload_is_acknowledged_and_none_adds_value(github, employee):
    """Pings, pushes and every other event and action of the package: 2xx, no outcome (its reviews are
    self-reviews and its closed pull request is not merged)."""
    github_identity_map(login="codertocat", user=employee, actor_label="test")
    statuses = {}

    for event, examples in github_examples().items():
        for number, payload in enumerate(examples):
            statuses[f"{event}[{number}]"] = github.send(event, payload).status_code

    assert len(statuses) > 250
    assert {name: status for name, status in statuses.items() if status != 200} == {}
    assert not Outcome.objects.exists()
    assert GithubDelivery.objects.count() == len(statuses)


@pytest.mark.parametrize(
    "signature",
    [
        None,  # missing
        "sha256=" + "0" * 64,  # wrong
        "sha1=2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",  # the legacy header's scheme
        github_sign(b"{}"),  # the right secret over another body
    ],
)
def test_a_delivery_without_a_valid_signature_is_refused_and_changes_nothing(github, employee, signature):
    github_identity_map(login="codertocat", user=employee, actor_label="test")

    response = github.send("pull_request", _merged_pull_request(), secret=None, signature=signature)

    assert response.status_code == 401
    assert not GithubDelivery.objects.exists()
    assert not Outcome.objects.exists()


def test_a_delivery_signed_with_another_secret_is_refused(github, employee):
    response = github.send("ping", github_example("ping"), secret="not-the-secret-at-all")

    assert response.status_code == 401
    assert not GithubDelivery.objects.exists()


def test_without_a_secret_every_delivery_is_refused(employee):
    from tests.usage.integrations.conftest import GithubSender

    response = GithubSender().send("ping", github_example("ping"))

    assert response.status_code == 401
    assert not IntegrationSecret.objects.exists()


def test_a_replayed_delivery_is_answered_once_and_the_same_merge_counts_once(github, employee):
    github_identity_map(login="codertocat", user=employee, actor_label="test")
    payload = _merged_pull_request()

    first = github.send("pull_request", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    replay = github.send("pull_request", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    other_hook = github.send("pull_request", payload)  # the same merge through an organisation webhook

    assert first.json()["status"] == "recorded"
    assert replay.status_code == 200
    assert replay.json() == {"status": "duplicate", "kind": None, "outcome_id": None}
    assert other_hook.json()["outcome_id"] == first.json()["outcome_id"]
    assert Outcome.objects.count() == 1
    assert GithubDelivery.objects.count() == 2


def test_an_unmapped_author_waits_and_is_listed_until_an_admin_maps_the_login(github, api_client_admin, employee, team):
    waiting = github.send("pull_request", _merged_pull_request())
    listed = api_client_admin.get("/api/integrations/github/identities/?mapped=false").json()

    assert waiting.json() == {"status": "unmapped", "kind": "pr_merged", "outcome_id": None}
    assert not Outcome.objects.exists()
    assert [(row["login"], row["user_id"], row["events_seen"], row["waiting"]) for row in listed["results"]] == [
        ("codertocat", None, 1, 1)
    ]
    assert listed["results"][0]["last_seen_at"] is not None

    mapped = api_client_admin.post(
        "/api/integrations/github/identities/",
        {"login": "Codertocat", "email": "ALICE@example.com"},
        content_type="application/json",
    )

    assert mapped.status_code == 200
    assert (
        mapped.json()["user_id"],
        mapped.json()["matched_by"],
        mapped.json()["recorded"],
        mapped.json()["waiting"],
    ) == (employee.pk, "admin", 1, 0)
    assert list(Outcome.objects.values_list("kind", "user_id", "team_id")) == [("pr_merged", employee.pk, team.pk)]
    entry = AuditLogEntry.objects.get(object_type="governance.GithubIdentity")
    assert (entry.actor.email, entry.action, entry.before["user_id"], entry.after["user_id"]) == (
        "root@example.com",
        "update",
        None,
        employee.pk,
    )


def test_a_login_is_matched_on_an_email_github_verified_and_its_waiting_signals_recorded(github, employee):
    github.send("pull_request", _merged_pull_request())
    push = _push_with_commits()
    push["commits"][0]["author"].update(email="Alice@Example.com", username="Codertocat")

    response = github.send("push", push)

    assert response.json()["status"] == "ignored"
    identity = GithubIdentity.objects.get(login="codertocat")
    assert (identity.user, identity.matched_by, identity.matched_email) == (employee, "email", "Alice@Example.com")
    assert list(Outcome.objects.values_list("kind", "user_id")) == [("pr_merged", employee.pk)]
    assert AuditLogEntry.objects.get(object_type="governance.GithubIdentity").actor_label == "github-webhook"


def test_an_email_a_commit_merely_claims_or_nobody_has_matches_no_one(github, employee):
    claimed = _push_with_commits()
    claimed["commits"][0]["author"].update(email="alice@example.com", username=None)  # not verified by GitHub
    unknown = _push_with_commits()  # verified, but Codertocat's noreply address: no person has it

    github.send("push", claimed)
    github.send("push", unknown)

    assert not GithubIdentity.objects.filter(user__isnull=False).exists()


def test_an_email_match_never_overrides_an_admins_mapping(github, employee, manager):
    github_identity_map(login="codertocat", user=manager, actor_label="test")
    push = _push_with_commits()
    push["commits"][0]["author"].update(email="alice@example.com", username="Codertocat")

    github.send("push", push)

    identity = GithubIdentity.objects.get(login="codertocat")
    assert (identity.user, identity.matched_by) == (manager, "admin")


def test_the_webhook_secret_is_write_only(api_client_admin):
    set_response = api_client_admin.post(
        "/api/integrations/github/", {"webhook_secret": SECRET}, content_type="application/json"
    )
    read = api_client_admin.get("/api/integrations/github/")

    assert set_response.status_code == 200
    assert read.json()["has_secret"] is True
    assert SECRET not in set_response.content.decode() + read.content.decode()
    entry = AuditLogEntry.objects.get(object_type="governance.IntegrationSecret")
    assert entry.after["secret_encrypted"] == "***"
    assert SECRET not in IntegrationSecret.objects.get().secret_encrypted
