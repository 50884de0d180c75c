"""What the endpoints do, with exact values: keys, outcomes, usage sums, pagination, policies, providers,
flags - and an admin scripting a whole setup over HTTP, as a curl user would."""

from __future__ import annotations

from decimal import Decimal

import pytest

from governance.models import ApiKey, AuditLogEntry, Flag, FlagReview, Membership, Policy, Provider
from governance.services.keys import key_hash
from governance.services.providers import provider_secret
from usage.models import Feedback, Outcome, OutcomeRequest


def test_key_secret_is_returned_once_and_works_as_a_proxy_key(api, world):
    employee = api("employee")

    created = employee.post("/api/keys/", {"team": world.team_a.pk, "name": "notebook"})
    listed = employee.get("/api/keys/").json()["results"]

    body = created.json()
    assert created.status_code == 201
    assert body["secret"].startswith("tw-") and body["prefix"] == body["secret"][:10]
    assert ApiKey.objects.get(pk=body["id"]).key_hash == key_hash(body["secret"])
    assert [row["name"] for row in listed] == ["notebook", "alice"]
    assert all("secret" not in row and "key_hash" not in row for row in listed)


def test_key_revocation_is_idempotent_and_audited(api, world):
    manager = api("manager_a")

    first = manager.post(f"/api/keys/{world.keys['bob'].pk}/revoke/")
    second = manager.post(f"/api/keys/{world.keys['bob'].pk}/revoke/")

    assert first.json()["revoked_at"] == second.json()["revoked_at"] is not None
    assert (
        AuditLogEntry.objects.filter(
            object_type="governance.ApiKey", object_id=str(world.keys["bob"].pk), action="revoke"
        ).count()
        == 1
    )


def test_outcome_post_is_idempotent_on_external_id(api, world):
    service = api("service")
    body = {
        "external_id": "PR-481",
        "kind": "pr_merged",
        "user": world.people["bob"].pk,
        "value": "3",
        "request_ids": ["req-bob-a", "req-not-yet-ingested"],
    }

    first = service.post("/api/outcomes/", body)
    retry = service.post("/api/outcomes/", dict(body, value="9"))

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json()
    outcome = Outcome.objects.get(external_id="PR-481")
    assert (outcome.team_id, outcome.user_id, outcome.value) == (
        world.team_a.pk,
        world.people["bob"].pk,
        Decimal("3.0000"),
    )
    assert sorted(OutcomeRequest.objects.filter(outcome=outcome).values_list("request_id", flat=True)) == [
        "req-bob-a",
        "req-not-yet-ingested",
    ]


def test_employee_rates_own_call_and_a_second_rating_replaces_the_first(api, world):
    employee = api("employee")

    first = employee.post("/api/feedback/", {"request_id": "req-alice-a", "score": 4, "comment": "ok"})
    second = employee.post("/api/feedback/", {"request_id": "req-alice-a", "score": 2})

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["scale"] == "five" and second.json()["score"] == 2
    assert list(Feedback.objects.filter(request_id="req-alice-a").values_list("user_id", "score")) == [
        (world.people["alice"].pk, 2)
    ]


def test_usage_summary_groups_by_day_and_model(api, world):
    response = api("admin").get("/api/usage/summary/?group_by=day,model&start=2026-03-01&end=2026-03-31")

    rows = [
        (row["day"], row["model"], row["requests"], row["total_tokens"], row["cost_usd"])
        for row in response.json()["results"]
    ]
    assert rows == [
        ("2026-03-10", "gpt-4o", 1, 1000, "0.01000000"),
        ("2026-03-10", "gpt-4o-mini", 1, 300, "0.00100000"),
        ("2026-03-10", "o3", 2, 9000, "0.25000000"),
        ("2026-03-11", "gpt-4o", 1, 50, "0.00050000"),
    ]


def test_usage_summary_without_groups_is_one_total_row(api, world):
    response = api("manager_b").get("/api/usage/summary/")

    assert response.json()["count"] == 1
    assert response.json()["results"][0] == {
        "requests": 2,
        "errors": 0,
        "prompt_tokens": 4500,
        "completion_tokens": 4500,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "total_tokens": 9000,
        "cost_usd": "0.25000000",
        "unpriced_requests": 0,
    }


def test_usage_events_filter_order_and_paginate(api, world):
    manager = api("manager_a")

    page = manager.get(f"/api/usage/events/?team={world.team_a.pk}&ordering=-total_tokens&limit=2").json()
    rest = manager.get(f"/api/usage/events/?team={world.team_a.pk}&ordering=-total_tokens&limit=2&offset=2").json()
    by_model = manager.get("/api/usage/events/?model=gpt-4o&start=2026-03-11&end=2026-03-11").json()

    assert page["count"] == 3
    assert [row["request_id"] for row in page["results"] + rest["results"]] == [
        "req-alice-a",
        "req-bob-a",
        "req-carol-a",
    ]
    assert "limit=2" in page["next"] and "offset=2" in page["next"] and rest["next"] is None
    assert [row["request_id"] for row in by_model["results"]] == ["req-carol-a"]
    assert "prompt_text" not in page["results"][0] and "SECRET PROMPT TEXT" not in str(page)


