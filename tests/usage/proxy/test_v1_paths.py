"""Every /v1 path answers in OpenAI's error shape: unknown paths, wrong methods, deep JSON, one model."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from governance.enforcement.effective import policy_cache_clear
from governance.json_depth import json_too_deep
from governance.models import Policy
from governance.services.policies import policy_set
from usage.models import UsageEvent

HELLO = [{"role": "user", "content": "hello there"}]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_openai_error(response: httpx.Response, status: int, code: str | None) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], bool(error["message"])) == (code, True)
    return error


@pytest.fixture(autouse=True)
def fresh_policies():
    policy_cache_clear()
    yield
    policy_cache_clear()


@pytest.fixture
def headers(employee_key) -> dict[str, str]:
    return {"authorization": f"Bearer {employee_key[1]}", "content-type": "application/json"}


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/nope"),
        ("POST", "/v1/chat/completion"),
        ("GET", "/v1/fine_tuning/jobs"),
        ("DELETE", "/v1/files/file-1"),
        ("GET", "/v1/"),
        ("GET", "/v1"),
        ("POST", "/v1/messages/batches/x"),
    ],
)
def test_unknown_paths_answer_404_in_openai_shape(live_proxy, headers, method, path):
    response = httpx.request(method, f"{live_proxy.url}{path}", headers=headers)

    error = assert_openai_error(response, 404, "unknown_url")
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", "/v1/chat/completions", "POST"),
        ("PUT", "/v1/embeddings", "POST"),
        ("POST", "/v1/models", "GET"),
        ("DELETE", "/v1/models/gpt-4o", "GET"),
        ("GET", "/v1/feedback", "POST"),
    ],
)
def test_wrong_methods_answer_405_in_openai_shape(live_proxy, headers, method, path, allowed):
    response = httpx.request(method, f"{live_proxy.url}{path}", headers=headers)

    assert_openai_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


def test_retrieves_a_model_the_policy_allows(client, upstream):
    model = client.models.retrieve("gpt-4o-mini")

    assert (model.id, model.object) == ("gpt-4o-mini", "model")
    assert model.model_dump() == next(m for m in client.models.list().data if m.id == "gpt-4o-mini").model_dump()


def test_a_model_outside_the_policy_or_unknown_is_not_found(client, upstream, team, live_proxy, headers):
    policy_set(scope=Policy.Scope.TEAM, team=team, values={"allowed_models": ["gpt-4o-mini"]})

    with pytest.raises(openai.NotFoundError) as hidden:
        client.models.retrieve("gpt-4o")
    unknown = httpx.get(f"{live_proxy.url}/v1/models/no-such-model", headers=headers)

    assert hidden.value.body == {
        "message": "The model 'gpt-4o' does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert_openai_error(unknown, 404, "model_not_found")
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"


def test_retrieving_a_model_needs_a_key(live_proxy):
    response = httpx.get(f"{live_proxy.url}/v1/models/gpt-4o")

    assert_openai_error(response, 401, "invalid_api_key")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/feedback"])
@pytest.mark.parametrize("depth", [129, 5_000, 30_000])
def test_json_nested_too_deep_is_refused_with_400(live_proxy, headers, upstream, path, depth):
    body = '{"model": "gpt-4o-mini", "messages": [], "metadata": ' + nested(depth) + "}"

    response = httpx.post(f"{live_proxy.url}{path}", content=body, headers=headers)

    assert_openai_error(response, 400, "invalid_json")
    assert upstream.requests == []


def test_json_nested_up_to_the_limit_is_accepted(client, upstream):
    depth_128 = json.loads(nested(126))  # two levels are the body and "extra"

    answer = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_body={"extra": depth_128})

    assert answer.choices[0].message.content
    assert upstream.requests[-1]["json"]["extra"] == depth_128


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        (nested(3), 3, False),
        (nested(4), 3, True),
        ('{"a": "[[[[[[[[[["}', 3, False),
        ("[[1], [2], [3], [4], [5]]", 2, False),
        ('{"a": [{"b": [{"c": 1}]}]}', 4, True),
        ('"\\"[[[[["', 1, False),
        ("[" * 10, 5, True),
        ("", 0, False),
    ],
)
def test_depth_counts_nesting_not_brackets_in_strings(text, limit, expected):
    assert json_too_deep(text, limit=limit) is expected


def test_not_found_paths_are_not_recorded(live_proxy, headers, ledger):
    httpx.get(f"{live_proxy.url}/v1/nope", headers=headers)

    ledger.drain()
    assert UsageEvent.objects.count() == 0
