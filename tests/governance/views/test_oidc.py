"""Single sign-on backend: people are matched and created by e-mail."""

import pytest

from governance.models import AuditLogEntry
from governance.oidc import TokenwiseOIDCBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def backend(settings):
    settings.OIDC_RP_CLIENT_ID = "tokenwise"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example/jwks"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    return TokenwiseOIDCBackend()


def test_matches_an_existing_person_by_e_mail_whatever_the_case(backend, employee):
    found = backend.filter_users_by_claims({"email": "ALICE@example.com"})

    assert list(found) == [employee]


def test_claims_without_e_mail_match_nobody(backend, employee):
    assert list(backend.filter_users_by_claims({"sub": "123"})) == []


def test_creates_a_new_person_named_by_e_mail(backend, db):
    user = backend.create_user({"email": "New.Hire@example.com", "given_name": "New", "family_name": "Hire"})

    assert (user.username, user.email, user.get_full_name()) == (
        "new.hire@example.com",
        "new.hire@example.com",
        "New Hire",
    )
    assert user.has_usable_password() is False
    assert AuditLogEntry.objects.filter(actor_label="oidc", action="create").count() == 1
