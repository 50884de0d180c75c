"""Property-based bad input for ``/v1/*``: whatever arrives, never a 500, always OpenAI's error shape.

Hypothesis throws arbitrary JSON, wrong types and extreme numbers in known fields, bytes that are not
UTF-8, oversized bodies, and abused headers (huge or odd ``Authorization``, lying ``Content-Type``) at
the live proxy (fake upstream behind it). Every answer carries an ``x-request-id``, every error has the
``{"error": {"message", "type", "param", "code"}}`` body, and every request from a known key is recorded
exactly once (the others are counted per client address, not recorded).
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings as hypothesis_settings, strategies as st

from usage.models import UsageEvent

pytestmark = pytest.mark.slow

PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses")
FUZZ = hypothesis_settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=20,
)
extreme_numbers = st.sampled_from([-1, 0, 2**31, 2**63, 10**30, -(10**30), 1e308, -1e308, 0.5, True])
wrong_values = json_values | extreme_numbers | st.text(min_size=1000, max_size=3000)
known_fields = st.fixed_dictionaries(
    {"model": st.one_of(st.just("gpt-4o-mini"), wrong_values)},
    optional={
        name: wrong_values
        for name in (
            "messages",
            "prompt",
            "input",
            "max_tokens",
            "max_completion_tokens",
            "max_output_tokens",
            "stream",
            "stream_options",
            "metadata",
            "n",
            "temperature",
            "tools",
            "user",
        )
    },
)


def _from_no_known_key(response: httpx.Response) -> bool:
    code = response.json()["error"]["code"] if response.status_code in (401, 429) else None
    return code in ("invalid_api_key", "too_many_failed_authentications")


@pytest.fixture
def fuzz(live_proxy, employee_key, ledger):
    """Sends one request; checks the answer's shape; at teardown checks one ledger row per request."""
    request_ids: list[str] = []
    client = httpx.Client(base_url=live_proxy.url, timeout=30)

    def send(path: str, *, content: bytes, headers: dict | None = None, key: bool = True) -> httpx.Response:
        all_headers = {"content-type": "application/json", **(headers or {})}
        if key:
            all_headers.setdefault("authorization", f"Bearer {employee_key[1]}")
        response = client.post(path, content=content, headers=all_headers)
        assert response.status_code < 500 or response.status_code in (502, 504), response.text[:300]
        assert response.headers["x-request-id"].startswith("req_")
        if not _from_no_known_key(response):  # those are counted per address, not recorded
            request_ids.append(response.headers["x-request-id"])
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert isinstance(error["message"], str) and error["message"]
        return response

    yield send
    client.close()
    ledger.drain()
    recorded = sorted(UsageEvent.objects.values_list("request_id", flat=True))
    unexpected = list(
        UsageEvent.objects.exclude(request_id__in=request_ids).values_list(
            "request_id", "endpoint", "status", "error_code"
        )[:5]
    )
    assert (len(recorded), unexpected) == (len(request_ids), [])
    assert recorded == sorted(request_ids)


@FUZZ
@given(path=st.sampled_from(PATHS), body=json_values)
def test_arbitrary_json_never_fails_the_proxy(fuzz, path, body):
    fuzz(path, content=json.dumps(body).encode())


@FUZZ
@given(path=st.sampled_from(PATHS), body=known_fields)
def test_wrong_types_and_extreme_numbers_in_known_fields(fuzz, path, body):
    fuzz(path, content=json.dumps(body).encode())


VALID = {
    "/v1/chat/completions": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
    "/v1/completions": {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "max_tokens": 3},
    "/v1/embeddings": {"model": "text-embedding-3-small", "input": "hi"},
    "/v1/responses": {"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 3},
}
FIELDS = (
    "model",
    "messages",
    "prompt",
    "input",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "stream",
    "stream_options",
    "metadata",
    "n",
    "temperature",
    "tools",
    "user",
)


@FUZZ
@given(path=st.sampled_from(PATHS), field=st.sampled_from(FIELDS), value=wrong_values)
@example(path="/v1/chat/completions", field="max_tokens", value=10**30)  # once a 500: pricing overflowed
@example(path="/v1/responses", field="max_output_tokens", value=2**31)  # once a stalled ledger batch
@example(path="/v1/chat/completions", field="model", value="gpt-4o-mini\x00")  # once a stalled ledger batch
def test_one_wrong_field_in_an_otherwise_valid_call(fuzz, path, field, value):
    """Reaches the deep steps (admission, pricing, routing, relay, ledger) with one bad value."""
    fuzz(path, content=json.dumps(dict(VALID[path], **{field: value})).encode())


@FUZZ
@given(path=st.sampled_from(PATHS), content=st.binary(max_size=300))
def test_bytes_that_are_not_json_or_not_utf8(fuzz, path, content):
    response = fuzz(path, content=content)

    assert response.status_code == 400


@FUZZ
@given(
    path=st.sampled_from(PATHS),
    authorization=st.one_of(
        # (h11, the client's HTTP layer, refuses to send leading or trailing whitespace)
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300).map(str.strip),
        st.builds(lambda n: "Bearer tw-" + "x" * n, st.integers(min_value=0, max_value=20_000)),
        st.sampled_from(
            [
                "Bearer",
                "Bearer  tw-x",
                "bearer tw-abc",
                "Basic dXNlcjpwYXNz",
                "Bearer tw-\t\tx",
                "Bearer tw-a,Bearer tw-b",
            ]
        ),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin-1",
            "",
        ]
    ),
)
def test_abused_headers(fuzz, path, authorization, content_type):
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "input": "hi",
            "prompt": "hi",
            "max_tokens": 2,
        }
    ).encode()
    response = fuzz(path, content=body, headers={"authorization": authorization, "content-type": content_type})

    # Refused; once the address has failed TOKENWISE_AUTH_FAILURES_PER_MINUTE times, throttled.
    assert (response.status_code, response.json()["error"]["code"]) in (
        (401, "invalid_api_key"),
        (429, "too_many_failed_authentications"),
    )


@FUZZ
@given(
    path=st.sampled_from(PATHS),
    content_type=st.sampled_from(
        ["text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ""]
    ),
)
def test_content_type_lies_about_a_valid_body(fuzz, path, content_type):
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "input": "hi",
            "prompt": "hi",
            "max_tokens": 2,
        }
    ).encode()
    response = fuzz(path, content=body, headers={"content-type": content_type})

    # The body is read as JSON whatever the header says: it reaches the upstream (200, or the upstream's
    # own 4xx for a model that does not fit the endpoint), never a parse error.
    assert response.status_code == 200 or response.json()["error"]["code"] != "invalid_json"


@hypothesis_settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), extra=st.integers(min_value=1, max_value=100_000))
def test_oversized_bodies_are_413(fuzz, settings, path, extra):
    settings.TOKENWISE_MAX_BODY_BYTES = 20_000
    body = json.dumps({"model": "gpt-4o-mini", "input": "x" * (20_000 + extra)}).encode()

    response = fuzz(path, content=body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
