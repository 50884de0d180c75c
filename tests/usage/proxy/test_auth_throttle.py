"""Unknown-key floods: throttled per client address, no database read per attempt once throttled or
for a key already found unknown, counted in metrics and one audit entry per address and window - and
no ledger rows."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest

from governance.models import AuditLogEntry
from governance.services import keys
from governance.services.keys import key_revoke
from tests.conftest import calls_recorded_wait
from usage.models import UsageEvent
from usage.proxy.auth_throttle import WINDOW_S

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
def database_lookups(monkeypatch):
    """Counts the key lookups that reach the database (the lookup itself runs unchanged)."""
    seen = {"reads": 0}
    real = keys._principal_from_db

    def counted(hash_value):
        seen["reads"] += 1
        return real(hash_value)

    monkeypatch.setattr(keys, "_principal_from_db", counted)
    return seen


@pytest.fixture
def limit(settings):
    settings.TOKENWISE_AUTH_FAILURES_PER_MINUTE = 5
    return 5


@pytest.fixture
def window_start_far():
    """Starts the test early enough in a throttle window that it cannot cross into the next one."""
    if time.time() % WINDOW_S > WINDOW_S - 10:
        time.sleep(WINDOW_S - time.time() % WINDOW_S + 0.1)


def post(live_proxy, secret: str | None, path: str = "/v1/chat/completions") -> httpx.Response:
    headers = {"authorization": f"Bearer {secret}"} if secret is not None else {}
    return httpx.post(f"{live_proxy.url}{path}", json=HELLO, headers=headers, timeout=10)


def metric(live_proxy, name: str) -> float:
    for line in httpx.get(f"{live_proxy.url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def audit_entries() -> list:
    deadline = time.monotonic() + 5
    while not AuditLogEntry.objects.filter(action="auth_throttled").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(AuditLogEntry.objects.filter(action="auth_throttled").values_list("object_id", "after"))


def test_a_flood_of_random_keys_is_throttled_without_database_reads_or_ledger_rows(
    live_proxy, upstream, limit, database_lookups, window_start_far, ledger
):
    failures_before = metric(live_proxy, 'tokenwise_proxy_auth_failures_total{code="invalid_api_key"}')
    throttled_before = metric(live_proxy, "tokenwise_proxy_auth_throttled_total")

    answers = [post(live_proxy, "tw-" + secrets.token_urlsafe(32)) for _ in range(200)]

    statuses = [answer.status_code for answer in answers]
    assert statuses == [401] * limit + [429] * (200 - limit)
    throttled = answers[-1]
    assert throttled.json()["error"] == {
        "message": "Too many failed authentications from your address; retry after the Retry-After seconds.",
        "type": "rate_limit_error",
        "param": None,
        "code": "too_many_failed_authentications",
    }
    assert 1 <= int(throttled.headers["retry-after"]) <= WINDOW_S
    assert database_lookups["reads"] == limit
    assert metric(live_proxy, 'tokenwise_proxy_auth_failures_total{code="invalid_api_key"}') - failures_before == limit
    assert metric(live_proxy, "tokenwise_proxy_auth_throttled_total") - throttled_before == 200 - limit
    ledger.drain()
    assert UsageEvent.objects.count() == 0
    assert upstream.requests == []
    [(address, details)] = audit_entries()
    assert (address, details["address"], details["failures"], details["window_s"]) == (
        "127.0.0.1",
        "127.0.0.1",
        limit,
        WINDOW_S,
    )


def test_a_throttled_address_still_serves_keys_it_has_accepted(
    live_proxy, upstream, employee_key, limit, window_start_far, ledger
):
    accepted = post(live_proxy, employee_key[1])
    for _ in range(limit):
        post(live_proxy, "tw-" + secrets.token_urlsafe(32))

    guess = post(live_proxy, "tw-" + secrets.token_urlsafe(32))
    again = post(live_proxy, employee_key[1])

    assert (accepted.status_code, guess.status_code, again.status_code) == (200, 429, 200)
    ledger.drain()
    assert UsageEvent.objects.filter(key=employee_key[0]).count() == 2
    assert UsageEvent.objects.count() == 2


def test_a_repeated_unknown_key_is_looked_up_once(live_proxy, settings, database_lookups, ledger):
    settings.TOKENWISE_AUTH_FAILURES_PER_MINUTE = 1000
    secret = "tw-" + secrets.token_urlsafe(32)

    answers = [post(live_proxy, secret, path) for path in ("/v1/chat/completions", "/v1/embeddings") * 10]

    assert {answer.status_code for answer in answers} == {401}
    assert database_lookups["reads"] == 1


def test_missing_and_malformed_keys_count_as_failures(live_proxy, limit, window_start_far):
    answers = [post(live_proxy, secret) for secret in [None, "sk-not-ours", "tw-short", None, "tw-" + "x" * 300, None]]

    assert [answer.status_code for answer in answers] == [401] * 5 + [429]
    assert httpx.get(f"{live_proxy.url}/v1/models").status_code == 429
    assert httpx.post(f"{live_proxy.url}/v1/feedback", json={"request_id": "x", "score": 1}).status_code == 429


def test_revoked_keys_are_refused_and_recorded_not_counted_as_guesses(
    live_proxy, employee_key, limit, ledger, window_start_far
):
    key_revoke(key=employee_key[0])

    answers = [post(live_proxy, employee_key[1]) for _ in range(limit + 2)]

    assert {answer.json()["error"]["code"] for answer in answers} == {"api_key_revoked"}
    ledger.drain()
    assert UsageEvent.objects.filter(key=employee_key[0], status=401).count() == limit + 2
    calls_recorded_wait()
    assert not AuditLogEntry.objects.filter(action="auth_throttled").exists()
