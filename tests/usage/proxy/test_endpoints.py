"""Every /v1 endpoint through the real openai client, the live proxy and the fake upstream."""

from __future__ import annotations

import json
from decimal import Decimal

from devtools.demo_upstream.tokens import chat_prompt_tokens, count_tokens
from governance.models import Price
from governance.services.pricing import price_snapshot_invalidate
from usage.fingerprints import prompt_hash, simhash64
from usage.models import UsageEvent

HELLO = [{"role": "user", "content": "hello there"}]


def test_chat_completion_is_relayed_and_recorded_with_exact_usage_and_cost(client, upstream, event_of):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5)
    completion = raw.parse()

    request_id = raw.headers["x-request-id"]
    event = event_of(request_id)
    assert completion.usage.prompt_tokens == chat_prompt_tokens(HELLO) == 8
    assert completion.usage.completion_tokens == 5
    assert (event.user.email, event.team.slug, event.endpoint, event.status) == (
        "alice@example.com",
        "platform",
        "chat.completions",
        200,
    )
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens, event.is_estimated) == (8, 5, 13, False)
    assert (event.model_requested, event.model_served, event.provider, event.stream) == (
        "gpt-4o-mini",
        "gpt-4o-mini",
        "default",
        False,
    )
    # gpt-4o-mini default price: $0.15 / 1M input, $0.60 / 1M output
    assert event.cost_usd == Decimal("8") * Decimal("0.15") / 10**6 + Decimal("5") * Decimal("0.60") / 10**6
    assert event.price_id is not None
    assert event.max_tokens == 5
    assert request_id.startswith("req_") and request_id != completion.id


def test_upstream_gets_provider_key_not_caller_key_and_unknown_fields(client, upstream, employee_key):
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_body={"x_custom": {"a": [1, 2]}})

    received = upstream.requests[-1]
    assert received["headers"]["authorization"] == "Bearer sk-upstream-secret"
    assert employee_key[1] not in json.dumps(received)
    assert received["json"]["x_custom"] == {"a": [1, 2]}


def test_stream_hides_usage_chunk_the_caller_did_not_ask_for(client, upstream, event_of, framing):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=HELLO, max_tokens=7, stream=True
    ) as response:
        chunks = list(response.parse())
        request_id = response.headers["x-request-id"]

    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices or chunk.model_extra.get("prompt_filter_results") for chunk in chunks)  # Azure's first
    assert upstream.requests[-1]["json"]["stream_options"] == {"include_usage": True}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert count_tokens(text) == 7
    event = event_of(request_id)
    assert (event.stream, event.prompt_tokens, event.completion_tokens, event.is_estimated) == (True, 8, 7, False)
    assert event.time_to_first_byte_ms is not None and event.output_simhash is not None


def test_stream_keeps_usage_chunk_when_the_caller_asks(client, upstream, event_of, framing):
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, max_tokens=4, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert chunks[-1].usage.prompt_tokens == 8


def test_legacy_completions_with_and_without_stream(client, upstream, event_of, framing):
    raw = client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt="say one two three", max_tokens=3
    )
    streamed = client.completions.with_streaming_response.create(
        model="gpt-3.5-turbo-instruct", prompt="say one two three", max_tokens=6, stream=True
    )

    assert raw.parse().usage.total_tokens == 4 + 3
    event = event_of(raw.headers["x-request-id"])
    assert (event.endpoint, event.prompt_tokens, event.completion_tokens) == ("completions", 4, 3)
    with streamed as response:
        list(response.parse())
        stream_id = response.headers["x-request-id"]
    event = event_of(stream_id)
    assert (event.stream, event.prompt_tokens, event.completion_tokens) == (True, 4, 6)


def test_embeddings_are_recorded(client, upstream, event_of):
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["one two", "three"])

    result = raw.parse()
    assert len(result.data) == 2
    event = event_of(raw.headers["x-request-id"])
    assert (event.endpoint, event.prompt_tokens, event.completion_tokens, event.total_tokens) == ("embeddings", 3, 0, 3)
    assert event.cost_usd == Decimal(3) * Decimal("0.02") / 10**6


