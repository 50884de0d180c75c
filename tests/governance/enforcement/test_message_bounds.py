"""The Messages API's bound: body bytes less inline media, Claude's worst image, documents and
Anthropic-defined tools, stateful server tools, the 1M-context beta."""

import base64
import json

from governance.enforcement.bounds import (
    ANTHROPIC_TOOL_TOKENS,
    CLAUDE_IMAGE_TOKENS,
    prompt_bound,
    request_shape,
)

MARGIN = 16


def _bound(body: dict, betas: str = "") -> int:
    raw = json.dumps(body).encode()
    shape = request_shape(endpoint="messages", raw_size=len(raw), body=body, betas=betas)
    return prompt_bound(
        shape, model=body["model"], margin=MARGIN, unknown_image_tokens=4096, unknown_context_tokens=200_000
    )


def test_text_system_and_tools_are_bounded_by_the_body_bytes():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": [{"type": "text", "text": "rules " * 50}],
        "tools": [{"name": "t", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert _bound(body) == len(json.dumps(body).encode()) + MARGIN


def test_an_inline_image_counts_as_claudes_worst_image_not_its_base64():
    data = base64.b64encode(b"\x89PNG" * 5000).decode()
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [image, {"type": "text", "text": "what is it?"}]}],
    }
    assert _bound(body) == len(json.dumps(body).encode()) - len(data) + MARGIN + CLAUDE_IMAGE_TOKENS


def test_images_inside_tool_results_count_too():
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [image, image]}]}
        ],
    }
    assert _bound(body) == len(json.dumps(body).encode()) + MARGIN + 2 * CLAUDE_IMAGE_TOKENS


def test_a_document_is_bounded_by_the_context_window():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER" * 10},
                    }
                ],
            }
        ],
    }
    assert _bound(body) == 200_000 + MARGIN  # capped at the model's context


def test_anthropic_defined_tools_add_their_definition_and_server_tools_make_the_call_stateful():
    plain = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "bash_20250124", "name": "bash"}],
    }
    assert _bound(plain) == len(json.dumps(plain).encode()) + MARGIN + ANTHROPIC_TOOL_TOKENS
    searching = dict(plain, tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert _bound(searching) == 200_000 + MARGIN + ANTHROPIC_TOOL_TOKENS


def test_the_1m_context_beta_lifts_the_context_cap():
    big = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "w " * 150_000}]}
    assert _bound(big) == 200_000 + MARGIN
    assert _bound(big, betas="context-1m-2025-08-07") == len(json.dumps(big).encode()) + MARGIN