def test_provider_secret_is_write_only_and_kept_when_omitted(api, world):
    admin = api("admin")

    response = admin.call("PUT", f"/api/providers/{world.provider.pk}/", {"base_url": "https://b.example/v1"})

    provider = Provider.objects.get(pk=world.provider.pk)
    assert response.status_code == 200
    assert response.json()["has_api_key"] is True and "api_key" not in response.json()
    assert provider.base_url == "https://b.example/v1"
    assert provider_secret(provider) == "sk-provider-very-secret-0001"
    assert "sk-provider-very-secret-0001" not in provider.api_key_encrypted


@pytest.mark.parametrize(
    "headers",
    [
        {"x-org\u0000": "v"},  # NUL: neither HTTP nor PostgreSQL's JSON can carry it
        {"x-org": "v\u0000"},
        {"x-org": "v\r\nx-injected: 1"},  # a line break would add a header upstream
        {"x org": "v"},
        {"\ua40c": "v"},
        {"": "v"},
        {"x-org": "caf\u00e9"},
    ],
)
def test_provider_extra_headers_must_be_sendable(api, world, headers):
    admin = api("admin")

    created = admin.post(
        "/api/providers/", {"name": "vendor", "base_url": "https://v.example/v1", "extra_headers": headers}
    )
    changed = admin.call("PUT", f"/api/providers/{world.provider.pk}/", {"extra_headers": headers})

    assert (created.status_code, changed.status_code) == (400, 400)
    assert all(field.startswith("extra_headers") for field in created.json()["error"]["fields"])
    assert not Provider.objects.filter(name="vendor").exists()
    assert Provider.objects.get(pk=world.provider.pk).extra_headers == world.provider.extra_headers


def test_provider_extra_headers_of_every_token_character_are_kept(api, world):
    headers = {"x-Org_1.!#$%&'*+^`|~": "Bearer a-b c\td/e=f"}

    created = api("admin").post(
        "/api/providers/", {"name": "vendor", "base_url": "https://v.example/v1", "extra_headers": headers}
    )

    assert created.status_code == 201
    assert Provider.objects.get(name="vendor").extra_headers == headers


def test_policy_set_replaces_and_patch_changes_only_given_fields(api, world):
    admin = api("admin")

    set_response = admin.post(
        "/api/policies/", {"scope": "team", "team": world.team_a.pk, "usd_per_day": "5", "allowed_models": ["gpt-4o*"]}
    )
    patch_response = admin.call("PATCH", f"/api/policies/{world.policies['team_a'].pk}/", {"requests_per_minute": 60})
    bad = admin.call("PATCH", f"/api/policies/{world.policies['team_a'].pk}/", {"requests_per_minute": 0})

    policy = Policy.objects.get(pk=world.policies["team_a"].pk)
    assert set_response.json()["id"] == policy.pk and set_response.json()["tokens_per_day"] is None
    assert patch_response.json()["usd_per_day"] == "5.0000"
    assert (policy.tokens_per_day, policy.usd_per_day, policy.requests_per_minute, policy.allowed_models) == (
        None,
        Decimal("5.0000"),
        60,
        ["gpt-4o*"],
    )
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {
        "requests_per_minute": ["Ensure this value is greater than or equal to 1."]
    }


def test_flag_review_moves_the_state_and_keeps_the_comment(api, world):
    flag = world.flags["alice"]

    response = api("manager_a").post(f"/api/flags/{flag.pk}/review/", {"action": "dismiss", "comment": "on-call week"})

    assert response.status_code == 200
    assert response.json()["state"] == "dismissed"
    assert [(r["action"], r["comment"]) for r in response.json()["reviews"]] == [("dismiss", "on-call week")]
    assert Flag.objects.get(pk=flag.pk).state == "dismissed"
    assert FlagReview.objects.get(flag=flag).reviewer_id == world.people["maria"].pk


def test_admin_scripts_a_team_from_scratch(api, world):
    admin = api("admin")

    team = admin.post("/api/teams/", {"slug": "data-eng", "name": "Data Engineering"}).json()
    lead = admin.post("/api/memberships/", {"team": team["id"], "email": "Lea@Example.com", "role": "manager"}).json()
    policy = admin.post("/api/policies/", {"scope": "team", "team": team["id"], "tokens_per_month": 5_000_000})
    key = admin.post("/api/keys/", {"team": team["id"], "user": lead["user_id"], "name": "lea-laptop"})
    price = admin.post("/api/prices/", {"model": "claude-sonnet", "input_per_mtok": "3", "output_per_mtok": "15"})

    assert lead["email"] == "lea@example.com" and lead["role"] == "manager"
    assert Membership.objects.get(pk=lead["id"]).team.slug == "data-eng"
    assert (policy.status_code, key.status_code, price.status_code) == (200, 201, 201)
    assert admin.get(f"/api/keys/?team={team['id']}").json()["count"] == 1
    assert AuditLogEntry.objects.filter(actor=world.people["root"]).count() >= 5


def test_schema_documents_every_operation(db):
    from django.test import Client

    schema = Client().get("/api/schema/?format=json").json()

    operations = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert len(operations) == 56
    assert {
        ("GET", "/api/integrations/github/"),
        ("POST", "/api/integrations/github/"),
        ("GET", "/api/integrations/github/identities/"),
        ("POST", "/api/integrations/github/identities/"),
    } <= operations
    assert ("POST", "/api/outcomes/") in operations and ("POST", "/api/flags/{flag_id}/review/") in operations
    assert schema["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "twa-...",
    }
