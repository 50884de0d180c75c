"""Admin pages: every write goes through its service (validated, audited); secrets stay write-only."""

from decimal import Decimal

import pytest

from governance.models import ApiKey, AuditLogEntry, Membership, ModelRoute, Price, Provider, Team
from governance.services.providers import provider_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in_admin(client, admin):
    client.force_login(admin)
    return admin


def test_creates_a_team(client, signed_in_admin):
    response = client.post("/manage/teams/", {"slug": "data-science", "name": "Data Science"})

    assert response.status_code == 302
    assert response["Location"] == "/manage/teams/data-science/"
    assert Team.objects.get(slug="data-science").name == "Data Science"
    assert AuditLogEntry.objects.filter(action="create", object_type="governance.Team", actor=signed_in_admin).exists()


def test_refuses_a_taken_team_slug(client, signed_in_admin, team):
    response = client.post("/manage/teams/", {"slug": "platform", "name": "Again"})

    assert response.status_code == 400
    assert Team.objects.filter(slug="platform").count() == 1


def test_adds_a_person_by_e_mail_as_manager(client, signed_in_admin, team):
    response = client.post("/manage/teams/platform/", {"email": "New.Person@example.com", "role": "manager"})

    membership = Membership.objects.get(team=team, user__email="new.person@example.com")
    assert response.status_code == 302
    assert membership.role == "manager"


def test_changes_a_role_and_removes_a_member_revoking_their_keys(client, signed_in_admin, team, employee, employee_key):
    membership = Membership.objects.get(user=employee, team=team)

    client.post(f"/manage/memberships/{membership.pk}/", {"role": "manager"})
    role = Membership.objects.get(pk=membership.pk).role
    client.post(f"/manage/memberships/{membership.pk}/", {"remove": "1"})

    assert role == "manager"
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert ApiKey.objects.get(pk=employee_key[0].pk).revoked_at is not None


def test_provider_form_refuses_headers_that_cannot_be_sent(client, signed_in_admin):
    page = client.post(
        "/manage/providers/",
        {
            "form": "provider",
            "provider-name": "azure",
            "provider-base_url": "https://llm.example/v1",
            "provider-extra_headers": '{"x-org": "a\\r\\nx-injected: 1"}',
            "provider-is_active": "on",
        },
    )

    assert page.status_code == 400
    assert b"must be printable ASCII text" in page.content
    assert not Provider.objects.filter(name="azure").exists()


def test_provider_secret_is_write_only(client, signed_in_admin):
    client.post(
        "/manage/providers/",
        {
            "form": "provider",
            "provider-name": "azure",
            "provider-base_url": "https://llm.example/v1",
            "provider-api_key": "sk-very-secret",
            "provider-is_active": "on",
        },
    )
    client.post(
        "/manage/providers/",
        {  # an update with the key left empty keeps it
            "form": "provider",
            "provider-name": "azure",
            "provider-base_url": "https://llm2.example/v1",
            "provider-api_key": "",
            "provider-is_active": "on",
        },
    )

    page = client.get("/manage/providers/")
    provider = Provider.objects.get(name="azure")
    assert provider.base_url == "https://llm2.example/v1"
    assert provider_secret(provider) == "sk-very-secret"
    assert b"sk-very-secret" not in page.content
    assert provider.api_key_encrypted.encode() not in page.content
    assert b"set (hidden)" in page.content
    assert b"sk-very-secret" not in b"".join(
        str(entry.after).encode() for entry in AuditLogEntry.objects.filter(object_type="governance.Provider")
    )


def test_adds_and_deletes_a_route(client, signed_in_admin):
    provider = Provider.objects.create(name="p1", base_url="https://llm.example/v1")

    client.post(
        "/manage/providers/",
        {
            "form": "route",
            "route-pattern": "gpt-4o*",
            "route-provider": provider.pk,
            "route-priority": "10",
            "route-upstream_model": "",
        },
    )
    route = ModelRoute.objects.get(pattern="gpt-4o*")
    client.post(f"/manage/routes/{route.pk}/delete/")

    assert (route.provider, route.priority) == (provider, 10)
    assert not ModelRoute.objects.filter(pk=route.pk).exists()


def test_sets_a_price_as_a_new_version(client, signed_in_admin):
    before = Price.objects.filter(model="gpt-4o").count()

    response = client.post(
        "/manage/prices/",
        {"model": "gpt-4o", "input_per_mtok": "2.00", "cached_input_per_mtok": "", "output_per_mtok": "8.00"},
    )

    latest = Price.objects.filter(model="gpt-4o").order_by("-valid_from").first()
    assert response.status_code == 302
    assert Price.objects.filter(model="gpt-4o").count() == before + 1
    assert (latest.input_per_mtok, latest.cached_input_per_mtok, latest.output_per_mtok) == (
        Decimal("2.000000"),
        None,
        Decimal("8.000000"),
    )


def test_refuses_a_negative_price(client, signed_in_admin):
    response = client.post("/manage/prices/", {"model": "m", "input_per_mtok": "-1", "output_per_mtok": "1"})

    assert response.status_code == 400
    assert not Price.objects.filter(model="m").exists()


def test_audit_log_filters_by_action(client, signed_in_admin, team, employee_key):
    response = client.get("/manage/audit/?action=create&object_type=governance.ApiKey")

    entries = list(response.context["page"])
    assert [entry.object_type for entry in entries] == ["governance.ApiKey"]


def test_overview_lists_every_team(client, signed_in_admin, team, other_team):
    response = client.get("/manage/")

    assert [item.team_slug for item in response.context["summary"].teams] == ["platform", "research"]


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/usage/usageevent/", "/admin/usage/dailyrollup/", "/admin/usage/outcomekind/"]
)
def test_django_admin_stays_available(client, signed_in_admin, path):
    response = client.get(path)

    assert response.status_code == 200


def test_django_admin_is_for_staff_only(client, manager):
    client.force_login(manager)

    response = client.get("/admin/usage/usageevent/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    "model", ["team", "membership", "apikey", "provider", "modelroute", "price", "auditlogentry", "flag"]
)
def test_django_admin_lists_governance_models(client, signed_in_admin, employee_key, model):
    response = client.get(f"/admin/governance/{model}/")

    assert response.status_code == 200
