"""Anthropic's Messages API through the real anthropic Python SDK, the live proxy and the fake upstream:
create, stream (every framing), count_tokens, a tool-use round trip, prompt caching, each error
Tokenwise makes in Anthropic's shape, and the ledger rows (tokens per class, cost, client, session)."""

from __future__ import annotations

import json
from decimal import Decimal

import anthropic
import httpx
import pytest
from django.db import OperationalError

from devtools.demo_upstream.tokens import count_tokens
from governance.enforcement.counters import local_counters
from governance.enforcement.effective import policy_cache_clear
from governance.services.policies import policy_set
from usage.models import UsageEvent

MODEL = "claude-sonnet-4-5"
HELLO = [{"role": "user", "content": "hello there"}]
# What the fake upstream counts for HELLO: 3 per message + a word a token.
HELLO_INPUT = 3 + 2
SONNET = {"input": Decimal("3"), "read": Decimal("0.30"), "write": Decimal("3.75"), "output": Decimal("15")}


def cost(*, input: int = 0, read: int = 0, write: int = 0, output: int = 0) -> Decimal:
    return (
        input * SONNET["input"] + read * SONNET["read"] + write * SONNET["write"] + output * SONNET["output"]
    ) / 10**6


@pytest.fixture(autouse=True)
def fresh_counters():
    policy_cache_clear()
    local_counters.reset()
    yield
    policy_cache_clear()
    local_counters.reset()


@pytest.fixture
def claude(live_proxy, employee_key):
    """The anthropic SDK pointed at Tokenwise, the employee's key as ``x-api-key``."""
    return anthropic.Anthropic(base_url=live_proxy.url, api_key=employee_key[1], max_retries=0, timeout=10)


def test_create_is_relayed_and_recorded_with_usage_cost_and_client(claude, upstream, event_of, employee_key):
    raw = claude.messages.with_raw_response.create(
        model=MODEL,
        max_tokens=64,
        messages=HELLO,
        metadata={"user_id": "u-1"},
        extra_headers={
            "anthropic-beta": "fine-grained-tool-streaming-2025-05-14,interleaved-thinking-2025-05-14",
            "X-Claude-Code-Session-Id": "sess-42",
        },
        extra_query={"beta": "true"},
        extra_body={"x_unknown": {"kept": [1, 2]}},
    )
    message = raw.parse()

    assert message.type == "message" and message.content[0].text.startswith("(demo)")
    received = upstream.requests[-1]
    assert (received["path"], received["query"]) == ("/v1/messages", "beta=true")
    assert received["headers"]["x-api-key"] == "sk-ant-upstream-secret"
    assert employee_key[1] not in json.dumps(received)
    assert received["headers"]["anthropic-version"] == raw.http_request.headers["anthropic-version"]
    assert received["headers"]["anthropic-beta"] == (
        "fine-grained-tool-streaming-2025-05-14,interleaved-thinking-2025-05-14"
    )
    assert received["json"]["x_unknown"] == {"kept": [1, 2]} and received["json"]["metadata"] == {"user_id": "u-1"}
    assert received["json"]["max_tokens"] == 64
    event = event_of(raw.headers["x-request-id"])
    output = message.usage.output_tokens
    assert (event.endpoint, event.status, event.stream, event.provider) == ("messages", 200, False, "default")
    assert (
        event.prompt_tokens,
        event.cached_tokens,
        event.cache_write_tokens,
        event.completion_tokens,
        event.total_tokens,
        event.is_estimated,
    ) == (HELLO_INPUT, 0, 0, output, HELLO_INPUT + output, False)
    assert event.cost_usd == cost(input=HELLO_INPUT, output=output)
    assert event.client.startswith("anthropic-python/") and event.session_id == "sess-42"
    assert event.max_tokens == 64


