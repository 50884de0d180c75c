"""Who may open which page: managers only their teams, employees only themselves, admins everything,
anonymous visitors are sent to sign in."""

import pytest

from governance.models import Membership, ModelRoute, Provider
from tests.governance.views.helpers import flag_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(team, other_team, employee, manager, outsider, admin):
    """Two teams; the manager manages ``platform`` only; a flag in each team."""
    return {
        "own_flag": flag_add(user=employee, team=team),
        "other_flag": flag_add(user=outsider, team=other_team),
        "membership": Membership.objects.get(user=employee, team=team),
        "route": ModelRoute.objects.create(
            pattern="gpt-*", provider=Provider.objects.create(name="p1", base_url="http://127.0.0.1:9/v1")
        ),
    }


MANAGER_PAGES = ["/teams/platform/", "/teams/platform/report.csv", "/teams/platform/flags/", "/flags/{own_flag}/"]
OTHER_TEAM_PAGES = [
    "/teams/research/",
    "/teams/research/report.csv",
    "/teams/research/flags/",
    "/flags/{other_flag}/",
    "/teams/switch/?team=research",
]
ADMIN_PAGES = [
    "/manage/",
    "/manage/teams/",
    "/manage/teams/platform/",
    "/manage/policies/",
    "/manage/providers/",
    "/manage/prices/",
    "/manage/audit/",
]
EMPLOYEE_PAGES = ["/me/"]


def _url(template: str, org) -> str:
    return template.format(own_flag=org["own_flag"].pk, other_flag=org["other_flag"].pk)


@pytest.mark.parametrize("page", ["/", "/teams/", *MANAGER_PAGES, *ADMIN_PAGES, *EMPLOYEE_PAGES])
def test_anonymous_is_sent_to_sign_in(client, org, page):
    url = _url(page, org)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    ("method", "page"),
    [
        ("post", "/me/keys/"),
        ("post", "/me/keys/1/revoke/"),
        ("post", "/me/calls/req_x/rate/"),
        ("post", "/manage/memberships/{membership}/"),
        ("post", "/manage/routes/{route}/delete/"),
    ],
)
def test_anonymous_cannot_post(client, org, method, page):
    url = page.format(membership=org["membership"].pk, route=org["route"].pk)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Membership.objects.filter(pk=org["membership"].pk).exists()
    assert ModelRoute.objects.filter(pk=org["route"].pk).exists()


@pytest.mark.parametrize("page", MANAGER_PAGES + EMPLOYEE_PAGES)
def test_manager_opens_own_team_pages(client, org, manager, page):
    client.force_login(manager)

    response = client.get(_url(page, org))

    assert response.status_code == 200


@pytest.mark.parametrize("page", OTHER_TEAM_PAGES + ADMIN_PAGES)
def test_manager_gets_404_for_other_teams_and_admin_pages(client, org, manager, page):
    client.force_login(manager)

    response = client.get(_url(page, org))

    assert response.status_code == 404


@pytest.mark.parametrize("page", MANAGER_PAGES + OTHER_TEAM_PAGES + ADMIN_PAGES)
def test_employee_gets_404_for_team_and_admin_pages(client, org, employee, page):
    client.force_login(employee)

    response = client.get(_url(page, org))

    assert response.status_code == 404


def test_employee_has_no_team_report(client, org, employee):
    client.force_login(employee)

    response = client.get("/teams/")

    assert response.status_code == 403
    assert b"You do not manage any team" in response.content


def test_employee_opens_my_usage(client, org, employee):
    client.force_login(employee)

    response = client.get("/me/")

    assert response.status_code == 200


@pytest.mark.parametrize("page", MANAGER_PAGES + OTHER_TEAM_PAGES[:-1] + ADMIN_PAGES + EMPLOYEE_PAGES)
def test_admin_opens_every_page(client, org, admin, page):
    client.force_login(admin)

    response = client.get(_url(page, org))

    assert response.status_code == 200


def test_manager_cannot_change_memberships_or_routes(client, org, manager):
    client.force_login(manager)

    removed = client.post(f"/manage/memberships/{org['membership'].pk}/", {"remove": "1"})
    deleted = client.post(f"/manage/routes/{org['route'].pk}/delete/")

    assert removed.status_code == 404
    assert deleted.status_code == 404
    assert Membership.objects.filter(pk=org["membership"].pk).exists()
    assert ModelRoute.objects.filter(pk=org["route"].pk).exists()


def test_inactive_staff_is_not_an_admin(client, org, admin):
    admin.is_active = False
    admin.save()
    client.force_login(admin)

    response = client.get("/manage/")

    assert response.status_code == 302  # an inactive user is signed out by the auth middleware
