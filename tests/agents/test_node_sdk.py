"""@anthropic-ai/sdk for Node through a live Tokenwise: create, stream, count_tokens, a tool-use round
trip and an authentication error (anthropic_sdk.cjs does the calls; its report is checked here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from devtools.demo_upstream.tokens import count_tokens
from tests.agents.conftest import AGENTS, NODE_MODULES, agent_run
from usage.models import UsageEvent

SCRIPT = Path(__file__).with_name("anthropic_sdk.cjs")


def test_node_sdk_through_tokenwise(live_proxy, employee_key, upstream, ledger, tmp_path):
    if not (NODE_MODULES / "@anthropic-ai" / "sdk").exists():
        pytest.fail(f"@anthropic-ai/sdk not found in {NODE_MODULES}: run scripts/agents")
    result = agent_run(
        [shutil.which("node") or "node", str(SCRIPT), live_proxy.url, employee_key[1]],
        env={"AGENTS_DIR": str(AGENTS), "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert report["create"]["text"].startswith("(demo)") and report["create"]["usage"]["input_tokens"] == 5
    assert count_tokens(report["stream"]["text"]) == report["stream"]["output_tokens"] == 12
    assert report["count"] == {"input_tokens": 5}
    assert report["tools"] == {"first": "tool_use", "name": "get_weather", "second": "end_turn"}
    assert report["unauthenticated"] == {"status": 401, "type": "authentication_error", "isAuthError": True}
    ledger.drain()
    events = UsageEvent.objects.filter(user__isnull=False)
    assert sorted(events.values_list("endpoint", flat=True)) == ["messages"] * 4 + ["messages.count_tokens"]
    assert {event.client.split("/")[0] for event in events} == {"anthropic-js"}
