"""Who and what made a call: the client program and the coding agent's session, from request headers.

- ``client``: the product/version that opens the User-Agent - ``claude-cli/2.1.332``,
  ``codex_exec/0.171.0``. The Stainless SDKs write ``OpenAI/Python 2.3.0`` or ``Anthropic/JS 0.60.0``:
  read as ``openai-python/2.3.0``, ``anthropic-js/0.60.0``.
- ``session_id``: Claude Code's ``X-Claude-Code-Session-Id``, Codex CLI's ``session-id``, or the header
  an admin names (``TOKENWISE_SESSION_HEADER``).
- ``agent_id``, ``parent_agent_id``, ``request_class``: Claude Code's sub-agent and request-class
  headers (``x-claude-code-agent-id``, ``x-claude-code-parent-agent-id``, ``x-claude-code-request-class``),
  so reports can tell a session's sub-agents and compaction calls from its main thread.

Values are cut to their ledger columns; nothing here fails a call.
"""

from __future__ import annotations

import re

from django.conf import settings

from usage.ledger.event_record import UsageEventData

_SESSION_HEADERS: tuple[str, ...] = ("HTTP_X_CLAUDE_CODE_SESSION_ID", "HTTP_SESSION_ID")
_PRODUCT = re.compile(r"([A-Za-z0-9._+-]+)/([A-Za-z0-9._+-]+)(?:\s+([0-9][A-Za-z0-9._+-]*))?")


def client_of(user_agent: str) -> str:
    """The product/version opening a User-Agent ("" when it has none)."""
    match = _PRODUCT.match(user_agent.strip())
    if match is None:
        return user_agent.strip().split(" ", 1)[0][:100]
    product, second, version = match.groups()
    if version and not second[:1].isdigit():  # "OpenAI/Python 2.3.0": a Stainless SDK
        return f"{product.lower()}-{second.lower()}/{version}"[:100]
    return f"{product}/{second}"[:100]


def _meta_name(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


def call_context_read(event: UsageEventData, meta: dict) -> None:
    """Fill the event's client, session and agent fields from the request's headers (``request.META``)."""
    event.client = client_of(meta.get("HTTP_USER_AGENT") or "")
    names = _SESSION_HEADERS
    if settings.TOKENWISE_SESSION_HEADER:
        names = names + (_meta_name(settings.TOKENWISE_SESSION_HEADER),)
    event.session_id = next((meta[name] for name in names if meta.get(name)), "")[:128]
    event.agent_id = (meta.get("HTTP_X_CLAUDE_CODE_AGENT_ID") or "")[:64]
    event.parent_agent_id = (meta.get("HTTP_X_CLAUDE_CODE_PARENT_AGENT_ID") or "")[:64]
    event.request_class = (meta.get("HTTP_X_CLAUDE_CODE_REQUEST_CLASS") or "")[:32]
