"""Policies enforced by the live proxy, through the real openai client, the fake upstream and real Redis.

The issue's policy document applied, then: max_tokens capped, models refused and hidden, rate limits and
budgets answered with OpenAI-shaped 429s and their headers, warn and downgrade, settlement when the
client goes away, and rejections recorded with their reason.
"""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import openai
import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command

from core import clock as enforcement_clock
from core.redis import get_sync_redis
from governance.enforcement.counters import budget_key, local_counters
from governance.enforcement.effective import policy_cache_clear
from governance.models import Alert
from governance.periods import period_of
from governance.services.alerts import alerts_queued_wait
from tests.conftest import calls_recorded_wait
from tests.governance.test_policies import ISSUE_DOCUMENT

HELLO = [{"role": "user", "content": "hello there"}]
HELLO_PROMPT_TOKENS = 8  # what the fake upstream reports for HELLO
# The prompt bound of HELLO with gpt-4o-mini and a one-digit max_tokens: the bytes of the body the openai
# client sends (compact JSON), + the reserve margin.
HELLO_RESERVED_PROMPT = (
    len(json.dumps({"messages": HELLO, "model": "gpt-4o-mini", "max_tokens": 5}, separators=(",", ":"))) + 16
)
NOON = datetime(2025, 3, 12, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()


@pytest.fixture(autouse=True)
def fresh_counters():
    policy_cache_clear()
    local_counters.reset()  # embedded mode: the live server runs in this process
    yield
    policy_cache_clear()
    local_counters.reset()


@pytest.fixture(autouse=True)
def private_spool(settings, tmp_path):
    """This test's own ledger spool (the default directory is shared by every process on the host)."""
    settings.TOKENWISE_LEDGER_SPOOL_DIR = str(tmp_path / "spool")


@pytest.fixture
def ledger(settings):
    """Drains the ledger: the Redis stream, and the spool of events the database refused at the time
    (embedded mode's in-memory SQLite locks whole tables while hundreds of calls write at once)."""
    from django.db import OperationalError

    from usage.ledger.spool import usage_spool_drain

    class Ledger:
        def drain(self) -> None:
            calls_recorded_wait()
            if settings.REDIS_URL:
                call_command("drain_ledger", verbosity=0)
            try:
                usage_spool_drain()
            except OperationalError:
                pass  # still locked: the caller polls again

    return Ledger()


@pytest.fixture
def frozen_clock():
    enforcement_clock.clock_set(lambda: NOON)
    yield NOON
    enforcement_clock.clock_set(None)


@pytest.fixture
def eager_tasks():
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def policies(tmp_path):
    def apply(text: str) -> None:
        path = tmp_path / "policies.yaml"
        path.write_text(text)
        call_command("apply_policies", str(path), stdout=StringIO())

    return apply


def with_team(**replacements: str) -> str:
    """The issue's document with some of the platform team's lines replaced."""
    text = ISSUE_DOCUMENT
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    return text


def counter(team_id: int, *, at: float = NOON, user_id: int | None = None, unit: str = "tok") -> tuple[int, int]:
    """(settled, held) of a daily budget counter, in Redis or (embedded mode) in this process."""
    key = budget_key(team_id=team_id, user_id=user_id, unit=unit, period=period_of("day", at=at))
    if not settings.REDIS_URL:
        state = local_counters.budgets.get(key, {})
        return int(state.get("u", 0)), int(state.get("r", 0))
    used, held = get_sync_redis().hmget(key, "u", "r")
    return int(used or 0), int(held or 0)


def reservations_left() -> int:
    if not settings.REDIS_URL:
        return len(local_counters.reservations)
    client = get_sync_redis()
    return sum(client.hlen(key) for key in client.scan_iter(match="tw:{t*}:resv"))


def test_issue_policy_caps_max_tokens_and_sends_rate_headers(client, upstream, event_of, policies, frozen_clock):
    policies(ISSUE_DOCUMENT)

    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO, max_tokens=5000)

    assert upstream.requests[-1]["json"]["max_tokens"] == 4096
    assert raw.headers["x-tokenwise-max-tokens-capped"] == "4096"
    assert (
        raw.headers["x-ratelimit-limit-requests"],
        raw.headers["x-ratelimit-remaining-requests"],
        raw.headers["x-ratelimit-limit-tokens"],
    ) == ("60", "59", "100000")
    event = event_of(raw.headers["x-request-id"])
    assert (event.status, event.policy_action, event.max_tokens, event.model_served) == (200, "cap", 5000, "gpt-4o")


