"""The client and session read from a call's headers."""

import pytest

from usage.ledger.event_record import UsageEventData, utc_now
from usage.proxy.client_info import call_context_read, client_of


@pytest.mark.parametrize(
    "user_agent, client",
    [
        ("claude-cli/2.1.332 (external, cli)", "claude-cli/2.1.332"),
        ("codex_exec/0.171.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.171.0)", "codex_exec/0.171.0"),
        ("OpenAI/Python 2.3.0", "openai-python/2.3.0"),
        ("Anthropic/JS 1.17.0", "anthropic-js/1.17.0"),
        ("curl/8.5.0", "curl/8.5.0"),
        ("", ""),
    ],
)
def test_client_is_the_product_and_version(user_agent, client):
    assert client_of(user_agent) == client


def test_session_and_agent_headers(settings):
    event = UsageEventData(request_id="r", created_at=utc_now(), endpoint="messages")
    call_context_read(
        event,
        {
            "HTTP_USER_AGENT": "claude-cli/2.1.332 (external, cli)",
            "HTTP_X_CLAUDE_CODE_SESSION_ID": "s-1",
            "HTTP_X_CLAUDE_CODE_AGENT_ID": "a-2",
            "HTTP_X_CLAUDE_CODE_PARENT_AGENT_ID": "a-1",
            "HTTP_X_CLAUDE_CODE_REQUEST_CLASS": "compact",
        },
    )
    assert (event.client, event.session_id, event.agent_id, event.parent_agent_id, event.request_class) == (
        "claude-cli/2.1.332",
        "s-1",
        "a-2",
        "a-1",
        "compact",
    )
    codex = UsageEventData(request_id="r", created_at=utc_now(), endpoint="responses")
    call_context_read(codex, {"HTTP_SESSION_ID": "019a"})
    assert codex.session_id == "019a"
    settings.TOKENWISE_SESSION_HEADER = "X-Agent-Run"
    other = UsageEventData(request_id="r", created_at=utc_now(), endpoint="chat.completions")
    call_context_read(other, {"HTTP_X_AGENT_RUN": "run-7"})
    assert other.session_id == "run-7"
