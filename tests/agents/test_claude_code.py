"""Claude Code, headless (``claude -p``), through a live Tokenwise and the fake Messages upstream.

Pinned from npm (tools/agents). Its HOME is a fresh directory and it is told to send nothing but the
API calls (no telemetry, no update checks); ANTHROPIC_BASE_URL points at Tokenwise, the employee's
``tw-`` key is ANTHROPIC_AUTH_TOKEN. The ledger rows say which client, which session, tokens per
class and cost; a budget that cannot hold the call stops Claude Code at once, saying budget.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from governance.enforcement.counters import local_counters
from governance.enforcement.effective import policy_cache_clear
from governance.services.policies import policy_set
from tests.agents.conftest import agent_binary, agent_run
from usage.models import UsageEvent

MODEL = "claude-sonnet-4-5"


@pytest.fixture(autouse=True)
def fresh_counters():
    policy_cache_clear()
    local_counters.reset()
    yield
    policy_cache_clear()
    local_counters.reset()


@pytest.fixture
def claude_code(live_proxy, employee_key, tmp_path):
    binary = agent_binary("claude")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": live_proxy.url,
        "ANTHROPIC_AUTH_TOKEN": employee_key[1],
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_SMALL_FAST_MODEL": "claude-haiku-4-5",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-4-5",
        "ANTHROPIC_DEFAULT_SONNET_MODEL": MODEL,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }

    def run(prompt: str, *extra: str, env_extra: dict[str, str] | None = None) -> tuple[object, float]:
        started = time.monotonic()
        result = agent_run(
            [str(binary), "-p", prompt, "--model", MODEL, *extra], env=env | (env_extra or {}), cwd=tmp_path
        )
        return result, time.monotonic() - started

    return run


def test_claude_code_answers_and_its_calls_are_in_the_ledger(claude_code, upstream, ledger):
    result, _ = claude_code("Say hello.")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "(demo)" in result.stdout
    ledger.drain()
    events = list(UsageEvent.objects.filter(endpoint="messages").order_by("created_at"))
    main = [event for event in events if event.model_requested == MODEL]
    assert main, [(e.model_requested, e.status) for e in events]
    event = main[-1]
    assert event.status == 200 and event.stream and not event.is_estimated
    assert event.client.startswith("claude-cli/2.1.")
    assert event.session_id and all(e.session_id == event.session_id for e in main)
    assert event.total_tokens == event.prompt_tokens + event.completion_tokens and event.completion_tokens > 0
    assert event.cache_write_tokens + event.cached_tokens > 0  # Claude Code marks its system prompt for caching
    uncached = event.prompt_tokens - event.cached_tokens - event.cache_write_tokens
    assert (
        event.cost_usd
        == (
            uncached * Decimal("3")
            + event.cached_tokens * Decimal("0.30")
            + event.cache_write_tokens * Decimal("3.75")
            + event.completion_tokens * Decimal("15")
        )
        / 10**6
    )
    sent = [r for r in upstream.requests if r["path"] == "/v1/messages" and r["json"]["model"] == MODEL]
    assert sent and sent[-1]["headers"]["x-api-key"] == "sk-ant-upstream-secret"


def test_claude_code_over_budget_stops_at_once_saying_budget(claude_code, upstream, team, ledger):
    policy_set(scope="team", team=team, values={"tokens_per_day": 500})
    policy_cache_clear()
    result, took = claude_code("Say hello.")
    output = (result.stdout + result.stderr).lower()
    assert result.returncode != 0 and "budget" in output, output
    assert took < 30  # it stops instead of retrying for minutes
    assert not [r for r in upstream.requests if r["path"] == "/v1/messages"]
    ledger.drain()
    refused = UsageEvent.objects.filter(endpoint="messages", status=429, error_code="budget_exceeded")
    assert refused.count() >= 1 and refused.first().client.startswith("claude-cli/")
