"""POST /v1/feedback: rating a call with a key of the same person or team."""

from __future__ import annotations

import httpx
import pytest

from governance.models import Membership
from governance.services.keys import key_create
from tests.factories import UserFactory
from usage.models import Feedback

HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def called(client, upstream, event_of):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    return raw.headers["x-request-id"]


def rate(live_proxy, secret: str, payload: dict) -> httpx.Response:
    return httpx.post(f"{live_proxy.url}/v1/feedback", json=payload, headers={"authorization": f"Bearer {secret}"})


def test_rating_is_recorded_and_a_repeat_replaces_it(live_proxy, employee_key, called):
    first = rate(live_proxy, employee_key[1], {"request_id": called, "score": -1, "comment": "wrong file"})
    second = rate(live_proxy, employee_key[1], {"request_id": called, "score": 1})

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {
        "object": "feedback",
        "request_id": called,
        "score": 1,
        "scale": "binary",
        "comment": "",
        "positive": True,
    }
    rows = list(Feedback.objects.filter(request_id=called).values_list("score", "scale", "key_id"))
    assert rows == [(1, "binary", employee_key[0].pk)]


def test_teammate_key_may_rate_but_outsider_may_not(live_proxy, team, outsider, other_team, called):
    teammate = UserFactory(email="tom@example.com")
    Membership.objects.create(user=teammate, team=team)
    _, teammate_secret = key_create(user=teammate, team=team)
    _, outsider_secret = key_create(user=outsider, team=other_team)

    allowed = rate(live_proxy, teammate_secret, {"request_id": called, "score": 5})
    refused = rate(live_proxy, outsider_secret, {"request_id": called, "score": 1})

    assert allowed.status_code == 200 and allowed.json()["scale"] == "five"
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "request_not_found"
    assert Feedback.objects.filter(request_id=called).count() == 1


def test_five_star_scale_maps_low_scores_to_negative(live_proxy, employee_key, called):
    response = rate(live_proxy, employee_key[1], {"request_id": called, "score": 1, "scale": "five"})

    assert response.json()["positive"] is False
    assert Feedback.objects.get(request_id=called).normalised_score == -1.0


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"score": 1}, "missing_request_id"),
        ({"request_id": "x", "score": 1}, "request_not_found"),
        ({"score": 0}, "invalid_score"),
        ({"score": 6}, "invalid_score"),
        ({"score": "good"}, "invalid_score"),
        ({"score": True}, "invalid_score"),
        ({"score": -1, "scale": "five"}, "invalid_score"),
        ({"score": 1, "comment": 5}, "invalid_type"),
    ],
)
def test_rejects_bad_feedback(live_proxy, employee_key, called, payload, code):
    payload = (
        {"request_id": called, **payload} if "request_id" not in payload and code != "missing_request_id" else payload
    )

    response = rate(live_proxy, employee_key[1], payload)

    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] == code
    assert Feedback.objects.count() == 0


def test_rejects_bad_key(live_proxy, called):
    response = rate(live_proxy, "tw-nope", {"request_id": called, "score": 1})

    assert response.status_code == 401
    assert Feedback.objects.count() == 0


def test_feedback_right_after_each_call_is_accepted(client, live_proxy, employee_key):
    """The id proves whose call it is: no wait for the call's event to reach the ledger."""
    statuses = []
    for _ in range(30):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        statuses.append(rate(live_proxy, employee_key[1], {"request_id": raw.headers["x-request-id"], "score": 1}))
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=HELLO, stream=True
        ) as streamed:
            list(streamed.iter_bytes())
            request_id = streamed.headers["x-request-id"]
        statuses.append(rate(live_proxy, employee_key[1], {"request_id": request_id, "score": -1}))

    assert [response.status_code for response in statuses] == [200] * 60
    assert Feedback.objects.filter(key=employee_key[0]).count() == 60


def test_forged_and_foreign_ids_are_not_found(live_proxy, employee_key, outsider, other_team, upstream, called, ledger):
    _, outsider_secret = key_create(user=outsider, team=other_team)
    foreign = httpx.post(
        f"{live_proxy.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {outsider_secret}"},
        json={"model": "gpt-4o-mini", "messages": HELLO},
    ).headers["x-request-id"]
    # Another random part with this call's tags, tags zeroed, a made-up id, a damaged one, tags swapped.
    forged = [
        "req_" + "f" * 20 + called[24:],
        called[:-16] + "0" * 16,
        "req_" + "0" * 36,
        called[:-1] + "x",
        called[:24] + called[32:] + called[24:32],
    ]

    answers = [
        rate(live_proxy, employee_key[1], {"request_id": request_id, "score": 1}) for request_id in [foreign, *forged]
    ]
    ledger.drain()
    late = rate(live_proxy, employee_key[1], {"request_id": foreign, "score": 1})

    assert [(a.status_code, a.json().get("error", {}).get("code")) for a in [*answers, late]] == [
        (404, "request_not_found")
    ] * 7
    assert Feedback.objects.count() == 0


def test_ids_of_an_earlier_format_are_looked_up_in_the_ledger(live_proxy, employee, employee_key, team):
    from django.utils import timezone

    from usage.models import UsageEvent

    UsageEvent.objects.create(
        request_id="req_" + "a" * 32,
        created_at=timezone.now(),
        endpoint="chat.completions",
        user=employee,
        team=team,
        status=200,
    )

    response = rate(live_proxy, employee_key[1], {"request_id": "req_" + "a" * 32, "score": 1})

    assert response.status_code == 200
