"""API credentials: tokens (hashed, scoped, expiring, revocable), the session with CSRF, and the wall
between proxy keys (``tw-``, /v1/ only) and API tokens (``twa-``, /api/ only)."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from governance.exceptions import GovernanceError
from governance.models import ApiKey, ApiToken, AuditLogEntry
from governance.services.api_tokens import api_token_create, api_token_revoke
from tests.api.conftest import Api


def test_token_is_stored_only_as_its_hash(world):
    token, secret = api_token_create(user=world.people["alice"], name="laptop", scopes=["read_reports"])

    stored = ApiToken.objects.filter(pk=token.pk).values().get()

    assert secret.startswith("twa-") and len(secret) > 40
    assert stored["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored) and stored["prefix"] == secret[:10]
    assert (
        AuditLogEntry.objects.filter(object_type="governance.ApiToken", object_id=str(token.pk))
        .get()
        .after["token_hash"]
        == "***"
    )


def test_token_authenticates_as_its_person_with_its_scopes(api, world):
    body = api("employee").get("/api/me/").json()

    assert body == {
        "user_id": world.people["alice"].pk,
        "email": "alice@example.com",
        "is_admin": False,
        "scopes": ["manage_team", "post_outcomes", "read_reports"],
        "service_team_id": None,
        "teams": [{"team_id": world.team_a.pk, "team_slug": "platform", "role": "member"}],
    }


def test_revoked_token_is_refused_at_once(world):
    api_token_revoke(token=world.tokens["employee"])

    response = Api(world.secrets["employee"]).get("/api/me/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_revoked"


def test_expired_token_is_refused(world):
    ApiToken.objects.filter(pk=world.tokens["employee"].pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = Api(world.secrets["employee"]).get("/api/me/")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "api_key_expired")


def test_token_of_inactive_person_is_refused(world):
    world.people["alice"].is_active = False
    world.people["alice"].save(update_fields=["is_active"])

    response = Api(world.secrets["employee"]).get("/api/me/")

    assert response.status_code == 401


def test_missing_scope_is_forbidden(world):
    _, secret = api_token_create(user=world.people["maria"], name="reader", scopes=["read_reports"])

    response = Api(secret).post(f"/api/keys/{world.keys['bob'].pk}/revoke/")

    assert response.status_code == 403
    assert ApiKey.objects.get(pk=world.keys["bob"].pk).revoked_at is None


def test_staff_token_without_admin_scope_is_not_admin(world):
    _, secret = api_token_create(user=world.people["root"], name="narrow", scopes=["read_reports"])

    response = Api(secret).get("/api/providers/")

    assert response.status_code == 403


def test_admin_scope_needs_a_staff_person(world):
    with pytest.raises(GovernanceError, match="Only a staff person's personal token"):
        api_token_create(user=world.people["alice"], name="x", scopes=["admin"])

    assert ApiToken.objects.filter(user=world.people["alice"]).count() == 1


def test_proxy_key_is_refused_on_the_api(world):
    response = Api(world.key_secrets["alice"]).get("/api/me/")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == (
        "Proxy keys (tw-...) only work on /v1/. Use an API token (twa-...) here."
    )


def test_api_token_is_refused_on_the_proxy(live_proxy, world):
    response = httpx.post(
        f"{live_proxy.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {world.secrets['admin']}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_anonymous_gets_401_with_the_bearer_challenge(world):
    response = Api(None).get("/api/keys/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {
        "error": {
            "status": 401,
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "fields": None,
        }
    }


def test_repeated_failures_from_one_address_are_throttled(world, settings):
    settings.TOKENWISE_API_AUTH_FAILURES_PER_MINUTE = 3
    bad = Api("twa-not-a-real-token")

    statuses = [bad.get("/api/me/").status_code for _ in range(4)]
    good_after = Api(world.secrets["employee"]).get("/api/me/")

    assert statuses == [401, 401, 401, 429]
    assert good_after.status_code == 429  # the address is blocked for the minute, whatever it sends
    assert good_after["Retry-After"] == "60"


def test_session_works_and_enforces_csrf(world):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.people["maria"])

    read = browser.get("/api/keys/")
    write = browser.post(f"/api/keys/{world.keys['bob'].pk}/revoke/", content_type="application/json")

    assert read.status_code == 200 and read.json()["count"] == 3
    assert write.status_code == 403
    assert "CSRF" in write.json()["error"]["message"]
    assert ApiKey.objects.get(pk=world.keys["bob"].pk).revoked_at is None


def test_session_cannot_be_used_with_a_token_of_someone_else(world):
    browser = Client(raise_request_exception=False)
    browser.force_login(world.people["alice"])

    response = browser.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {world.secrets['manager_b']}")

    assert response.json()["user_id"] == world.people["bruno"].pk  # the explicit credential wins


def test_a_token_cannot_mint_tokens_but_a_session_can(world):
    browser = Client()
    browser.force_login(world.people["alice"])

    by_token = Api(world.secrets["employee"]).post("/api/tokens/", {"name": "x", "scopes": ["read_reports"]})
    by_session = browser.post(
        "/api/tokens/", {"name": "cli", "scopes": ["read_reports"]}, content_type="application/json"
    )

    assert by_token.status_code == 403
    assert by_session.status_code == 201
    assert by_session.json()["secret"].startswith("twa-")
    assert Api(by_session.json()["secret"]).get("/api/me/").json()["scopes"] == ["read_reports"]


def test_secrets_appear_once_and_never_in_logs(api, world, caplog):
    caplog.set_level(logging.DEBUG)
    admin = api("admin")

    key = admin.post("/api/keys/", {"team": world.team_a.pk, "user": world.people["bob"].pk, "name": "ci"})
    token = admin.post("/api/tokens/", {"name": "ci", "scopes": ["read_reports"]})
    provider = admin.post(
        "/api/providers/",
        {
            "name": "vendor",
            "base_url": "https://v.example/v1",
            "api_key": "sk-vendor-secret-42",
            "extra_headers": {"x-k": "hv-9"},
        },
    )
    later = [
        admin.get(path).content
        for path in (
            "/api/keys/?limit=500",
            f"/api/keys/{key.json()['id']}/",
            "/api/tokens/?limit=500",
            "/api/providers/",
            f"/api/providers/{provider.json()['id']}/",
            "/api/audit/?limit=500",
        )
    ]
    created = [key.json()["secret"], token.json()["secret"]]

    assert [key.status_code, token.status_code, provider.status_code] == [201, 201, 201]
    assert provider.json()["has_api_key"] is True and provider.json()["extra_header_names"] == ["x-k"]
    for secret in created + ["sk-vendor-secret-42", "hv-9"]:
        assert all(secret.encode() not in body for body in later), secret
        assert secret not in caplog.text, secret
    assert "sk-vendor-secret-42" not in provider.content.decode()


def test_command_prints_a_working_token_once(world):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_token", "--user", "ROOT@example.com", "--scopes", "admin", "--days", "30", stdout=out)

    secret = out.getvalue().strip().splitlines()[-1]
    assert Api(secret).get("/api/providers/").status_code == 200
    token = ApiToken.objects.get(name="cli")
    assert (
        token.scopes == ["admin"]
        and token.expires_at is not None
        and secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    )


def test_command_refuses_the_admin_scope_for_a_non_staff_person(world):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Only a staff person's personal token can hold the admin scope."):
        call_command("create_api_token", "--user", "alice@example.com", "--scopes", "admin")


@pytest.mark.parametrize("days", ["0", "-3", "36501", "10000000"])
def test_command_refuses_an_expiry_out_of_range(world, days):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--days must be between 1 and 36500"):
        call_command("create_api_token", "--user", "ROOT@example.com", "--scopes", "admin", "--days", days)
