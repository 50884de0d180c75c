"""Isolation matrix: every /api/ endpoint x every role. Nobody reads or changes another team's or person's
data, whether by listing, by filtering, or by guessing ids; and a refused write changes nothing.

Roles: anonymous, employee (alice, team A), manager_a (maria), manager_b (bruno), admin (root), and a
service token of team A holding only ``post_outcomes``. See ``conftest.py`` for the organisation.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.urls import get_resolver

PERSONAS = ["anonymous", "employee", "manager_a", "manager_b", "admin", "service"]
PERSONS = ["employee", "manager_a", "manager_b", "admin"]


def _persona(name: str) -> str | None:
    return None if name == "anonymous" else name


# --- What each role may read ------------------------------------------------------------------------

ALL = "*"
VISIBLE = {
    # collection: {persona: labels it may read}; ALL: every object; missing persona: no read scope (403)
    "teams": {"employee": {"a"}, "manager_a": {"a"}, "manager_b": {"b"}, "admin": ALL},
    "memberships": {
        "employee": {("alice", "a")},
        "manager_a": {("alice", "a"), ("bob", "a"), ("carol", "a"), ("maria", "a")},
        "manager_b": {("oscar", "b"), ("carol", "b"), ("bruno", "b")},
        "admin": ALL,
    },
    "keys": {
        "employee": {"alice"},
        "manager_a": {"alice", "bob", "carol_a"},
        "manager_b": {"carol_b", "oscar"},
        "admin": ALL,
    },
    "tokens": {"employee": {"employee"}, "manager_a": {"manager_a"}, "manager_b": {"manager_b"}, "admin": ALL},
    "events": {
        "employee": {"alice_a"},
        "manager_a": {"alice_a", "bob_a", "carol_a"},
        "manager_b": {"carol_b", "oscar_b"},
        "admin": ALL,
    },
    "outcomes": {"employee": {"a"}, "manager_a": {"a"}, "manager_b": {"b"}, "admin": ALL},
    "feedback": {"employee": {"alice"}, "manager_a": {"alice"}, "manager_b": {"oscar"}, "admin": ALL},
    "flags": {"employee": {"alice"}, "manager_a": {"alice", "maria"}, "manager_b": {"carol_b", "oscar"}, "admin": ALL},
    "policies": {
        "employee": {"org", "team_a", "alice"},
        "manager_a": {"org", "team_a", "alice"},
        "manager_b": {"org", "team_b", "oscar"},
        "admin": ALL,
    },
}


def _objects(world, collection: str) -> dict:
    """label -> (id used in URLs, id in list results)."""
    if collection == "teams":
        return {"a": world.team_a.pk, "b": world.team_b.pk}
    if collection == "memberships":
        return {label: m.pk for label, m in world.memberships.items()}
    if collection == "events":
        return {label: event.request_id for label, event in world.events.items()}
    return {label: obj.pk for label, obj in getattr(world, collection).items()}


LIST_URLS = {
    "teams": "/api/teams/",
    "memberships": "/api/memberships/",
    "keys": "/api/keys/",
    "tokens": "/api/tokens/",
    "events": "/api/usage/events/",
    "outcomes": "/api/outcomes/",
    "feedback": "/api/feedback/",
    "flags": "/api/flags/",
    "policies": "/api/policies/",
}
DETAIL_URLS = {
    "teams": "/api/teams/{}/",
    "memberships": "/api/memberships/{}/",
    "keys": "/api/keys/{}/",
    "events": "/api/usage/events/{}/",
    "outcomes": "/api/outcomes/{}/",
    "flags": "/api/flags/{}/",
    "policies": "/api/policies/{}/",
}
LIST_ID_FIELD = {"events": "request_id"}
MISSING_IDS = {"events": "req-does-not-exist"}


def _expected_labels(world, collection: str, persona: str) -> set:
    visible = VISIBLE[collection].get(persona, set())
    return set(_objects(world, collection)) if visible == ALL else set(visible)


def _seen(world, collection: str, response) -> set:
    by_id = {object_id: label for label, object_id in _objects(world, collection).items()}
    field = LIST_ID_FIELD.get(collection, "id")
    return {by_id.get(row[field], ("unexpected", row[field])) for row in response.json()["results"]}


def _refused(persona: str) -> int:
    return 401 if persona == "anonymous" else 403


@pytest.mark.parametrize("persona", PERSONAS)
def test_lists_show_exactly_what_the_role_may_read(api, world, persona):
    client = api(_persona(persona))
    wrong = {}

    for collection, url in sorted(LIST_URLS.items()):
        response = client.get(url + "?limit=500")

        if persona == "anonymous" or persona not in VISIBLE[collection]:
            outcome, expected = response.status_code, _refused(persona)
        else:
            outcome, expected = (
                (response.status_code, _seen(world, collection, response)),
                (200, _expected_labels(world, collection, persona)),
            )
        if outcome != expected:
            wrong[collection] = (outcome, expected)

    assert wrong == {}


@pytest.mark.parametrize("persona", PERSONAS)
def test_filtering_by_another_team_or_person_reveals_nothing(api, world, persona):
    client = api(_persona(persona))
    queries = [f"team={world.team_a.pk}", f"team={world.team_b.pk}"] + [
        f"user={user.pk}" for user in world.people.values()
    ]
    leaks = {}

    for collection in ["memberships", "keys", "events", "outcomes", "feedback", "flags", "policies"]:
        allowed = _expected_labels(world, collection, persona)
        for query in queries:
            response = client.get(f"{LIST_URLS[collection]}?limit=500&{query}")

            if response.status_code != 200:
                if response.status_code != _refused(persona):
                    leaks[collection, query] = response.status_code
            elif not _seen(world, collection, response) <= allowed:
                leaks[collection, query] = _seen(world, collection, response) - allowed

    assert leaks == {}


@pytest.mark.parametrize("persona", PERSONAS)
def test_guessing_ids_finds_only_what_the_role_may_read(api, world, persona):
    client = api(_persona(persona))
    wrong = {}

    for collection, url in sorted(DETAIL_URLS.items()):
        allowed = _expected_labels(world, collection, persona)
        guesses = dict(_objects(world, collection), missing=MISSING_IDS.get(collection, 987_654))

        statuses = {label: client.get(url.format(object_id)).status_code for label, object_id in guesses.items()}

        if persona == "anonymous" or persona not in VISIBLE[collection]:
            expected = {label: _refused(persona) for label in guesses}
        else:
            expected = {label: 200 if label in allowed else 404 for label in guesses}
        if statuses != expected:
            wrong[collection] = {
                label: (statuses[label], expected[label]) for label in guesses if statuses[label] != expected[label]
            }

    assert wrong == {}


READ_ENDPOINTS = {
    # path template -> {persona: status}; "{a}"/"{b}" are the team ids
    "/api/me/": {"employee": 200, "manager_a": 200, "manager_b": 200, "admin": 200, "service": 200},
    "/api/reports/teams/{a}/": {"employee": 403, "manager_a": 200, "manager_b": 404, "admin": 200, "service": 403},
    "/api/reports/teams/{b}/": {"employee": 404, "manager_a": 404, "manager_b": 200, "admin": 200, "service": 403},
    "/api/reports/teams/987654/": {"employee": 404, "manager_a": 404, "manager_b": 404, "admin": 404, "service": 403},
    "/api/reports/me/": {"employee": 200, "manager_a": 200, "manager_b": 200, "admin": 200, "service": 403},
    "/api/reports/org/": {"employee": 403, "manager_a": 403, "manager_b": 403, "admin": 200, "service": 403},
    "/api/audit/": {"employee": 403, "manager_a": 403, "manager_b": 403, "admin": 200, "service": 403},
    "/api/providers/": {"employee": 403, "manager_a": 403, "manager_b": 403, "admin": 200, "service": 403},
    "/api/providers/{provider}/": {"employee": 403, "manager_a": 403, "manager_b": 403, "admin": 200, "service": 403},
    "/api/routes/": {"employee": 403, "manager_a": 403, "manager_b": 403, "admin": 200, "service": 403},
    "/api/routes/{route}/": {"employee": 403, "manager_a": 403, "manager_b": 403, "admin": 200, "service": 403},
    "/api/prices/": {"employee": 200, "manager_a": 200, "manager_b": 200, "admin": 200, "service": 403},
    "/api/outcome-kinds/": {"employee": 200, "manager_a": 200, "manager_b": 200, "admin": 200, "service": 403},
    "/api/value-sources/": {"employee": 200, "manager_a": 200, "manager_b": 200, "admin": 200, "service": 403},
    "/api/usage/summary/": {"employee": 200, "manager_a": 200, "manager_b": 200, "admin": 200, "service": 403},
    "/api/integrations/github/": {"employee": 403, "manager_a": 403, "manager_b": 403, "admin": 200, "service": 403},
    "/api/integrations/github/identities/": {
        "employee": 403,
        "manager_a": 403,
        "manager_b": 403,
        "admin": 200,
        "service": 403,
    },
}


def _fill(template: str, world) -> str:
    return template.format(a=world.team_a.pk, b=world.team_b.pk, provider=world.provider.pk, route=world.route.pk)


@pytest.mark.parametrize("persona", PERSONAS)
def test_reports_and_admin_reads_follow_the_role(api, world, persona):
    client = api(_persona(persona))

    statuses = {path: client.get(_fill(path, world)).status_code for path in READ_ENDPOINTS}

    expected = {path: 401 if persona == "anonymous" else by_role[persona] for path, by_role in READ_ENDPOINTS.items()}
    assert statuses == expected


@pytest.mark.parametrize(
    "persona, pairs",
    [
        ("employee", {("alice", "a")}),
        ("manager_a", {("alice", "a"), ("bob", "a"), ("carol", "a")}),
        ("manager_b", {("carol", "b"), ("oscar", "b")}),
        ("admin", {("alice", "a"), ("bob", "a"), ("carol", "a"), ("carol", "b"), ("oscar", "b")}),
    ],
)
def test_usage_sums_cover_only_readable_rows(api, world, persona, pairs):
    names = {user.pk: name for name, user in world.people.items()}
    teams = {world.team_a.pk: "a", world.team_b.pk: "b"}

    response = api(persona).get("/api/usage/summary/?group_by=user,team")

    assert {(names[row["user_id"]], teams[row["team_id"]]) for row in response.json()["results"]} == pairs


@pytest.mark.parametrize("persona", ["employee", "manager_a", "manager_b", "admin"])
def test_my_usage_report_is_the_callers_own(api, world, persona):
    owner = {"employee": "alice", "manager_a": "maria", "manager_b": "bruno", "admin": "root"}[persona]

    body = api(persona).get("/api/reports/me/?start=2026-03-01&end=2026-03-31").json()

    assert body["user_id"] == world.people[owner].pk
    assert body["totals"]["tokens"] == {"employee": 1000, "manager_a": 0, "manager_b": 0, "admin": 0}[persona]


def test_team_report_lists_only_that_teams_usage(api, world):
    body = api("manager_a").get(f"/api/reports/teams/{world.team_a.pk}/?start=2026-03-01&end=2026-03-31").json()

    assert body["totals"]["tokens"] == 1350  # alice 1000 + bob 300 + carol's 50 in A, never carol's 7000 in B
    assert {row["user_id"] for row in body["people"]} == {
        world.people[n].pk for n in ("alice", "bob", "carol", "maria")
    }


# --- Writes: who may change what, and a refusal changes nothing ---------------------------------------

_SNAPSHOT_MODELS = [
    ("auth", "User"),
    ("governance", "Team"),
    ("governance", "Membership"),
    ("governance", "ApiKey"),
    ("governance", "ApiToken"),
    ("governance", "Policy"),
    ("governance", "Provider"),
    ("governance", "ModelRoute"),
    ("governance", "Price"),
    ("governance", "Flag"),
    ("governance", "FlagReview"),
    ("governance", "AuditLogEntry"),
    ("usage", "UsageEvent"),
    ("usage", "DailyRollup"),
    ("usage", "Outcome"),
    ("usage", "OutcomeKind"),
    ("usage", "OutcomeRequest"),
    ("usage", "Feedback"),
    ("governance", "ValueSourceTrust"),
    ("governance", "GithubIdentity"),
    ("governance", "IntegrationSecret"),
]


def db_snapshot() -> dict:
    """Every row of every model the API can change (token last-use times aside: reading moves them)."""
    snapshot = {}
    for app_label, model_name in _SNAPSHOT_MODELS:
        rows = list(apps.get_model(app_label, model_name).objects.order_by("pk").values())
        for row in rows:
            row.pop("last_login", None)
            if model_name == "ApiToken":
                row.pop("last_used_at")
        snapshot[model_name] = rows
    return snapshot


def _writes(world) -> list[tuple[str, str, dict | None, dict]]:
    """(method, path, body, {persona: status}) for every write endpoint, aimed at team A and team B."""
    a, b = world.team_a.pk, world.team_b.pk
    m, k, f, t = world.memberships, world.keys, world.flags, world.tokens
    admin_only_201 = {"employee": 403, "manager_a": 403, "manager_b": 403, "admin": 201, "service": 403}
    admin_only_200 = dict(admin_only_201, admin=200)
    admin_only_204 = dict(admin_only_201, admin=204)
    provider = {"base_url": "https://llm.example/v1", "api_key": "sk-new"}
    return [
        ("POST", "/api/teams/", {"slug": "new-team"}, admin_only_201),
        ("PATCH", f"/api/teams/{a}/", {"name": "Renamed"}, admin_only_200),
        ("PATCH", f"/api/teams/{b}/", {"name": "Renamed"}, admin_only_200),
        ("POST", "/api/memberships/", {"team": a, "email": "new@example.com", "role": "manager"}, admin_only_201),
        ("POST", "/api/memberships/", {"team": b, "email": "maria@example.com", "role": "manager"}, admin_only_201),
        ("PATCH", f"/api/memberships/{m['alice', 'a'].pk}/", {"role": "manager"}, admin_only_200),
        ("PATCH", f"/api/memberships/{m['oscar', 'b'].pk}/", {"role": "manager"}, admin_only_200),
        ("DELETE", f"/api/memberships/{m['bob', 'a'].pk}/", None, admin_only_204),
        ("DELETE", f"/api/memberships/{m['oscar', 'b'].pk}/", None, admin_only_204),
        (
            "POST",
            "/api/keys/",
            {"team": a},
            {"employee": 201, "manager_a": 201, "manager_b": 404, "admin": 400, "service": 403},
        ),
        (
            "POST",
            "/api/keys/",
            {"team": b},
            {"employee": 404, "manager_a": 404, "manager_b": 201, "admin": 400, "service": 403},
        ),
        (
            "POST",
            "/api/keys/",
            {"team": a, "user": world.people["carol"].pk},
            {"employee": 403, "manager_a": 403, "manager_b": 404, "admin": 201, "service": 403},
        ),
        (
            "POST",
            "/api/keys/",
            {"team": a, "is_service": True},
            {"employee": 403, "manager_a": 201, "manager_b": 404, "admin": 400, "service": 403},
        ),
        (
            "POST",
            f"/api/keys/{k['alice'].pk}/revoke/",
            None,
            {"employee": 200, "manager_a": 200, "manager_b": 404, "admin": 200, "service": 403},
        ),
        (
            "POST",
            f"/api/keys/{k['bob'].pk}/revoke/",
            None,
            {"employee": 404, "manager_a": 200, "manager_b": 404, "admin": 200, "service": 403},
        ),
        (
            "POST",
            f"/api/keys/{k['oscar'].pk}/revoke/",
            None,
            {"employee": 404, "manager_a": 404, "manager_b": 200, "admin": 200, "service": 403},
        ),
        (
            "POST",
            f"/api/keys/{k['carol_b'].pk}/revoke/",
            None,
            {"employee": 404, "manager_a": 404, "manager_b": 200, "admin": 200, "service": 403},
        ),
        ("POST", "/api/tokens/", {"name": "more", "scopes": ["read_reports"]}, admin_only_201),
        ("POST", "/api/tokens/", {"name": "svc", "scopes": ["post_outcomes"], "team": b}, admin_only_201),
        ("POST", "/api/policies/", {"scope": "team", "team": a, "tokens_per_day": 1}, admin_only_200),
        (
            "POST",
            "/api/policies/",
            {"scope": "user", "team": b, "user": world.people["carol"].pk, "usd_per_day": "0.01"},
            admin_only_200,
        ),
        ("PATCH", f"/api/policies/{world.policies['alice'].pk}/", {"tokens_per_day": None}, admin_only_200),
        ("PATCH", f"/api/policies/{world.policies['org'].pk}/", {"allowed_models": ["gpt-*"]}, admin_only_200),
        ("DELETE", f"/api/policies/{world.policies['oscar'].pk}/", None, admin_only_204),
        ("POST", "/api/providers/", dict(provider, name="newco"), admin_only_201),
        ("PUT", f"/api/providers/{world.provider.pk}/", provider, admin_only_200),
        ("POST", "/api/routes/", {"pattern": "mistral-*", "provider": world.provider.pk}, admin_only_201),
        ("PUT", f"/api/routes/{world.route.pk}/", {"provider": world.provider.pk, "priority": 5}, admin_only_200),
        ("DELETE", f"/api/routes/{world.route.pk}/", None, admin_only_204),
        ("POST", "/api/prices/", {"model": "gpt-4o", "input_per_mtok": "1", "output_per_mtok": "2"}, admin_only_201),
        ("POST", "/api/outcome-kinds/", {"kind": "pr_merged", "weight": "3"}, admin_only_200),
        # a manager's personal credential reports no value for their own team (nor themselves)
        (
            "POST",
            "/api/outcomes/",
            {"external_id": "new-a", "kind": "pr_merged", "team": a},
            {"employee": 404, "manager_a": 403, "manager_b": 404, "admin": 201, "service": 201},
        ),
        (
            "POST",
            "/api/outcomes/",
            {"external_id": "new-b", "kind": "pr_merged", "team": b},
            {"employee": 404, "manager_a": 404, "manager_b": 403, "admin": 201, "service": 404},
        ),
        (
            "POST",
            "/api/outcomes/",
            {"external_id": "new-c", "kind": "pr_merged", "team": a, "user": world.people["alice"].pk},
            {"employee": 404, "manager_a": 201, "manager_b": 404, "admin": 201, "service": 201},
        ),
        ("POST", "/api/value-sources/", {"source_kind": "person", "is_trusted": False}, admin_only_200),
        ("POST", "/api/integrations/github/", {"webhook_secret": "a-long-webhook-secret"}, admin_only_200),
        (
            "POST",
            "/api/integrations/github/identities/",
            {"login": "alice-gh", "email": "alice@example.com"},
            admin_only_200,
        ),
        (
            "POST",
            "/api/outcomes/",
            {"external_id": "new-x", "kind": "pr_merged", "team": a, "user": world.people["oscar"].pk},
            {"employee": 404, "manager_a": 400, "manager_b": 404, "admin": 400, "service": 400},
        ),
        (
            "POST",
            "/api/outcomes/",
            {"external_id": "ticket-b", "kind": "pr_merged", "team": a},
            {"employee": 404, "manager_a": 400, "manager_b": 404, "admin": 200, "service": 400},
        ),
        (
            "POST",
            "/api/outcomes/",
            {"external_id": "new-y", "kind": "pr_merged", "team": a, "request_ids": ["req-oscar-b"]},
            {"employee": 404, "manager_a": 400, "manager_b": 404, "admin": 400, "service": 400},
        ),
        (
            "POST",
            "/api/feedback/",
            {"request_id": "req-alice-a", "score": -1},
            {"employee": 200, "manager_a": 404, "manager_b": 404, "admin": 404, "service": 403},
        ),
        (
            "POST",
            "/api/feedback/",
            {"request_id": "req-oscar-b", "score": 1},
            {"employee": 404, "manager_a": 404, "manager_b": 404, "admin": 404, "service": 403},
        ),
        (
            "POST",
            f"/api/flags/{f['alice'].pk}/review/",
            {"action": "acknowledge"},
            {"employee": 403, "manager_a": 200, "manager_b": 404, "admin": 200, "service": 403},
        ),
        (
            "POST",
            f"/api/flags/{f['maria'].pk}/review/",
            {"action": "dismiss"},
            {"employee": 404, "manager_a": 403, "manager_b": 404, "admin": 200, "service": 403},
        ),
        (
            "POST",
            f"/api/flags/{f['oscar'].pk}/review/",
            {"action": "confirm", "comment": "looped script"},
            {"employee": 404, "manager_a": 404, "manager_b": 200, "admin": 200, "service": 403},
        ),
        (
            "POST",
            "/api/flags/987654/review/",
            {"action": "acknowledge"},
            {"employee": 404, "manager_a": 404, "manager_b": 404, "admin": 404, "service": 403},
        ),
        # last: revoking the caller's own token ends its session
        (
            "POST",
            f"/api/tokens/{t['service'].pk}/revoke/",
            None,
            {"employee": 404, "manager_a": 404, "manager_b": 404, "admin": 200, "service": 403},
        ),
        (
            "POST",
            f"/api/tokens/{t['manager_a'].pk}/revoke/",
            None,
            {"employee": 404, "manager_a": 200, "manager_b": 404, "admin": 200, "service": 403},
        ),
    ]


@pytest.mark.parametrize("persona", PERSONAS)
def test_writes_succeed_only_where_the_role_allows_and_refusals_change_nothing(api, world, persona):
    client = api(_persona(persona))
    failures = []

    for method, path, body, by_role in _writes(world):
        expected = 401 if persona == "anonymous" else by_role[persona]
        before = db_snapshot() if expected >= 400 else None
        response = client.call(method, path, body)

        if response.status_code != expected:
            failures.append(f"{method} {path} {body}: expected {expected}, got {response.status_code}")
        if expected >= 400 and db_snapshot() != before:
            failures.append(f"{method} {path} {body}: refused but changed the database")

    assert failures == [], "\n".join(failures)


def test_every_api_route_is_in_the_matrix(world):
    covered = set(LIST_URLS.values()) | set(DETAIL_URLS.values()) | set(READ_ENDPOINTS)
    covered |= {path for _, path, _, _ in _writes(world)}
    normalised = {_normalise(path) for path in covered}

    routes = {_normalise("/api/" + str(pattern.pattern)) for pattern in _api_patterns()}

    assert routes - normalised - {"/api/schema/", "/api/docs/"} == set()


def _normalise(path: str) -> str:
    import re

    return re.sub(r"(<[^>]+>|\{[^}]*\}|\d+|req-[a-z-]+)", "{}", path)


def _api_patterns():
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "api/":
            return pattern.url_patterns
    raise AssertionError("/api/ is not mounted")