def test_stream_relays_every_event_in_order_and_records_usage(claude, upstream, event_of, framing):
    with claude.messages.with_streaming_response.create(
        model=MODEL, max_tokens=64, messages=HELLO, stream=True
    ) as response:
        body = response.read().decode()
        request_id = response.headers["x-request-id"]

    names = [line[len("event: ") :] for line in body.replace("\r\n", "\n").split("\n") if line.startswith("event: ")]
    words = 12  # the fake's default answer
    assert names == (
        ["message_start", "content_block_start", "ping"]
        + ["content_block_delta"] * words
        + ["content_block_stop", "message_delta", "message_stop"]
    )
    event = event_of(request_id)
    assert (event.stream, event.prompt_tokens, event.completion_tokens, event.is_estimated) == (
        True,
        HELLO_INPUT,
        words,
        False,
    )
    assert event.cost_usd == cost(input=HELLO_INPUT, output=words)
    assert event.output_simhash is not None and event.time_to_first_byte_ms is not None


def test_sdk_stream_helper_reads_the_text(claude, upstream):
    with claude.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert count_tokens(text) == 12 and final.usage.output_tokens == 12


def test_count_tokens_is_recorded_at_no_cost(claude, upstream, event_of):
    raw = claude.messages.with_raw_response.count_tokens(model=MODEL, messages=HELLO)
    assert raw.parse().input_tokens == HELLO_INPUT
    event = event_of(raw.headers["x-request-id"])
    assert (event.endpoint, event.status, event.total_tokens, event.cost_usd) == (
        "messages.count_tokens",
        200,
        0,
        Decimal("0"),
    )


