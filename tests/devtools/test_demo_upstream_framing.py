"""The demo upstream's stream framings: the writes each one makes, and the real openai client reading them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from devtools.demo_upstream import payloads, synthetic_answer
from devtools.demo_upstream.framing import FRAMINGS, SPLIT_PAUSE_MS, USAGE_PAUSE_MS, frame
from tests.fake_upstream import FakeUpstream

HELLO = [{"role": "user", "content": "hello there general kenobi"}]
USAGE = payloads.chat_usage(prompt=9, completion=3, cached=0, reasoning=0)


def _events() -> list[tuple[bytes, bool]]:
    return list(
        payloads.chat_stream(
            id="chatcmpl-1",
            created=1,
            model="gpt-4o-2024-08-06",
            answers=[["one", "two", "three"]],
            usage=USAGE,
            include_usage=True,
        )
    )


def _writes(name: str) -> list[tuple[bytes, bool, float]]:
    return list(frame(name, iter(_events())))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(server: FakeUpstream) -> Iterator[FakeUpstream]:
    server.reset()
    yield server
    server.framing = None


def test_without_a_framing_each_event_is_one_write():
    assert _writes(None) == [(event, is_delta, 0.0) for event, is_delta in _events()]


def test_openai_writes_the_usage_chunk_alone_after_a_pause():
    events, writes = _events(), _writes("openai")

    assert [data for data, _, _ in writes] == [event for event, _ in events]
    assert [pause for _, _, pause in writes] == [0.0] * 5 + [USAGE_PAUSE_MS, 0.0]
    assert b'"choices":[],"usage":{' in writes[5][0]


def test_vllm_writes_two_events_at_a_time_and_the_end_together():
    events, writes = _events(), _writes("vllm")

    assert b"".join(data for data, _, _ in writes) == b"".join(event for event, _ in events)
    assert [data for data, _, _ in writes] == [
        events[0][0] + events[1][0],
        events[2][0] + events[3][0],
        b"".join(event for event, _ in events[4:]),
    ]
    assert [is_delta for _, is_delta, _ in writes] == [True, True, False]


def test_ollama_writes_usage_and_done_together():
    events, writes = _events(), _writes("ollama")

    assert [data for data, _, _ in writes] == [event for event, _ in events[:5]] + [events[5][0] + events[6][0]]


def test_split_writes_each_event_in_two_halves_and_crlf_changes_line_ends():
    events = [event for event, _ in _events()]

    split = _writes("split")
    assert [data for data, _, _ in split] == [
        half for event in events for half in (event[: len(event) // 2], event[len(event) // 2 :])
    ]
    assert [pause for _, _, pause in split] == [0.0, SPLIT_PAUSE_MS] * len(events)
    assert [data for data, _, _ in _writes("crlf")] == [event.replace(b"\n", b"\r\n") for event in events]


def test_azure_sends_prompt_filter_results_first_and_content_filter_results_in_choices():
    writes = [data for data, _, _ in _writes("azure")]

    first = json.loads(writes[0].removeprefix(b"data: "))
    assert (first["choices"], first["id"], first["prompt_filter_results"][0]["prompt_index"]) == ([], "", 0)
    chunks = [json.loads(data.removeprefix(b"data: ")) for data in writes[1:-1]]
    assert [list(chunk) == sorted(chunk) for chunk in chunks] == [True] * 6
    assert all("content_filter_results" in choice for chunk in chunks for choice in chunk["choices"])
    assert (chunks[-1]["choices"], chunks[-1]["usage"]) == ([], USAGE)
    assert writes[-1] == payloads.DONE


@pytest.mark.parametrize("name", FRAMINGS)
def test_the_openai_client_reads_every_framing(upstream, name):
    upstream.framing = name
    client = openai.OpenAI(base_url=upstream.base_url, api_key="sk-any", max_retries=0, timeout=5.0)

    with client.chat.completions.create(
        model="gpt-4o", messages=HELLO, max_tokens=4, stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == synthetic_answer(seed_text="hello there general kenobi", tokens=4)
    assert (chunks[-1].choices, chunks[-1].usage.completion_tokens) == ([], 4)
    assert upstream.stats["streams_completed"] == 1


def test_a_request_picks_its_own_framing_and_an_unknown_one_is_refused(upstream):
    body = {"model": "gpt-4o", "messages": HELLO, "max_tokens": 2, "stream": True}

    crlf = httpx.post(f"{upstream.base_url}/chat/completions", json=dict(body, fake_fault="framing:crlf"))
    unknown = httpx.post(f"{upstream.base_url}/chat/completions", headers={"x-fake-fault": "framing:morse"}, json=body)

    assert crlf.content.endswith(b"\r\n\r\ndata: [DONE]\r\n\r\n") and b"\n\n" not in crlf.content.replace(b"\r\n", b"")
    assert unknown.status_code == 400
    assert "unknown framing 'morse'" in unknown.json()["error"]["message"]
