"""Outcomes record their provenance; nobody self-inflates value; value metrics count trusted sources only."""

from __future__ import annotations

from datetime import date

import pytest

from governance.selectors.value import value_tallies_for
from governance.services.api_tokens import api_token_create
from governance.services.value_sources import value_source_trust_set
from tests.api.conftest import DAY, Api
from usage.models import Outcome

pytestmark = pytest.mark.django_db


def _alice_value(world) -> float:
    tallies = value_tallies_for(start=date(2026, 3, 1), end=date(2026, 3, 31), team_id=world.team_a.pk)
    return tallies.by_user[world.people["alice"].pk].outcomes


def test_a_manager_cannot_report_outcomes_about_themselves(api, world):
    maria = world.people["maria"].pk

    response = api("manager_a").post(
        "/api/outcomes/",
        {"external_id": "self-1", "kind": "pr_merged", "team": world.team_a.pk, "user": maria, "value": "1000"},
    )

    assert response.status_code == 403
    assert not Outcome.objects.filter(external_id="self-1").exists()


def test_a_service_token_outcome_about_its_creator_is_recorded_but_not_counted(world):
    _, secret = api_token_create(user=world.people["maria"], name="ci", scopes=["post_outcomes"], team=world.team_a)
    maria = world.people["maria"].pk

    response = Api(secret).post(
        "/api/outcomes/",
        {"external_id": "self-2", "kind": "pr_merged", "user": maria, "value": "1000", "occurred_at": DAY.isoformat()},
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["source_kind"], body["reported_by_id"]) == ("service_token", maria)
    tallies = value_tallies_for(start=date(2026, 3, 1), end=date(2026, 3, 31), team_id=world.team_a.pk)
    assert maria not in tallies.by_user


def test_provenance_is_recorded_and_an_admin_can_distrust_a_source(api, world):
    alice = world.people["alice"].pk
    response = api("manager_a").post(
        "/api/outcomes/",
        {
            "external_id": "m-1",
            "kind": "pr_merged",
            "team": world.team_a.pk,
            "user": alice,
            "value": "3",
            "occurred_at": DAY.isoformat(),
        },
    )
    assert response.json()["source_kind"] == "person"
    assert _alice_value(world) == 5.0  # 2 (legacy fixture outcome) + 3

    changed = api("admin").post("/api/value-sources/", {"source_kind": "person", "is_trusted": False})

    assert changed.status_code == 200
    assert changed.json() == {
        "source_kind": "person",
        "integration": "",
        "is_trusted": False,
        "counts_self_reports": False,
        "is_default": False,
    }
    assert _alice_value(world) == 2.0


def test_per_integration_trust_overrides_the_kind(world):
    from usage.value import outcome_record

    for name in ("github", "otlp"):
        outcome_record(
            external_id=f"i-{name}",
            kind="pr_merged",
            occurred_at=DAY,
            source_kind="integration",
            integration=name,
            user=world.people["alice"],
            team=world.team_a,
            value=10,
        )

    value_source_trust_set(source_kind="integration", integration="otlp", is_trusted=False)

    assert _alice_value(world) == 12.0