def test_responses_with_and_without_stream(client, upstream, event_of, framing):
    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input="write a haiku", max_output_tokens=9)
    response = raw.parse()

    assert response.usage.output_tokens == 9
    event = event_of(raw.headers["x-request-id"])
    assert (event.endpoint, event.completion_tokens, event.max_tokens) == ("responses", 9, 9)
    assert event.prompt_tokens == response.usage.input_tokens
    with client.responses.with_streaming_response.create(
        model="gpt-4o-mini", input="write a haiku", max_output_tokens=5, stream=True
    ) as streamed:
        events = list(streamed.parse())
        stream_id = streamed.headers["x-request-id"]
    assert events[-1].type == "response.completed"
    event = event_of(stream_id)
    assert (event.stream, event.completion_tokens, event.prompt_tokens) == (True, 5, response.usage.input_tokens)


def test_models_lists_upstream_models(client, upstream):
    models = client.models.list()

    ids = {m.id for m in models.data}
    assert {"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"} <= ids


def test_missing_usage_is_estimated_and_marked(client, upstream, event_of):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 400}], extra_body={"fake_fault": "no-usage"}
    )

    event = event_of(raw.headers["x-request-id"])
    assert event.is_estimated is True
    assert event.prompt_tokens == 100  # 400 characters at four characters a token
    assert event.completion_tokens > 0


def test_model_without_price_has_unknown_cost_not_zero(client, upstream, event_of):
    Price.objects.filter(model="gpt-4.1-nano").delete()
    price_snapshot_invalidate()

    raw = client.chat.completions.with_raw_response.create(model="gpt-4.1-nano", messages=HELLO)

    event = event_of(raw.headers["x-request-id"])
    assert (event.status, event.total_tokens, event.cost_usd, event.price_id) == (200, 8 + 12, None, None)


def test_purpose_header_is_recorded(client, upstream, event_of):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO, extra_headers={"X-Tokenwise-Purpose": "code-review"}
    )

    assert event_of(raw.headers["x-request-id"]).purpose == "code-review"
    assert UsageEvent.objects.count() == 1


def test_streamed_answers_are_fingerprinted_from_the_text_the_caller_received(client, upstream, event_of, framing):
    prompt = [{"role": "user", "content": "Tell me about the Rhine and its bridges"}]
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=prompt, max_tokens=40, stream=True
    ) as streamed:
        chat_text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed.parse() if chunk.choices)
        chat_id = streamed.headers["x-request-id"]
    with client.responses.with_streaming_response.create(
        model="gpt-4o-mini", input="write a haiku about rivers", max_output_tokens=30, stream=True
    ) as streamed:
        responses_text = "".join(e.delta for e in streamed.parse() if e.type == "response.output_text.delta")
        responses_id = streamed.headers["x-request-id"]

    chat, responses = event_of(chat_id), event_of(responses_id)
    assert chat_text and responses_text
    assert (chat.output_simhash, chat.prompt_hash, chat.prompt_simhash) == (
        simhash64(chat_text),
        prompt_hash("Tell me about the Rhine and its bridges"),
        simhash64("Tell me about the Rhine and its bridges"),
    )
    assert responses.output_simhash == simhash64(responses_text)
    assert responses.prompt_simhash == simhash64("write a haiku about rivers")


def test_usage_option_is_added_to_the_callers_own_body_whatever_its_encoding(live_proxy, employee_key, upstream):
    import httpx

    headers = {"Authorization": f"Bearer {employee_key[1]}", "Content-Type": "application/json"}
    fields = {
        "model": "gpt-4o-mini",
        "messages": HELLO,
        "max_tokens": 3,
        "stream": True,
        "x_unknown": {"kept": [1, "two"]},
    }
    bodies = [
        json.dumps(fields, indent=2).encode() + b"\n  ",  # the usual: UTF-8, spaced as the caller likes
        json.dumps(fields).encode("utf-16"),  # JSON in UTF-16 (with its BOM): re-serialised instead
        json.dumps(dict(fields, stream_options=None)).encode(),
    ]  # an option there, but not an object
    for body in bodies:
        with httpx.stream(
            "POST", f"{live_proxy.url}/v1/chat/completions", content=body, headers=headers, timeout=10
        ) as response:
            assert response.status_code == 200
            lines = [line for line in response.iter_lines() if line.startswith("data: {")]
        assert lines and all('"usage":{' not in line for line in lines)  # the extra chunk stays hidden
        received = upstream.requests[-1]["json"]
        assert received == dict(fields, stream_options={"include_usage": True})