def test_tool_use_round_trip(claude, upstream, event_of):
    tools = [
        {
            "name": "get_weather",
            "description": "Weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    first = claude.messages.create(
        model=MODEL,
        max_tokens=128,
        messages=[{"role": "user", "content": "Paris?"}],
        tools=tools,
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    use = next(block for block in first.content if block.type == "tool_use")
    assert (first.stop_reason, use.name) == ("tool_use", "get_weather")
    second = claude.messages.create(
        model=MODEL,
        max_tokens=128,
        tools=tools,
        messages=[
            {"role": "user", "content": "Paris?"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
        ],
    )
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
    assert upstream.requests[-1]["json"]["messages"][1]["content"][-1]["id"] == use.id


def test_prompt_caching_writes_then_reads_each_at_its_rate(claude, upstream, event_of):
    system = [{"type": "text", "text": "rules " * 1500, "cache_control": {"type": "ephemeral"}}]
    answers = [
        claude.messages.with_raw_response.create(model=MODEL, max_tokens=16, system=system, messages=HELLO)
        for _ in range(2)
    ]
    written, read = (event_of(raw.headers["x-request-id"]) for raw in answers)
    usage = answers[0].parse().usage
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (1500, 0)
    assert (written.cache_write_tokens, written.cached_tokens, written.prompt_tokens) == (1500, 0, 1500 + HELLO_INPUT)
    assert (read.cache_write_tokens, read.cached_tokens, read.prompt_tokens) == (0, 1500, 1500 + HELLO_INPUT)
    output = usage.output_tokens
    assert written.cost_usd == cost(input=HELLO_INPUT, write=1500, output=output)
    assert read.cost_usd == cost(input=HELLO_INPUT, read=1500, output=output)


def _error(call) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as caught:
        call()
    return caught.value


def test_errors_are_in_anthropics_shape(claude, live_proxy, upstream, team, settings):
    bad = anthropic.Anthropic(base_url=live_proxy.url, api_key="tw-not-a-key", max_retries=0)
    error = _error(lambda: bad.messages.create(model=MODEL, max_tokens=8, messages=HELLO))
    assert (error.status_code, error.body["type"], error.body["error"]["type"]) == (
        401,
        "error",
        "authentication_error",
    )

    error = _error(
        lambda: claude.messages.create(model=MODEL, messages=HELLO, max_tokens=None, extra_body={"max_tokens": None})
    )
    assert (error.status_code, error.body["error"]["type"]) == (400, "invalid_request_error")
    assert "max_tokens" in error.body["error"]["message"]

    settings.TOKENWISE_MAX_BODY_BYTES = 2000
    error = _error(
        lambda: claude.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x" * 3000}])
    )
    assert (error.status_code, error.body["error"]["type"]) == (413, "request_too_large")
    settings.TOKENWISE_MAX_BODY_BYTES = 8 * 1024 * 1024

    error = _error(lambda: claude.messages.create(model="gpt-4o", max_tokens=8, messages=HELLO))
    assert (error.status_code, error.body["error"]["type"]) == (404, "not_found_error")  # the upstream's, verbatim

    policy_set(scope="team", team=team, values={"allowed_models": ["claude-haiku-*"]})
    policy_cache_clear()
    error = _error(lambda: claude.messages.create(model=MODEL, max_tokens=8, messages=HELLO))
    assert (error.status_code, error.body["error"]["type"]) == (403, "permission_error")

    policy_set(scope="team", team=team, values={"requests_per_minute": 1})
    policy_cache_clear()
    claude.messages.create(model=MODEL, max_tokens=8, messages=HELLO)
    error = _error(lambda: claude.messages.create(model=MODEL, max_tokens=8, messages=HELLO))
    assert (error.status_code, error.body["error"]["type"]) == (429, "rate_limit_error")
    assert int(error.response.headers["retry-after"]) >= 1


def test_budget_refusal_says_budget_and_should_not_be_retried(claude, upstream, team, event_of):
    policy_set(scope="team", team=team, values={"tokens_per_day": 200})
    policy_cache_clear()
    error = _error(lambda: claude.messages.create(model=MODEL, max_tokens=32000, messages=HELLO))
    assert (error.status_code, error.body["error"]["type"]) == (429, "rate_limit_error")
    assert "budget" in error.body["error"]["message"].lower()
    assert error.response.headers["x-should-retry"] == "false"
    event = event_of(error.response.headers["x-request-id"])
    assert (event.status, event.error_code, event.total_tokens) == (429, "budget_exceeded", 0)


def test_output_is_fitted_to_the_budget_left_and_sent_upstream(claude, upstream, team, event_of):
    """Claude Code's max_tokens 32000 does not fit a 20,000-token budget: the call is sent with the
    output that fits, so the reservation is still what the call can be billed at most."""
    policy_set(scope="team", team=team, values={"tokens_per_day": 20_000})
    policy_cache_clear()
    raw = claude.messages.with_raw_response.create(model=MODEL, max_tokens=32000, messages=HELLO)
    sent = upstream.requests[-1]["json"]["max_tokens"]
    prompt_bound = len(json.dumps({"max_tokens": 32000, "messages": HELLO, "model": MODEL}, separators=(",", ":"))) + 16
    assert sent == int(raw.headers["x-tokenwise-max-tokens-fitted"]) == 20_000 - prompt_bound
    event = event_of(raw.headers["x-request-id"])
    assert (event.status, event.policy_action) == (200, "fit")


def test_a_stream_error_event_is_relayed_and_recorded(claude, upstream, event_of):
    with claude.messages.with_streaming_response.create(
        model=MODEL, max_tokens=64, messages=HELLO, stream=True, extra_body={"fake_fault": "stream-error"}
    ) as response:
        body = response.read().decode()
        request_id = response.headers["x-request-id"]
    assert body.rstrip().endswith('"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    event = event_of(request_id)
    assert (event.error_code, event.prompt_tokens) == ("overloaded_error", HELLO_INPUT)


def test_bearer_auth_and_api_hello(live_proxy, employee_key, upstream):
    claude = anthropic.Anthropic(base_url=live_proxy.url, auth_token=employee_key[1], max_retries=0)
    assert claude.messages.create(model=MODEL, max_tokens=8, messages=HELLO).type == "message"
    for method in ("HEAD", "GET"):
        assert httpx.request(method, f"{live_proxy.url}/api/hello").status_code == 200


def _compact(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _hold_concurrently(live_proxy, secret: str, upstream, *, calls: int, body: dict) -> list[int | None]:
    """Start ``calls`` Claude-Code-shaped calls one after another, each held open upstream (``stall``)
    while the next is admitted; the max_tokens each one was sent with, None for a refused one."""
    import asyncio

    async def run() -> list[int | None]:
        sent: list[int | None] = []
        async with httpx.AsyncClient(timeout=30) as http:
            held = []
            for _ in range(calls):
                before = upstream.stats["in_flight"]
                task = asyncio.ensure_future(
                    http.post(
                        f"{live_proxy.url}/v1/messages?beta=true",
                        content=_compact(dict(body, fake_fault="stall")),
                        headers={
                            "x-api-key": secret,
                            "anthropic-version": "2023-06-01",
                            "content-type": "application/json",
                        },
                    )
                )
                while not task.done() and upstream.stats["in_flight"] == before:
                    await asyncio.sleep(0.005)  # until it is refused, or held upstream
                if task.done():
                    assert (await task).status_code == 429
                    sent.append(None)
                else:
                    sent.append(upstream.requests[-1]["json"]["max_tokens"])
                    held.append(task)
            for task in held:
                task.cancel()
            await asyncio.gather(*held, return_exceptions=True)
        return sent

    return asyncio.run(run())


@pytest.mark.parametrize("fit_min, admitted", [(0, 2), (1024, 3)])
def test_concurrent_claude_code_calls_fit_the_budget_without_overspending(
    live_proxy, employee_key, upstream, team, settings, ledger, fit_min, admitted
):
    """Sub-agents side by side, each asking max_tokens 32000 with a 20 kB prompt (a bound of about
    20,100 tokens): a 130,000-token budget holds two whole worst cases; fitting admits a third with
    the output left (what is sent upstream), and the reservations never exceed the budget."""
    settings.TOKENWISE_FIT_MIN_OUTPUT_TOKENS = fit_min
    policy_set(scope="team", team=team, values={"tokens_per_day": 130_000})
    policy_cache_clear()
    body = {"model": MODEL, "max_tokens": 32000, "stream": True, "system": "x" * 20_000, "messages": HELLO}
    sent = _hold_concurrently(live_proxy, employee_key[1], upstream, calls=5, body=body)

    held = [max_tokens for max_tokens in sent if max_tokens is not None]
    assert len(held) == admitted and held[:2] == [32000, 32000]
    prompt_bound = len(_compact(dict(body, fake_fault="stall"))) + 16  # the body's bytes + the margin
    assert sum(prompt_bound + max_tokens for max_tokens in held) <= 130_000
    if fit_min:  # the third takes exactly the room left
        assert held[2] == 130_000 - 3 * prompt_bound - 2 * 32000
    ledger.drain()  # the held calls, abandoned by their caller before any answer, are settled and recorded
    abandoned = UsageEvent.objects.filter(status=499, error_code="client_disconnected", client_disconnected=True)
    assert abandoned.count() == admitted


def test_a_fitted_call_raises_no_exceeded_alert_a_refused_one_does(claude, upstream, team, manager, eager_tasks):
    from governance.models import Alert
    from governance.services.alerts import alerts_queued_wait

    policy_set(scope="team", team=team, values={"tokens_per_day": 20_000, "alert_thresholds": [100]})
    policy_cache_clear()
    raw = claude.messages.with_raw_response.create(model=MODEL, max_tokens=32000, messages=HELLO)
    assert "x-tokenwise-max-tokens-fitted" in raw.headers
    alerts_queued_wait()
    assert not Alert.objects.exists()  # the budget was not exceeded: the call fitted

    error = _error(
        lambda: claude.messages.create(model=MODEL, max_tokens=32000, messages=HELLO, system="x" * 30_000)
    )  # its prompt alone does not fit
    assert "budget" in error.body["error"]["message"].lower()
    alerts_queued_wait()
    alert = Alert.objects.get()
    assert (alert.threshold_percent, alert.is_exceeded) == (100, True)


@pytest.mark.parametrize(
    "fault, status, code",
    [
        (OperationalError("the database is gone"), 503, "service_unavailable"),
        (RuntimeError("a defect"), 500, "internal_error"),
    ],
)
def test_tokenwise_own_failures_answer_in_anthropic_shape_and_are_recorded(
    claude, upstream, event_of, monkeypatch, fault, status, code
):
    """The shared exit ladder (usage.proxy.views.call_answer) answers Messages callers in their shape."""

    async def broken(call, request):
        raise fault

    monkeypatch.setattr("usage.proxy.messages._forward_message", broken)

    with pytest.raises(anthropic.APIStatusError) as raised:
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}])

    response = raised.value.response
    assert response.status_code == status
    assert (response.json()["type"], response.json()["error"]["type"]) == ("error", "api_error")
    assert (response.headers.get("retry-after") == "5") is (status == 503)
    event = event_of(response.headers["x-request-id"])
    assert (event.status, event.error_code) == (status, code)