def test_models_outside_the_policy_are_refused_and_hidden(client, upstream, event_of, policies):
    policies(ISSUE_DOCUMENT)

    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.embeddings.create(model="text-embedding-3-small", input="one two")
    listed = [model.id for model in client.models.list().data]

    assert caught.value.status_code == 403
    assert caught.value.body == {
        "message": "The model 'text-embedding-3-small' is not allowed by your team's policy. "
        "Allowed: gpt-4o, gpt-4o-mini.",
        "type": "permission_error",
        "param": "model",
        "code": "model_not_allowed",
    }
    event = event_of(caught.value.response.headers["x-request-id"])
    assert (event.status, event.error_code, event.total_tokens, event.model_served) == (403, "model_not_allowed", 0, "")
    assert listed == ["gpt-4o", "gpt-4o-mini"]
    assert all(request["path"] != "/v1/embeddings" for request in upstream.requests)


def test_rate_limit_answers_429_with_retry_after_and_openai_headers(client, upstream, event_of, policies, frozen_clock):
    policies(with_team(**{"rate: {rpm: 60, tpm: 100000}": "rate: {rpm: 2, tpm: 100000}"}))
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=3)
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=3)

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=3)

    headers = caught.value.response.headers
    assert (
        headers["retry-after"],
        headers["x-ratelimit-limit-requests"],
        headers["x-ratelimit-remaining-requests"],
        headers["x-ratelimit-reset-requests"],
    ) == ("30", "2", "0", "1m0s")
    assert headers["x-ratelimit-limit-tokens"] == "100000"
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert caught.value.body["type"] == "rate_limit_error"
    event = event_of(headers["x-request-id"])
    assert (event.status, event.error_code) == (429, "rate_limit_exceeded")
    assert len(upstream.requests) == 2


def test_budget_exhausted_answers_429_with_its_reset(client, upstream, event_of, policies, team, frozen_clock):
    per_call = HELLO_RESERVED_PROMPT + 5
    budget = 3 * (HELLO_PROMPT_TOKENS + 5) + per_call - 1  # three calls fit, the fourth's worst case does not
    policies(with_team(**{"tokens_per_day: 50000": f"tokens_per_day: {budget}"}))
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5)

    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5)

    headers = caught.value.response.headers
    assert caught.value.body["code"] == "budget_exceeded"
    assert caught.value.body["type"] == "insufficient_quota"
    assert caught.value.body["message"] == (
        f"Budget exceeded: this call may use up to {per_call} tokens, but the daily token budget of "
        f"alice@example.com in team platform ({budget} tokens) has {per_call - 1} tokens left. It resets at "
        "2025-03-13T00:00:00+00:00. Lower max_tokens to fit, or wait until then."
    )
    assert (headers["x-tokenwise-budget-reset"], headers["retry-after"], headers["x-tokenwise-budget-scope"]) == (
        "2025-03-13T00:00:00+00:00",
        "43200",
        "user:alice@example.com",
    )
    event = event_of(headers["x-request-id"])
    assert (event.status, event.error_code, event.total_tokens) == (429, "budget_exceeded", 0)
    assert counter(team.pk, user_id=event.user_id) == (3 * (HELLO_PROMPT_TOKENS + 5), 0)
    assert len(upstream.requests) == 3


def test_warn_serves_the_call_with_a_header_and_notifies_the_managers(
    client, upstream, event_of, policies, manager, frozen_clock, eager_tasks
):
    policies(with_team(**{"tokens_per_day: 200000": "tokens_per_day: 30", "on_exceed: block": "on_exceed: warn"}))
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5)

    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5)
    alerts_queued_wait()

    assert raw.headers["x-tokenwise-warning"] == (
        "budget exceeded: daily token budget of team platform (30 tokens), resets at 2025-03-13T00:00:00+00:00"
    )
    event = event_of(raw.headers["x-request-id"])
    assert (event.status, event.policy_action, event.total_tokens) == (200, "warn", HELLO_PROMPT_TOKENS + 5)
    alert = Alert.objects.get()
    assert (alert.scope, alert.threshold_percent, alert.is_exceeded, alert.recipients) == (
        "team",
        100,
        True,
        ["maria@example.com"],
    )
    assert [m.to for m in mail.outbox] == [["maria@example.com"]]


