"""/api filters and path ids past 64 bits, and malformed or out-of-range dates: 400 (404 for a path id)
in the API's error shape on every database - never a 500 (SQLite cannot take such integers)."""

from __future__ import annotations

import pytest

HUGE = str(2**70)
INT64_MAX = 2**63 - 1

LISTS_WITH_INTEGER_FILTERS = [
    ("/api/audit/", "actor"),
    ("/api/flags/", "team"),
    ("/api/flags/", "user"),
    ("/api/outcomes/", "team"),
    ("/api/outcomes/", "user"),
    ("/api/usage/summary/", "team"),
    ("/api/usage/summary/", "user"),
    ("/api/usage/events/", "team"),
    ("/api/usage/events/", "user"),
    ("/api/memberships/", "team"),
    ("/api/memberships/", "user"),
    ("/api/keys/", "team"),
    ("/api/policies/", "team"),
    ("/api/feedback/", "offset"),
    ("/api/teams/", "offset"),
    ("/api/outcome-kinds/", "offset"),
    ("/api/prices/", "offset"),
]
ROUTE_FILTERS = [("/api/routes/", "provider"), ("/api/routes/", "offset")]
DATE_FILTERS = [
    ("/api/usage/summary/", "start"),
    ("/api/usage/events/", "end"),
    ("/api/outcomes/", "start"),
    ("/api/reports/org/", "start"),
    ("/api/reports/me/", "end"),
]


def assert_invalid(response, field: str) -> None:
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert (error["status"], error["code"], list(error["fields"])) == (400, "invalid", [field])


@pytest.mark.parametrize(
    "path, name, value",
    [
        (path, name, value)
        for path, name in LISTS_WITH_INTEGER_FILTERS + ROUTE_FILTERS
        for value in (HUGE, f"-{HUGE}", str(INT64_MAX + 1))
        if not (name == "offset" and value.startswith("-"))  # a negative offset is the first page (DRF's paginator)
    ],
)
def test_integer_filters_past_64_bits_are_invalid(api, path, name, value):
    response = api("admin").get(f"{path}?{name}={value}")

    assert_invalid(response, name)


@pytest.mark.parametrize("path, name", LISTS_WITH_INTEGER_FILTERS[:13])
def test_integer_filters_at_64_bits_are_valid(api, path, name):
    response = api("admin").get(f"{path}?{name}={INT64_MAX}")

    assert response.status_code == 200


@pytest.mark.parametrize("path, name", DATE_FILTERS)
@pytest.mark.parametrize("value", ["2025-13-45", "yesterday", "9999-12-31", "0001-01-01", "2025-02-30", HUGE])
def test_malformed_or_unreachable_dates_are_invalid(api, path, name, value):
    response = api("admin").get(f"{path}?{name}={value}")

    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    "path",
    [
        "/api/teams/{}/",
        "/api/memberships/{}/",
        "/api/keys/{}/",
        "/api/policies/{}/",
        "/api/providers/{}/",
        "/api/routes/{}/",
        "/api/outcomes/{}/",
        "/api/flags/{}/",
        "/api/reports/teams/{}/",
    ],
)
def test_path_ids_past_64_bits_are_not_found(api, path):
    response = api("admin").get(path.format(HUGE))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
