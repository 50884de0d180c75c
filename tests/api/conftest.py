"""A small organisation for the API tests: two teams, six callers, and data in both teams.

Team A (``platform``): alice (employee), bob (employee), carol (employee in A *and* B), maria (manager).
Team B (``research``): oscar (employee), carol, bruno (manager). root is the admin. The service token
belongs to team A and holds only ``post_outcomes``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client

from governance.models import Flag, Membership, Policy
from governance.services.api_tokens import api_token_create
from governance.services.keys import key_create
from governance.services.providers import provider_upsert, route_upsert
from tests.factories import UserFactory
from usage.models import DailyRollup, Feedback, Outcome, UsageEvent

PERSON_SCOPES = ["read_reports", "manage_team", "post_outcomes"]
PROVIDER_SECRET = "sk-provider-very-secret-0001"
DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@dataclasses.dataclass
class World:
    team_a: object
    team_b: object
    people: dict  # name -> user
    memberships: dict  # (name, team letter) -> Membership
    keys: dict  # owner name -> ApiKey (alice, bob, carol_a, carol_b, oscar)
    key_secrets: dict
    tokens: dict  # persona -> ApiToken
    secrets: dict  # persona -> "twa-..."
    events: dict  # label -> UsageEvent
    outcomes: dict
    feedback: dict
    flags: dict
    policies: dict
    provider: object
    route: object


def _event(label: str, *, user, team, key, model: str, tokens: int, cost: str, day: datetime) -> UsageEvent:
    return UsageEvent.objects.create(
        request_id=f"req-{label}",
        created_at=day,
        key=key,
        user=user,
        team=team,
        endpoint="chat.completions",
        model_requested=model,
        model_served=model,
        provider="openai",
        status=200,
        prompt_tokens=tokens // 2,
        completion_tokens=tokens - tokens // 2,
        total_tokens=tokens,
        cost_usd=Decimal(cost),
        latency_ms=100,
        prompt_text="SECRET PROMPT TEXT",
        output_text="SECRET OUTPUT TEXT",
    )


def _rollup(event: UsageEvent) -> None:
    DailyRollup.objects.create(
        day=event.created_at.date(),
        user_id=event.user_id,
        team_id=event.team_id,
        model=event.model_served,
        requests=1,
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        total_tokens=event.total_tokens,
        cost_usd=event.cost_usd,
    )


@pytest.fixture(autouse=True)
def _clean_cache(db):
    cache.clear()  # failed-auth counters live in the cache (this test run's own Redis db)
    yield
    cache.clear()


@pytest.fixture
def world(team, other_team, employee, manager, admin, outsider) -> World:
    team_a, team_b = team, other_team
    bob = UserFactory(email="bob@example.com")
    carol = UserFactory(email="carol@example.com")
    bruno = UserFactory(email="bruno@example.com")
    people = {
        "alice": employee,
        "bob": bob,
        "carol": carol,
        "maria": manager,
        "oscar": outsider,
        "bruno": bruno,
        "root": admin,
    }
    Membership.objects.create(user=bob, team=team_a)
    Membership.objects.create(user=carol, team=team_a)
    Membership.objects.create(user=carol, team=team_b)
    Membership.objects.create(user=bruno, team=team_b, role=Membership.Role.MANAGER)
    memberships = {
        (m.user.email.split("@")[0], "a" if m.team_id == team_a.pk else "b"): m
        for m in Membership.objects.select_related("user")
    }

    keys, key_secrets = {}, {}
    for label, user, key_team in [
        ("alice", employee, team_a),
        ("bob", bob, team_a),
        ("carol_a", carol, team_a),
        ("carol_b", carol, team_b),
        ("oscar", outsider, team_b),
    ]:
        keys[label], key_secrets[label] = key_create(user=user, team=key_team, name=label)

    tokens, secrets = {}, {}
    for persona, user in [("employee", employee), ("manager_a", manager), ("manager_b", bruno)]:
        tokens[persona], secrets[persona] = api_token_create(user=user, name=persona, scopes=PERSON_SCOPES)
    tokens["admin"], secrets["admin"] = api_token_create(user=admin, name="admin", scopes=["admin"])
    tokens["service"], secrets["service"] = api_token_create(
        user=admin, name="ci", scopes=["post_outcomes"], team=team_a
    )

    events = {
        "alice_a": _event(
            "alice-a", user=employee, team=team_a, key=keys["alice"], model="gpt-4o", tokens=1000, cost="0.01", day=DAY
        ),
        "bob_a": _event(
            "bob-a", user=bob, team=team_a, key=keys["bob"], model="gpt-4o-mini", tokens=300, cost="0.001", day=DAY
        ),
        "carol_a": _event(
            "carol-a",
            user=carol,
            team=team_a,
            key=keys["carol_a"],
            model="gpt-4o",
            tokens=50,
            cost="0.0005",
            day=DAY + timedelta(days=1),
        ),
        "carol_b": _event(
            "carol-b", user=carol, team=team_b, key=keys["carol_b"], model="o3", tokens=7000, cost="0.2", day=DAY
        ),
        "oscar_b": _event(
            "oscar-b", user=outsider, team=team_b, key=keys["oscar"], model="o3", tokens=2000, cost="0.05", day=DAY
        ),
    }
    for event in events.values():
        _rollup(event)

    outcomes = {
        "a": Outcome.objects.create(
            external_id="ticket-a",
            kind="ticket_resolved",
            user=employee,
            team=team_a,
            occurred_at=DAY,
            value=Decimal("2"),
        ),
        "b": Outcome.objects.create(
            external_id="ticket-b",
            kind="ticket_resolved",
            user=outsider,
            team=team_b,
            occurred_at=DAY,
            value=Decimal("1"),
        ),
    }
    feedback = {
        "alice": Feedback.objects.create(request_id="req-alice-a", user=employee, team=team_a, score=1, scale="binary"),
        "oscar": Feedback.objects.create(
            request_id="req-oscar-b", user=outsider, team=team_b, score=-1, scale="binary"
        ),
    }
    flags = {
        "alice": Flag.objects.create(
            user=employee,
            team=team_a,
            detector="repetition",
            score=0.9,
            period_start=DAY,
            period_end=DAY + timedelta(days=7),
            evidence={"summary": "92% near-identical prompts"},
        ),
        "maria": Flag.objects.create(
            user=manager,
            team=team_a,
            detector="padding",
            score=0.7,
            period_start=DAY,
            period_end=DAY + timedelta(days=7),
            evidence={},
        ),
        "carol_b": Flag.objects.create(
            user=carol,
            team=team_b,
            detector="mechanical_cadence",
            score=0.8,
            period_start=DAY,
            period_end=DAY + timedelta(days=7),
            evidence={},
        ),
        "oscar": Flag.objects.create(
            user=outsider,
            team=team_b,
            detector="padding",
            score=0.6,
            period_start=DAY,
            period_end=DAY + timedelta(days=7),
            evidence={},
        ),
    }
    policies = {
        "org": Policy.objects.create(scope=Policy.Scope.ORG, tokens_per_day=100_000),
        "team_a": Policy.objects.create(scope=Policy.Scope.TEAM, team=team_a, tokens_per_day=50_000),
        "team_b": Policy.objects.create(scope=Policy.Scope.TEAM, team=team_b, tokens_per_day=40_000),
        "alice": Policy.objects.create(scope=Policy.Scope.USER, team=team_a, user=employee, tokens_per_day=9_000),
        "oscar": Policy.objects.create(scope=Policy.Scope.USER, team=team_b, user=outsider, tokens_per_day=8_000),
    }
    provider = provider_upsert(
        name="anthropic",
        base_url="https://api.anthropic.example/v1",
        api_key=PROVIDER_SECRET,
        extra_headers={"x-api-key": "hdr-secret-value"},
    )
    route = route_upsert(pattern="claude-*", provider=provider)
    return World(
        team_a=team_a,
        team_b=team_b,
        people=people,
        memberships=memberships,
        keys=keys,
        key_secrets=key_secrets,
        tokens=tokens,
        secrets=secrets,
        events=events,
        outcomes=outcomes,
        feedback=feedback,
        flags=flags,
        policies=policies,
        provider=provider,
        route=route,
    )


class Api:
    """The Django test client speaking JSON to /api/ as one persona (None: anonymous)."""

    def __init__(self, secret: str | None):
        self.client = Client(raise_request_exception=False)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}

    def call(self, method: str, path: str, body: dict | None = None):
        kwargs = dict(self.headers)
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        return getattr(self.client, method.lower())(path, **kwargs)

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body: dict | None = None):
        return self.call("POST", path, body if body is not None else {})


@pytest.fixture
def api(world):
    """``api("manager_a")`` -> a client authenticated with that persona's token; ``api(None)`` anonymous."""
    return lambda persona: Api(world.secrets[persona] if persona else None)
