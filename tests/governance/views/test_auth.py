"""Sign-in, throttling, sign-out and the landing redirect."""

import pytest
from django.contrib.auth import SESSION_KEY

from tests.governance.views.helpers import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def test_signs_in_with_email_case_insensitively(client, employee):
    response = client.post(LOGIN, {"username": "Alice@Example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(employee.pk)


def test_signs_in_with_username(client, employee):
    employee.username = "alice"
    employee.save()

    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(employee.pk)


def test_wrong_password_shows_the_form_again(client, employee):
    response = client.post(LOGIN, {"username": "alice@example.com", "password": "nope"})

    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert b"Please enter a correct" in response.content


def test_locks_out_after_five_failures_even_with_the_right_password(client, employee, settings):
    settings.TOKENWISE_LOGIN_MAX_FAILURES = 5
    for _ in range(4):
        assert client.post(LOGIN, {"username": "alice@example.com", "password": "nope"}).status_code == 200

    fifth = client.post(LOGIN, {"username": "alice@example.com", "password": "nope"})
    sixth = client.post(LOGIN, {"username": "alice@example.com", "password": PASSWORD})

    assert fifth.status_code == 429
    assert sixth.status_code == 429
    assert sixth["Retry-After"] == "900"
    assert b"Too many failed attempts" in sixth.content
    assert SESSION_KEY not in client.session


def test_lockout_is_per_address(client, employee):
    for _ in range(5):
        client.post(LOGIN, {"username": "alice@example.com", "password": "nope"})

    elsewhere = client.post(LOGIN, {"username": "alice@example.com", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")

    assert elsewhere.status_code == 302
    assert client.session[SESSION_KEY] == str(employee.pk)


def test_success_clears_the_failure_count(client, employee):
    for _ in range(4):
        client.post(LOGIN, {"username": "alice@example.com", "password": "nope"})
    client.post(LOGIN, {"username": "alice@example.com", "password": PASSWORD})
    client.logout()

    for _ in range(4):
        response = client.post(LOGIN, {"username": "alice@example.com", "password": "nope"})

    assert response.status_code == 200


def test_sign_out_needs_post(client, employee):
    client.force_login(employee)

    refused = client.get("/accounts/logout/")
    signed_out = client.post("/accounts/logout/")

    assert refused.status_code == 405
    assert signed_out.status_code == 302
    assert signed_out["Location"] == "/accounts/login/"
    assert SESSION_KEY not in client.session


def test_anonymous_home_goes_to_sign_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


@pytest.mark.parametrize(
    ("persona", "target"),
    [
        ("admin", "/manage/"),
        ("manager", "/teams/"),
        ("employee", "/me/"),
    ],
)
def test_home_sends_each_role_to_their_page(client, request, persona, target):
    client.force_login(request.getfixturevalue(persona))

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == target


def test_sign_in_page_offers_no_single_sign_on_unless_configured(client):
    response = client.get(LOGIN)

    assert response.status_code == 200
    assert b"single sign-on" not in response.content


@pytest.mark.parametrize("look_alike", ["a2@\u017fec.test", "A2@SEC.TEST", "\uff41\uff12@sec.test", " a2@sec.test "])
def test_lockout_covers_look_alikes_of_the_username(client, look_alike, settings):
    from django.contrib.auth import get_user_model

    settings.TOKENWISE_LOGIN_MAX_FAILURES = 5
    get_user_model().objects.create_user(username="a2", email="a2@sec.test", password=PASSWORD)
    for _ in range(5):
        client.post(LOGIN, {"username": "a2@sec.test", "password": "nope"})

    response = client.post(LOGIN, {"username": look_alike, "password": PASSWORD})

    assert response.status_code == 429
    assert SESSION_KEY not in client.session


def test_login_identity_is_case_folded_nfkc():
    from governance.services.login_throttle import login_identity

    assert login_identity("a2@\u017fec.test") == "a2@sec.test"
    assert login_identity("\uff21\uff12@SEC.test") == "a2@sec.test"
    assert login_identity("Stra\u00dfe@x.test") == "strasse@x.test"