def test_downgrade_serves_the_named_cheaper_model(client, upstream, event_of, policies, frozen_clock):
    policies(with_team(**{"tokens_per_day: 200000": "tokens_per_day: 30", "on_exceed: block": "on_exceed: downgrade"}))
    client.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=5)

    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO, max_tokens=5)

    completion = raw.parse()
    assert upstream.requests[-1]["json"]["model"] == "gpt-4o-mini"
    assert completion.model.startswith("gpt-4o-mini")
    assert raw.headers["x-tokenwise-downgraded-from"] == "gpt-4o"
    assert raw.headers["x-tokenwise-warning"].endswith("; served gpt-4o-mini instead of gpt-4o")
    event = event_of(raw.headers["x-request-id"])
    assert (event.model_requested, event.model_served, event.policy_action) == ("gpt-4o", "gpt-4o-mini", "downgrade")


def test_a_stream_the_client_abandons_still_settles(client, upstream, event_of, policies, team, frozen_clock):
    policies(ISSUE_DOCUMENT)

    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=HELLO,
        max_tokens=200,
        stream=True,
        extra_body={"fake_fault": "slow-stream:20"},
    ) as response:
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line.startswith("data:"):
                break  # the client goes away after the first event

    event = event_of(request_id)
    assert event.client_disconnected is True
    assert 0 < event.completion_tokens < 200
    assert counter(team.pk) == (event.total_tokens, 0)
    assert reservations_left() == 0


# --- The budget held to the token under concurrency --------------------------------------------------------

BUDGET = 3000  # some 25 worst cases of the storm's calls (their body bytes) in flight at once
STORM = 300
ONE_TOKEN_CALL = HELLO_RESERVED_PROMPT + 1  # the worst case of a call with max_tokens=1


async def _storm(urls: list[str], secret: str, *, calls: int, concurrency: int) -> list[tuple[int, str, str]]:
    """``calls`` chat calls spread over ``urls``, ``concurrency`` at once: (status, error code, request id)."""
    import asyncio

    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients = [
        openai.AsyncOpenAI(
            base_url=f"{url}/v1",
            api_key=secret,
            max_retries=0,
            timeout=60,
            http_client=httpx.AsyncClient(limits=limits),
        )
        for url in urls
    ]
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> tuple[int, str, str]:
        async with gate:
            try:
                raw = await clients[i % len(clients)].chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=HELLO, max_tokens=1 + i % 20, extra_body={"fake_fault": "slow:100"}
                )  # every call in flight at the same time
                return 200, "", raw.headers["x-request-id"]
            except openai.APIStatusError as exc:
                return exc.status_code, exc.body.get("code", ""), exc.response.headers["x-request-id"]

    try:
        return await asyncio.gather(*(one(i) for i in range(calls)))
    finally:
        for client in clients:
            await client.close()


def _top_off(urls: list[str], secret: str) -> list[tuple[int, str]]:
    """One-token calls, one at a time, until the budget refuses one: what the storm left unused."""
    answers = []
    for i in range(BUDGET):
        client = openai.OpenAI(base_url=f"{urls[i % len(urls)]}/v1", api_key=secret, max_retries=0, timeout=10)
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=1)
            answers.append((200, ""))
        except openai.RateLimitError as exc:
            answers.append((429, exc.body["code"]))
            return answers
    raise AssertionError("the budget never refused a call")


def _assert_held_to_the_token(team, answers: list[tuple[int, str, str]], ledger) -> dict[str, int]:
    import time

    from django.db.models import Sum

    from usage.models import UsageEvent

    deadline = time.monotonic() + 30
    while True:  # the last events are written just after the last answers
        ledger.drain()
        events = UsageEvent.objects.filter(team=team)
        if events.count() >= len(answers) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    used, held = counter(team.pk, at=__import__("time").time())
    admitted = events.filter(status=200)
    ledger_tokens = admitted.aggregate(n=Sum("total_tokens"))["n"]
    assert {status for status, _, _ in answers} <= {200, 429}
    assert {code for status, code, _ in answers if status == 429} == {"budget_exceeded"}
    assert set(events.filter(status=429).values_list("error_code", flat=True)) == {"budget_exceeded"}
    assert events.count() == len(answers)
    assert events.exclude(status=200).aggregate(n=Sum("total_tokens"))["n"] == 0
    assert (used, held) == (ledger_tokens, 0)  # the counter is the ledger, nothing left reserved
    assert used <= BUDGET  # never overspent ...
    assert BUDGET - used < ONE_TOKEN_CALL  # ... and nothing left that a call's worst case would fit in
    assert reservations_left() == 0
    return {"calls": len(answers), "admitted": admitted.count(), "used": used}


