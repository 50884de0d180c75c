"""Access rules every interface inherits: nobody reviews their own flag (page, API, service token), and a
service token stops working with its creator's authority."""

from __future__ import annotations

import pytest
from django.test import Client

from governance.models import FlagReview, Membership
from governance.services.api_tokens import api_token_create
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db

ALL_SERVICE_SCOPES = ["read_reports", "manage_team", "post_outcomes"]


def _service_token_of(world, person: str) -> Api:
    _, secret = api_token_create(
        user=world.people[person], name=f"{person}-ci", scopes=ALL_SERVICE_SCOPES, team=world.team_a
    )
    return Api(secret)


def test_a_manager_cannot_review_their_own_flag_through_their_service_token(world):
    token = _service_token_of(world, "maria")
    flag = world.flags["maria"]

    response = token.post(f"/api/flags/{flag.pk}/review/", {"action": "dismiss", "comment": "fine"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "self_review"
    assert FlagReview.objects.filter(flag=flag).count() == 0
    flag.refresh_from_db()
    assert flag.state == "open"


def test_a_manager_cannot_review_their_own_flag_through_the_api(api, world):
    flag = world.flags["maria"]

    response = api("manager_a").post(f"/api/flags/{flag.pk}/review/", {"action": "dismiss", "comment": "fine"})

    assert response.status_code == 403
    assert FlagReview.objects.filter(flag=flag).count() == 0


def test_a_manager_cannot_review_their_own_flag_on_the_page(world):
    client = Client()
    client.force_login(world.people["maria"])
    flag = world.flags["maria"]

    response = client.post(f"/flags/{flag.pk}/", {"action": "dismiss", "comment": "fine"})

    assert response.status_code == 403
    assert b"Nobody reviews a flag raised about themselves" in response.content
    assert FlagReview.objects.filter(flag=flag).count() == 0
    flag.refresh_from_db()
    assert flag.state == "open"


def test_a_manager_still_reviews_a_colleagues_flag_on_the_page(world):
    client = Client()
    client.force_login(world.people["maria"])
    flag = world.flags["alice"]

    response = client.post(f"/flags/{flag.pk}/", {"action": "dismiss", "comment": "fine"})

    assert response.status_code == 302
    assert list(FlagReview.objects.filter(flag=flag).values_list("action", "reviewer_id")) == [
        ("dismiss", world.people["maria"].pk)
    ]


def _demote(world):
    Membership.objects.filter(user=world.people["maria"], team=world.team_a).update(role=Membership.Role.MEMBER)


def _remove(world):
    Membership.objects.filter(user=world.people["maria"], team=world.team_a).delete()


def _deactivate(world):
    world.people["maria"].is_active = False
    world.people["maria"].save()


@pytest.mark.parametrize("change", [_demote, _remove, _deactivate], ids=["demoted", "removed", "deactivated"])
def test_a_service_token_stops_when_its_creator_loses_the_team(world, change):
    token = _service_token_of(world, "maria")
    flag = world.flags["alice"]
    assert token.get(f"/api/reports/teams/{world.team_a.pk}/?start=2026-03-01&end=2026-03-31").status_code == 200

    change(world)
    read = token.get(f"/api/reports/teams/{world.team_a.pk}/?start=2026-03-01&end=2026-03-31")
    review = token.post(f"/api/flags/{flag.pk}/review/", {"action": "dismiss", "comment": "fine"})
    outcome = token.post(
        "/api/outcomes/", {"external_id": "late-1", "kind": "pr_merged", "user": world.people["alice"].pk}
    )

    assert (read.status_code, review.status_code, outcome.status_code) == (401, 401, 401)
    assert FlagReview.objects.filter(flag=flag).count() == 0
    assert not world.outcomes["a"].__class__.objects.filter(external_id="late-1").exists()


def test_a_service_token_works_again_once_its_creator_manages_the_team_again(world):
    token = _service_token_of(world, "maria")
    _demote(world)
    assert token.get(f"/api/teams/{world.team_a.pk}/").status_code == 401

    Membership.objects.filter(user=world.people["maria"], team=world.team_a).update(role=Membership.Role.MANAGER)

    assert token.get(f"/api/teams/{world.team_a.pk}/").status_code == 200


def test_an_admins_service_token_keeps_working_without_a_membership(api, world):
    response = api("service").post(
        "/api/outcomes/", {"external_id": "ci-1", "kind": "pr_merged", "user": world.people["alice"].pk}
    )

    assert response.status_code == 201
