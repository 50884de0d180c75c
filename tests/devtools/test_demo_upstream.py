"""The demo upstream, driven over real HTTP by the real openai client (sync and async)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from devtools.demo_upstream import (
    TRUNCATE_AFTER_DELTAS,
    cached_prompt_tokens,
    chat_prompt_tokens,
    count_tokens,
    parse_faults,
    responses_input_tokens,
    synthetic_answer,
)
from tests.fake_upstream import FakeUpstream

KEY = "sk-upstream-test"
MODEL_IDS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o3-mini",
    "o4-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
]
HELLO = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hello there general kenobi"}]
HELLO_PROMPT_TOKENS = 3 + (3 + 2) + (3 + 4)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with FakeUpstream(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture
def upstream(server: FakeUpstream) -> FakeUpstream:
    server.reset()
    return server


@pytest.fixture
def client(upstream: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0, timeout=5.0) as sync_client:
        yield sync_client


def async_client(upstream: FakeUpstream) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0, timeout=5.0)


def usage_block(*, prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def raw_post(upstream: FakeUpstream, path: str, body: dict | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    return httpx.post(f"{upstream.base_url}{path}", content=content, headers=headers, timeout=5.0)


# --- token rule -------------------------------------------------------------------------------------------


def test_counts_one_token_per_word():
    assert count_tokens("") == 0
    assert count_tokens("  hello   there\n general\tkenobi ") == 4


def test_counts_chat_overhead_per_message_and_reply():
    assert chat_prompt_tokens(HELLO) == 15
    assert (
        chat_prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "a b"}, {"type": "image_url"}]}])
        == 3 + 3 + 2 + 85
    )


def test_counts_responses_input_like_chat():
    assert responses_input_tokens(input="hello there") == 8
    assert (
        responses_input_tokens(
            input=[{"role": "user", "content": [{"type": "input_text", "text": "a b c"}]}], instructions="Be terse."
        )
        == 3 + 5 + 6
    )


def test_caches_long_prompts_in_steps_of_128():
    assert [cached_prompt_tokens(size) for size in (10, 1023, 1024, 1151, 1152)] == [0, 0, 1024, 1024, 1152]


def test_rejects_unknown_fault_directive():
    with pytest.raises(ValueError, match="unknown fake fault 'explode'"):
        parse_faults("slow:10,explode")


# --- models -----------------------------------------------------------------------------------------------


def test_lists_known_models(client):
    models = client.models.list()

    assert [model.id for model in models.data] == MODEL_IDS
    assert {(model.object, model.owned_by) for model in models.data} == {("model", "tokenwise-demo")}


def test_retrieves_one_model_and_rejects_unknown(client):
    assert client.models.retrieve("o4-mini").id == "o4-mini"

    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("gpt-9")

    assert raised.value.code == "model_not_found"


# --- chat completions -------------------------------------------------------------------------------------


def test_answers_chat_with_synthetic_text_and_exact_usage(client):
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, extra_body={"vendor_field": {"x": 1}}
    )

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.system_fingerprint == "fp_tokenwise_demo"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == synthetic_answer(seed_text="hello there general kenobi", tokens=12)
    assert completion.choices[0].message.content.startswith("(demo) ")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].logprobs is None
    assert completion.usage.model_dump(exclude_unset=True) == usage_block(prompt=HELLO_PROMPT_TOKENS, completion=12)


@pytest.mark.parametrize(
    ("limits", "completion_tokens"),
    [
        ({"max_completion_tokens": 5}, 5),
        ({"max_tokens": 7}, 7),
        ({"max_completion_tokens": 3, "max_tokens": 9}, 3),
        ({"max_tokens": 100_000}, 4096),
    ],
)
def test_answer_length_follows_max_tokens(client, limits, completion_tokens):
    completion = client.chat.completions.create(model="gpt-4.1", messages=HELLO, **limits)

    assert completion.usage.completion_tokens == completion_tokens
    assert count_tokens(completion.choices[0].message.content) == completion_tokens


def test_reasoning_model_spends_half_the_completion_on_reasoning(client):
    completion = client.chat.completions.create(model="o3-mini", messages=HELLO, max_completion_tokens=20)

    assert completion.model == "o3-mini-2025-01-31"
    assert completion.usage.model_dump(exclude_unset=True) == usage_block(
        prompt=HELLO_PROMPT_TOKENS, completion=20, reasoning=10
    )
    assert count_tokens(completion.choices[0].message.content) == 10


def test_long_prompt_reports_cached_tokens(client):
    completion = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "word " * 1100}])

    assert completion.usage.prompt_tokens == 1106
    assert completion.usage.prompt_tokens_details.cached_tokens == 1024


def test_same_prompt_gets_same_answer_and_snapshot_names_are_accepted(client):
    first = client.chat.completions.create(model="gpt-4o", messages=HELLO)

    second = client.chat.completions.create(model="gpt-4o-2024-08-06", messages=HELLO)
    other = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "something else"}])

    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.model == "gpt-4o-2024-08-06"
    assert other.choices[0].message.content != first.choices[0].message.content


def test_returns_n_choices_and_bills_each(client):
    completion = client.chat.completions.create(model="gpt-4o", messages=HELLO, n=3, max_tokens=4)

    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    assert completion.usage.completion_tokens == 12


def test_streams_chat_with_usage_chunk_only_when_asked(client):
    with client.chat.completions.create(
        model="gpt-4o", messages=HELLO, max_tokens=5, stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks[:-1]) == synthetic_answer(
        seed_text="hello there general kenobi", tokens=5
    )
    assert len(chunks) == 1 + 5 + 1 + 1
    assert [chunk.choices[0].finish_reason for chunk in chunks[:-1]] == [None] * 6 + ["stop"]
    assert [chunk.usage for chunk in chunks[:-1]] == [None] * 7
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump(exclude_unset=True) == usage_block(prompt=HELLO_PROMPT_TOKENS, completion=5)
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1


def test_stream_sse_framing_without_usage_request(upstream):
    response = raw_post(
        upstream, "/chat/completions", {"model": "gpt-4o", "messages": HELLO, "max_tokens": 2, "stream": True}
    )

    events = response.text.split("\n\n")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: {") for event in events[:-2])
    assert len(events[:-2]) == 4
    assert not any("usage" in json.loads(event.removeprefix("data: ")) for event in events[:-2])


def test_streams_chat_with_async_client(upstream):
    async def scenario() -> tuple[str, dict]:
        async with async_client(upstream) as aclient:
            stream = await aclient.chat.completions.create(
                model="gpt-4.1-nano", messages=HELLO, stream=True, stream_options={"include_usage": True}
            )
            chunks = [chunk async for chunk in stream]
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        return text, chunks[-1].usage.model_dump(exclude_unset=True)

    text, usage = asyncio.run(scenario())

    assert text == synthetic_answer(seed_text="hello there general kenobi", tokens=12)
    assert usage == usage_block(prompt=HELLO_PROMPT_TOKENS, completion=12)
    assert upstream.stats["streams_completed"] == 1


# --- legacy completions -----------------------------------------------------------------------------------


def test_answers_legacy_completion_with_default_16_tokens(client):
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="say something nice")

    assert completion.object == "text_completion"
    assert completion.choices[0].text == synthetic_answer(seed_text="say something nice", tokens=16)
    assert completion.usage.model_dump(exclude_unset=True) == usage_block(prompt=3, completion=16)


def test_answers_one_choice_per_prompt_including_token_arrays(client):
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt=[[1, 2, 3, 4], [5, 6]], max_tokens=2)

    assert [choice.index for choice in completion.choices] == [0, 1]
    assert completion.usage.prompt_tokens == 6
    assert completion.usage.completion_tokens == 4


def test_streams_legacy_completion(client):
    stream = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="a b", max_tokens=3, stream=True, stream_options={"include_usage": True}
    )

    chunks = list(stream)

    assert "".join(chunk.choices[0].text for chunk in chunks if chunk.choices) == synthetic_answer(
        seed_text="a b", tokens=3
    )
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.model_dump(exclude_unset=True) == usage_block(prompt=2, completion=3)


def test_rejects_chat_model_on_legacy_endpoint(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4o", prompt="x")


# --- embeddings -------------------------------------------------------------------------------------------


def test_embeds_strings_same_in_float_and_base64(client, upstream):
    as_floats = client.embeddings.create(
        model="text-embedding-3-small", input=["one two", "three"], encoding_format="float"
    )

    as_base64 = client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"])

    assert [item.index for item in as_floats.data] == [0, 1]
    assert len(as_floats.data[0].embedding) == 1536
    assert as_base64.data[0].embedding == pytest.approx(as_floats.data[0].embedding, abs=1e-6)
    assert as_floats.data[0].embedding != as_floats.data[1].embedding
    assert as_floats.usage.model_dump(exclude_unset=True) == {"prompt_tokens": 3, "total_tokens": 3}
    assert [request["json"]["encoding_format"] for request in upstream.requests] == ["float", "base64"]


def test_embeds_token_arrays_with_requested_dimensions(client):
    result = client.embeddings.create(
        model="text-embedding-3-large", input=[[1, 2, 3]], dimensions=256, encoding_format="float"
    )

    assert len(result.data[0].embedding) == 256
    assert sum(value * value for value in result.data[0].embedding) == pytest.approx(1.0, abs=1e-5)
    assert result.usage.prompt_tokens == 3


def test_rejects_too_many_dimensions(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=4000)

    assert raised.value.param == "dimensions"


# --- responses --------------------------------------------------------------------------------------------


def test_answers_responses_call(client):
    response = client.responses.create(
        model="gpt-4.1-mini", input="hello there", max_output_tokens=6, instructions="Be terse."
    )

    assert response.id.startswith("resp_")
    assert (response.object, response.status, response.model) == ("response", "completed", "gpt-4.1-mini-2025-04-14")
    assert response.output_text == synthetic_answer(seed_text="hello there", tokens=6)
    assert response.output[0].type == "message"
    assert response.output[0].content[0].annotations == []
    assert response.usage.model_dump(exclude_unset=True) == {
        "input_tokens": 3 + 5 + 5,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 6,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 19,
    }


def test_answers_responses_call_with_item_list_on_reasoning_model(client):
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "first question"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "an answer"}]},
        {"role": "user", "content": "second question please"},
    ]

    response = client.responses.create(model="o4-mini", input=items)

    assert response.output_text == synthetic_answer(seed_text="second question please", tokens=6)
    assert response.usage.input_tokens == 3 + (3 + 2) + (3 + 2) + (3 + 3)
    assert response.usage.output_tokens == 12
    assert response.usage.output_tokens_details.reasoning_tokens == 6


def test_streams_responses_events_in_openai_order(client):
    with client.responses.create(model="gpt-4o", input="hello there", max_output_tokens=3, stream=True) as stream:
        events = list(stream)

    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(11))
    assert (
        "".join(event.delta for event in events if event.type == "response.output_text.delta")
        == events[-1].response.output_text
    )
    assert events[-1].response.usage.total_tokens == 8 + 3


def test_responses_stream_helper_accumulates_final_response(client):
    with client.responses.stream(model="gpt-4o", input="hello there") as stream:
        final = stream.get_final_response()

    assert final.output_text == synthetic_answer(seed_text="hello there", tokens=12)
    assert final.usage.output_tokens == 12


def test_streams_responses_with_async_client(upstream):
    async def scenario() -> list[str]:
        async with async_client(upstream) as aclient:
            stream = await aclient.responses.create(model="gpt-4o", input="hi", stream=True)
            return [event.type async for event in stream]

    types = asyncio.run(scenario())

    assert types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 12


# --- errors -----------------------------------------------------------------------------------------------


def test_rejects_wrong_api_key(upstream):
    wrong = openai.OpenAI(base_url=upstream.base_url, api_key="sk-wrong-key", max_retries=0)

    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.chat.completions.create(model="gpt-4o", messages=HELLO)

    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"


def test_rejects_unknown_model(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-9", messages=HELLO)

    assert raised.value.body == {
        "message": "The model `gpt-9` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/chat/completions", {"model": "gpt-4o"}, "messages"),
        ("/chat/completions", {"messages": HELLO}, "model"),
        ("/completions", {"model": "gpt-3.5-turbo-instruct"}, "prompt"),
        ("/embeddings", {"model": "text-embedding-3-small"}, "input"),
        ("/responses", {"model": "gpt-4o"}, "input"),
    ],
)
def test_rejects_missing_required_field(upstream, path, body, param):
    response = raw_post(upstream, path, body)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": f"Missing required parameter: '{param}'.",
            "type": "invalid_request_error",
            "param": param,
            "code": "missing_required_parameter",
        }
    }


def test_rejects_malformed_json(upstream):
    response = raw_post(upstream, "/chat/completions", b"{not json")

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert upstream.requests[-1]["json"] is None


def test_answers_under_a_path_prefix(upstream):
    prefixed = openai.OpenAI(base_url=f"{upstream.url}/some/prefix/v1", api_key=KEY, max_retries=0)

    completion = prefixed.chat.completions.create(model="gpt-4o", messages=HELLO)

    assert completion.usage.prompt_tokens == HELLO_PROMPT_TOKENS
    assert upstream.requests[-1]["path"] == "/some/prefix/v1/chat/completions"


# --- recording --------------------------------------------------------------------------------------------


def test_records_requests_in_process_and_over_http(client, upstream):
    client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_headers={"X-Tokenwise-Purpose": "demo"})

    recorded = upstream.requests
    over_http = httpx.get(f"{upstream.url}/_fake/requests").json()
    stats = httpx.get(f"{upstream.url}/_fake/stats").json()
    httpx.post(f"{upstream.url}/_fake/reset")

    assert len(recorded) == 1
    assert (recorded[0]["method"], recorded[0]["path"]) == ("POST", "/v1/chat/completions")
    assert recorded[0]["headers"]["authorization"] == f"Bearer {KEY}"
    assert recorded[0]["headers"]["x-tokenwise-purpose"] == "demo"
    assert recorded[0]["json"] == {"model": "gpt-4o", "messages": HELLO}
    assert over_http == recorded
    assert stats["requests"] == 1
    assert upstream.requests == []
    assert upstream.stats["requests"] == 0


# --- faults -----------------------------------------------------------------------------------------------


def test_reset_drops_the_connection(client, upstream):
    with pytest.raises(openai.APIConnectionError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_body={"fake_fault": "reset"})

    assert not isinstance(raised.value, openai.APITimeoutError)
    assert upstream.stats["connections_dropped"] == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (400, openai.BadRequestError),
        (403, openai.PermissionDeniedError),
    ],
)
def test_status_fault_raises_matching_error(client, status, error_class):
    with pytest.raises(error_class) as raised:
        client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_body={"fake_fault": f"status:{status}"})

    assert raised.value.status_code == status
    assert set(raised.value.body) == {"message", "type", "param", "code"}
    assert raised.value.response.headers.get("retry-after") == ("1" if status == 429 else None)


def test_fault_can_come_from_header_and_combine(client):
    started = time.monotonic()

    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(
            model="text-embedding-3-small", input="x", extra_headers={"x-fake-fault": "slow:100, status:503"}
        )

    assert time.monotonic() - started >= 0.1


def test_unknown_fault_is_a_bad_request(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_body={"fake_fault": "explode"})

    assert raised.value.param == "fake_fault"


def test_stall_times_out_and_ends_when_client_leaves(client, upstream):
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_body={"fake_fault": "stall"}, timeout=0.3)

    assert upstream.wait_for_stats(lambda stats: stats["in_flight"] == 0)["requests"] == 1


def test_slow_delays_the_answer(client):
    started = time.monotonic()

    client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_body={"fake_fault": "slow:150"})

    assert time.monotonic() - started >= 0.15


def test_truncate_ends_stream_without_done(client, upstream):
    received = []
    stream = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, stream=True, extra_body={"fake_fault": "truncate"}
    )

    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk)

    assert len(received) == 1 + TRUNCATE_AFTER_DELTAS
    assert upstream.stats["streams_truncated"] == 1
    assert upstream.stats["streams_completed"] == 0


def test_truncate_raw_body_has_no_done(upstream):
    with httpx.stream(
        "POST",
        f"{upstream.base_url}/responses",
        headers={"authorization": f"Bearer {KEY}"},
        json={"model": "gpt-4o", "input": "x", "stream": True, "fake_fault": "truncate"},
    ) as response:
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()

    assert response.status_code == 200


def test_truncate_non_stream_answer_is_a_connection_error(client):
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model="gpt-4o", input="x", extra_body={"fake_fault": "truncate"})


def test_no_usage_omits_usage_everywhere(client):
    completion = client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_body={"fake_fault": "no-usage"})
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"fake_fault": "no-usage"},
        )
    )
    response = client.responses.create(model="gpt-4o", input="x", extra_body={"fake_fault": "no-usage"})
    embeddings = client.embeddings.create(
        model="text-embedding-3-small", input="x", extra_body={"fake_fault": "no-usage"}
    )

    assert completion.usage is None
    assert [chunk.usage for chunk in chunks] == [None] * len(chunks)
    assert all(chunk.choices for chunk in chunks)
    assert response.usage is None
    assert embeddings.usage is None


def test_long_and_slow_stream(client):
    started = time.monotonic()

    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True, extra_body={"fake_fault": "long-stream:40,slow-stream:5"}
        )
    )

    assert sum(1 for chunk in chunks if chunk.choices[0].delta.content) == 40
    assert time.monotonic() - started >= 0.2


def test_counts_stream_cancelled_by_client(client, upstream):
    stream = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, stream=True, extra_body={"fake_fault": "long-stream:1000,slow-stream:10"}
    )
    first = [next(stream) for _ in range(3)]

    stream.close()

    stats = upstream.wait_for_stats(lambda stats: stats["streams_cancelled"] == 1)
    assert len(first) == 3
    assert (stats["streams_started"], stats["streams_completed"], stats["in_flight"]) == (1, 0, 0)


# --- subprocess mode --------------------------------------------------------------------------------------


def test_runs_in_a_subprocess():
    with FakeUpstream(subprocess=True, api_key=KEY) as separate:
        client = openai.OpenAI(base_url=separate.base_url, api_key=KEY, max_retries=0, timeout=5.0)
        completion = client.chat.completions.create(model="gpt-4o", messages=HELLO)
        recorded, stats = separate.requests, separate.stats
        separate.reset()

        assert separate.app is None
        assert completion.usage.prompt_tokens == HELLO_PROMPT_TOKENS
        assert recorded[0]["json"]["messages"] == HELLO
        assert stats["requests"] == 1
        assert separate.stats["requests"] == 0