@pytest.mark.slow
def test_hundreds_of_concurrent_calls_never_overspend_the_budget(
    live_proxy, upstream, employee_key, team, policies, ledger
):
    import asyncio

    policies(f"teams:\n  platform:\n    budget: {{tokens_per_day: {BUDGET}}}\n")
    _, secret = employee_key

    storm = asyncio.run(_storm([live_proxy.url], secret, calls=STORM, concurrency=STORM))
    storm_admitted = sum(status == 200 for status, _, _ in storm)
    top_off = _top_off([live_proxy.url], secret)

    figures = _assert_held_to_the_token(team, storm + [(s, c, "") for s, c in top_off], ledger)
    assert 0 < storm_admitted < STORM
    print(f"\none process: {figures}, admitted in the storm: {storm_admitted}")


@pytest.fixture
def two_proxy_processes(live_proxy, upstream, tmp_path):
    """Two more proxies: uvicorn subprocesses sharing this test's database and Redis."""
    if not settings.REDIS_URL:
        pytest.skip("processes share budgets through Redis; embedded mode (no REDIS_URL) is one process")
    import os
    import subprocess
    import sys
    import time

    import httpx
    from django.db import connection

    from tests.conftest import free_port

    db = connection.settings_dict
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings_test",
        REDIS_URL=settings.REDIS_URL,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-upstream-secret",
        TOKENWISE_DEMO_UPSTREAM="0",
        TOKENWISE_LEDGER_SPOOL_DIR=settings.TOKENWISE_LEDGER_SPOOL_DIR,
    )
    servers = []
    for n in range(2):
        port = free_port()
        log = (tmp_path / f"proxy-{n}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--lifespan",
                "off",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        servers.append((process, f"http://127.0.0.1:{port}"))
    try:
        for process, url in servers:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, (tmp_path / "proxy-0.log").read_text()
                try:
                    httpx.get(f"{url}/v1/models", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "a proxy process did not start"
                    time.sleep(0.1)
        yield [url for _, url in servers]
    finally:
        for process, _ in servers:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_two_proxy_processes_sharing_redis_hold_the_budget_to_the_token(
    two_proxy_processes, employee_key, team, policies, ledger, outsider, other_team
):
    import asyncio

    from governance.services.keys import key_create

    policies(f"teams:\n  platform:\n    budget: {{tokens_per_day: {BUDGET}}}\n")
    _, secret = employee_key
    # One call of another team through each process first, so neither starts the storm cold (its first
    # connections to Redis and PostgreSQL) while the other takes the whole budget.
    _, other_secret = key_create(user=outsider, team=other_team, name="warm-up")
    for url in two_proxy_processes:
        openai.OpenAI(base_url=f"{url}/v1", api_key=other_secret, max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, max_tokens=1
        )

    # Each process admits one of the team's calls before the storm: both hold counters in the shared budget
    # whatever share of the storm each wins (an event loop started later may win none of it).
    first = [
        (
            200,
            "",
            openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0)
            .chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO, max_tokens=1)
            .headers["x-request-id"],
        )
        for url in two_proxy_processes
    ]
    storm = asyncio.run(_storm(two_proxy_processes, secret, calls=STORM, concurrency=STORM))
    top_off = _top_off(two_proxy_processes, secret)

    figures = _assert_held_to_the_token(team, first + storm + [(s, c, "") for s, c in top_off], ledger)
    from usage.models import UsageEvent

    admitted = [request_id for status, _, request_id in first + storm if status == 200]
    assert UsageEvent.objects.filter(request_id__in=admitted, status=200).count() == len(admitted)
    print(f"\ntwo processes: {figures}")


def test_prompt_and_answer_text_are_kept_only_when_the_team_opts_in(client, upstream, event_of, policies):
    policies("teams:\n  platform:\n    max_tokens: 100\n")
    default = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO, max_tokens=3)
    policies("teams:\n  platform:\n    store_text: true\n")

    opted_in = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO, max_tokens=3)

    kept = event_of(opted_in.headers["x-request-id"])
    assert (kept.prompt_text, kept.output_text) == ("hello there", opted_in.parse().choices[0].message.content)
    plain = event_of(default.headers["x-request-id"])
    assert (plain.prompt_text, plain.output_text) == (None, None)
