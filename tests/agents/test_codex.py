"""Codex CLI (``codex exec``) through a live Tokenwise, with a ``[model_providers.tokenwise]`` block in a
fresh CODEX_HOME (``wire_api = "responses"``), against the fake OpenAI upstream."""

from __future__ import annotations

import re
from decimal import Decimal

from tests.agents.conftest import agent_binary, agent_run
from usage.models import UsageEvent

CONFIG = """model = "gpt-4.1"
model_provider = "tokenwise"

[model_providers.tokenwise]
name = "Tokenwise"
base_url = "{base_url}/v1"
env_key = "TOKENWISE_API_KEY"
wire_api = "responses"
"""


def test_codex_exec_is_governed_and_its_session_recorded(live_proxy, employee_key, upstream, ledger, tmp_path):
    binary = agent_binary("codex")
    codex_home = tmp_path / "codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(CONFIG.format(base_url=live_proxy.url))
    env = {"HOME": str(tmp_path), "CODEX_HOME": str(codex_home), "TOKENWISE_API_KEY": employee_key[1]}
    result = agent_run([str(binary), "exec", "--skip-git-repo-check", "Say hello."], env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "(demo)" in result.stdout
    session = re.search(r"session id: (\S+)", result.stdout + result.stderr).group(1)
    ledger.drain()
    event = UsageEvent.objects.get(endpoint="responses")
    assert (event.status, event.model_requested, event.stream, event.is_estimated) == (200, "gpt-4.1", True, False)
    assert event.client.startswith("codex_exec/0.171.") and event.session_id == session
    assert event.prompt_tokens > 1000 and event.completion_tokens > 0  # Codex's instructions and tools
    uncached = event.prompt_tokens - event.cached_tokens
    assert (
        event.cost_usd
        == (
            uncached * Decimal("2.00")
            + event.cached_tokens * Decimal("0.50")
            + event.completion_tokens * Decimal("8.00")
        )
        / 10**6
    )
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-upstream-secret"
