"""Bad input and upstream failures: a clear OpenAI-shaped error, the right status, and one ledger row."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import openai
import pytest
from django.utils import timezone

from governance.services.keys import key_revoke
from usage.models import UsageEvent

HELLO = [{"role": "user", "content": "hello there"}]


def assert_openai_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert response.headers["x-request-id"].startswith("req_")
    return body["error"]


@pytest.fixture
def post(live_proxy, employee_key):
    def send(
        path: str = "/v1/chat/completions",
        *,
        content: bytes | None = None,
        payload=None,
        secret: str | None = employee_key[1],
        headers: dict | None = None,
    ) -> httpx.Response:
        all_headers = {"content-type": "application/json", **(headers or {})}
        if secret is not None:
            all_headers["authorization"] = f"Bearer {secret}"
        if content is None:
            content = json.dumps(
                payload if payload is not None else {"model": "gpt-4o-mini", "messages": HELLO}
            ).encode()
        return httpx.post(f"{live_proxy.url}{path}", content=content, headers=all_headers, timeout=10)

    return send


def test_rejects_missing_key_without_a_ledger_row(post, ledger):
    response = post(secret=None)

    assert_openai_error(response, 401, "invalid_api_key")
    ledger.drain()
    assert UsageEvent.objects.count() == 0  # calls of no known key are counted per address instead


def test_rejects_unknown_key(post, upstream):
    response = post(secret="tw-not-a-real-key")

    assert_openai_error(response, 401, "invalid_api_key")
    assert upstream.requests == []


def test_rejects_revoked_key(post, employee_key, upstream, event_of):
    key_revoke(key=employee_key[0])

    response = post()

    assert_openai_error(response, 401, "api_key_revoked")
    assert upstream.requests == []
    assert event_of(response.headers["x-request-id"]).key_id == employee_key[0].pk


def test_rejects_expired_key(post, employee_key, upstream):
    key = employee_key[0]
    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save(update_fields=["expires_at"])

    response = post()

    assert_openai_error(response, 401, "api_key_expired")
    assert upstream.requests == []


@pytest.mark.parametrize(
    "content, code",
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (b"[1, 2, 3]", "invalid_json"),
        (b'{"messages": []}', "missing_model"),
        (b'{"model": 42, "messages": []}', "missing_model"),
        (b'{"model": "gpt-4o-mini", "stream": "yes"}', "invalid_type"),
    ],
)
def test_rejects_malformed_bodies(post, upstream, event_of, content, code):
    response = post(content=content)

    assert_openai_error(response, 400, code)
    assert upstream.requests == []
    assert event_of(response.headers["x-request-id"]).status == 400


def test_rejects_oversized_body_with_413(post, settings, upstream, event_of):
    settings.TOKENWISE_MAX_BODY_BYTES = 1000

    response = post(payload={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 2000}]})

    assert_openai_error(response, 413, "request_too_large")
    assert upstream.requests == []
    assert event_of(response.headers["x-request-id"]).error_code == "request_too_large"


def test_unknown_model_is_404_in_openai_shape(client, upstream, event_of):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=HELLO)

    assert caught.value.code == "model_not_found"
    event = event_of(caught.value.response.headers["x-request-id"])
    assert (event.status, event.error_code, event.total_tokens, event.cost_usd) == (404, "model_not_found", 0, 0)


@pytest.mark.parametrize(
    "status, exc_class",
    [
        (500, openai.InternalServerError),
        (429, openai.RateLimitError),
        (400, openai.BadRequestError),
        (503, openai.InternalServerError),
    ],
)
def test_upstream_errors_pass_through(client, upstream, event_of, status, exc_class):
    with pytest.raises(exc_class) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, extra_body={"fake_fault": f"status:{status}"}
        )

    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and caught.value.body["message"]
    event = event_of(caught.value.response.headers["x-request-id"])
    assert (event.status, event.total_tokens) == (status, 0)


def test_upstream_timeout_is_504(client, upstream, settings, event_of):
    settings.TOKENWISE_UPSTREAM_READ_TIMEOUT_S = 0.3

    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_body={"fake_fault": "stall"})

    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert event_of(caught.value.response.headers["x-request-id"]).error_code == "upstream_timeout"


def test_upstream_connection_reset_is_502(client, upstream, event_of):
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_body={"fake_fault": "reset"})

    assert caught.value.status_code == 502
    assert event_of(caught.value.response.headers["x-request-id"]).error_code == "upstream_connection_error"


def test_truncated_stream_ends_with_an_error_event_and_is_recorded(client, upstream, event_of):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=HELLO, stream=True, max_tokens=50, extra_body={"fake_fault": "truncate"}
    ) as response:
        request_id = response.headers["x-request-id"]
        with pytest.raises(openai.APIError):
            list(response.parse())

    event = event_of(request_id)
    assert (event.error_code, event.is_estimated, event.stream) == ("upstream_stream_interrupted", True, True)
    assert event.completion_tokens > 0


def test_client_disconnect_mid_stream_is_recorded_and_cancels_upstream(live_proxy, employee_key, upstream, event_of):
    payload = {
        "model": "gpt-4o-mini",
        "messages": HELLO,
        "stream": True,
        "fake_fault": "slow-stream:50,long-stream:200",
    }
    with httpx.Client(timeout=10) as http:
        with http.stream(
            "POST",
            f"{live_proxy.url}/v1/chat/completions",
            json=payload,
            headers={"authorization": f"Bearer {employee_key[1]}"},
        ) as response:
            request_id = response.headers["x-request-id"]
            received = 0
            for _ in response.iter_bytes():
                received += 1
                if received >= 3:
                    break

    stats = upstream.wait_for_stats(lambda s: s["streams_cancelled"] >= 1)
    event = event_of(request_id)
    assert stats["streams_completed"] == 0
    assert (event.client_disconnected, event.is_estimated, event.error_code) == (True, True, "client_disconnected")
    assert 0 < event.completion_tokens < 200


def test_wrong_method_is_405_in_openai_shape(live_proxy):
    response = httpx.get(f"{live_proxy.url}/v1/chat/completions")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_every_rejected_call_of_a_known_key_is_one_ledger_row(post, event_of, ledger):
    known = [post(content=b"{"), post(payload={"model": "gpt-4o-mini", "max_tokens": -1})]
    unknown = [post(secret=None), post(secret="tw-bad")]

    ids = [r.headers["x-request-id"] for r in known]
    for request_id in ids:
        event_of(request_id)
    assert UsageEvent.objects.filter(request_id__in=ids).count() == 2
    ledger.drain()
    assert UsageEvent.objects.count() == 2  # no key, or an unknown one: counted per address, not recorded
    assert [r.status_code for r in unknown] == [401, 401]


def test_rejects_oversized_chunked_body_without_buffering_it(live_proxy, employee_key, settings, upstream, event_of):
    settings.TOKENWISE_MAX_BODY_BYTES = 10_000

    def body():
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(200):
            yield b"x" * 1000
        yield b'"}]}'

    response = httpx.post(
        f"{live_proxy.url}/v1/chat/completions",
        content=body(),
        timeout=10,
        headers={"authorization": f"Bearer {employee_key[1]}", "content-type": "application/json"},
    )

    assert_openai_error(response, 413, "request_too_large")
    assert upstream.requests == []
    event = event_of(response.headers["x-request-id"])
    assert (event.status, event.key_id) == (413, employee_key[0].pk)


def test_accepts_chunked_body_under_the_limit(live_proxy, employee_key, upstream, event_of):
    def body():
        yield b'{"model": "gpt-4o-mini", '
        yield b'"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 2}'

    response = httpx.post(
        f"{live_proxy.url}/v1/chat/completions",
        content=body(),
        timeout=10,
        headers={"authorization": f"Bearer {employee_key[1]}", "content-type": "application/json"},
    )

    assert response.status_code == 200
    assert event_of(response.headers["x-request-id"]).total_tokens == 10
