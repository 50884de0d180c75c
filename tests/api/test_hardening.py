"""Production hardening: ``check --deploy`` is clean, production refuses to start without a secret key,
security headers are sent, /api/ bodies are bounded and every /api/ error has the same JSON body."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.api.conftest import Api

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if name not in ("SECRET_KEY", "DEBUG")}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_deploy_check_is_clean_in_production():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        TOKENWISE_PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(64),
        DEBUG="1",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", TOKENWISE_PRODUCTION="1")

    assert result.returncode != 0
    assert "SECRET_KEY must be set when TOKENWISE_PRODUCTION is on" in result.stderr


def test_production_settings_are_secure():
    code = (
        "from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_HTTPONLY, s.X_FRAME_OPTIONS)"
    )
    result = _manage(
        "shell", "--no-imports", "-c", code, TOKENWISE_PRODUCTION="1", SECRET_KEY=secrets.token_urlsafe(64), DEBUG="1"
    )

    assert result.stdout.strip().splitlines()[-1].split() == [
        "False",
        "True",
        "True",
        "True",
        "31536000",
        "True",
        "DENY",
    ]


def test_pages_and_api_carry_a_content_security_policy(world):
    response = Api(world.secrets["employee"]).get("/api/me/")

    assert response["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self';")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_api_docs_load_their_assets_from_this_server(db):
    page = Client().get("/api/docs/")

    assert page.status_code == 200
    assert b"cdn." not in page.content and b"/static/drf_spectacular_sidecar/" in page.content
    assert b"<script>" not in page.content  # the init script is a separate file: CSP needs no inline script


def test_oversized_api_body_is_refused_before_parsing(world, settings):
    settings.TOKENWISE_API_MAX_BODY_BYTES = 1000
    body = {"external_id": "x" * 2000, "kind": "pr_merged", "team": world.team_a.pk}

    response = Api(world.secrets["manager_a"]).post("/api/outcomes/", body)

    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "status": 413,
            "code": "request_too_large",
            "fields": None,
            "message": "The request body is larger than the 1000-byte limit.",
        }
    }


@pytest.mark.parametrize("path", ["/api/outcomes/", "/api/teams/", "/api/policies/", "/api/value-sources/"])
@pytest.mark.parametrize("depth", [129, 5000])
def test_deeply_nested_api_body_is_refused_with_400(world, path, depth):
    """Python's JSON parser recurses per level (RecursionError near 1,000: a 500); the API refuses first."""
    client = Api(world.secrets["admin"]).client
    body = "[" * depth + "]" * depth

    response = client.post(
        path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {world.secrets['admin']}"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "nests deeper than 128 levels" in response.json()["error"]["message"]


def test_api_body_at_the_depth_limit_is_parsed(world):
    body = '{"external_id": "deep-1", "kind": "pr_merged", "x": ' + "[" * 126 + "]" * 126 + "}"

    response = Api(world.secrets["admin"]).client.post(
        "/api/outcomes/",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.secrets['admin']}",
    )

    assert response.status_code != 500 and "nests deeper" not in response.content.decode()


@pytest.mark.parametrize(
    "method, path, body, status, code",
    [
        ("GET", "/api/nowhere/", None, 404, "not_found"),
        ("GET", "/api/teams/not-a-number/", None, 404, "not_found"),
        ("GET", "/api/teams/987654/", None, 404, "not_found"),
        ("DELETE", "/api/teams/", None, 405, "method_not_allowed"),
        ("POST", "/api/teams/", {"slug": "bad slug!"}, 400, "invalid"),
        ("GET", "/api/usage/events/?start=2026-03-10&end=2026-03-01", None, 400, "invalid"),
    ],
)
def test_every_error_has_the_same_body(world, method, path, body, status, code):
    response = Api(world.secrets["admin"]).call(method, path, body)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert set(response.json()["error"]) == {"status", "code", "message", "fields"}
    assert (response.json()["error"]["status"], response.json()["error"]["code"]) == (status, code)


def test_validation_errors_name_the_fields(world):
    response = Api(world.secrets["admin"]).post("/api/prices/", {"model": "m", "input_per_mtok": "-1"})

    assert response.json()["error"]["fields"] == {
        "input_per_mtok": ["Ensure this value is greater than or equal to 0."],
        "output_per_mtok": ["This field is required."],
    }


def test_unsupported_media_type_is_an_api_error(world):
    response = Client().post(
        "/api/teams/",
        data="slug=x",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {world.secrets['admin']}",
    )

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
