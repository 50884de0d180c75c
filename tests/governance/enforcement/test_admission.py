"""Admission and settlement on both counter backends: budgets, reservations, rates, max_tokens, models."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
import redis.exceptions

import core.redis
from governance.enforcement.admission import (
    admission_admit,
    admission_settle,
    admission_settlement,
    models_visible,
    settlement_send,
)
from governance.enforcement.bounds import RequestShape
from governance.enforcement.counters import budget_key
from governance.enforcement.effective import policy_cache_invalidate
from governance.exceptions import BudgetExceeded, MaxTokensTooLarge, ModelNotAllowed, ModelUnpriced, RateLimited
from governance.periods import period_of
from governance.services.policies import policy_set

MARGIN = 16  # TOKENWISE_RESERVE_PROMPT_MARGIN_TOKENS


def admit(run, principal, *, model="gpt-4o-mini", max_tokens=10, prompt=4, endpoint="chat.completions", rid=None):
    shape = RequestShape(text_bytes=prompt, choices=0 if endpoint == "embeddings" else 1)
    return run(
        admission_admit(
            principal=principal, endpoint=endpoint, model=model, max_tokens=max_tokens, shape=shape, request_id=rid
        )
    )


def day_key(principal, clock, *, person=False, unit="tok"):
    return budget_key(
        team_id=principal.team_id,
        user_id=principal.user_id if person else None,
        unit=unit,
        period=period_of("day", at=clock.t),
    )


def test_reserves_the_worst_case_and_settles_the_actual_usage(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=100)

    admission = admit(run, alice, max_tokens=10, prompt=4)
    held = counters.budget(day_key(alice, clock))
    run(admission_settle(admission, total_tokens=12, cost_usd=Decimal("0.00001")))

    assert held == {"u": 0, "r": 4 + MARGIN + 10}
    assert counters.budget(day_key(alice, clock)) == {"u": 12, "r": 0}
    assert counters.reservations() == 0
    assert (admission.model, admission.max_tokens, admission.action) == ("gpt-4o-mini", None, "")


def test_settlement_is_idempotent_and_tops_up_beyond_the_reservation(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=100)
    admission = admit(run, alice, max_tokens=10, prompt=4)

    run(admission_settle(admission, total_tokens=45, cost_usd=None))
    run(admission_settle(admission, total_tokens=45, cost_usd=None))

    assert counters.budget(day_key(alice, clock)) == {"u": 45, "r": 0}


def test_rejects_a_call_that_does_not_fit_and_says_when_the_budget_resets(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=100)
    first = admit(run, alice, max_tokens=10)
    run(admission_settle(first, total_tokens=80, cost_usd=None))

    with pytest.raises(BudgetExceeded) as caught:
        admit(run, alice, max_tokens=10)

    error = caught.value
    assert (error.status, error.code, error.type) == (429, "budget_exceeded", "insufficient_quota")
    assert error.message == (
        "Budget exceeded: this call may use up to 30 tokens, but the daily token budget of team platform "
        "(100 tokens) has 20 tokens left. It resets at 2025-03-13T00:00:00+00:00. Lower max_tokens to fit, "
        "or wait until then."
    )
    assert error.headers == {
        "Retry-After": str(14 * 3600),
        "x-tokenwise-budget-reset": "2025-03-13T00:00:00+00:00",
        "x-tokenwise-budget-scope": "team:platform",
        "x-tokenwise-budget-period": "day",
        "x-tokenwise-budget-unit": "tokens",
        "x-tokenwise-budget-limit": "100",
        "x-tokenwise-budget-remaining": "20",
    }
    assert counters.budget(day_key(alice, clock)) == {"u": 80, "r": 0}
    assert counters.reservations() == 0


def test_calls_in_flight_hold_their_reservation(counters, clock, run, alice, bob, team_policy):
    team_policy(tokens_per_day=100)
    admit(run, alice, max_tokens=10)
    admit(run, bob, max_tokens=10)
    admit(run, alice, max_tokens=10)

    with pytest.raises(BudgetExceeded) as caught:
        admit(run, bob, max_tokens=10)

    assert "has 10 tokens left, 90 tokens of it held by calls in progress" in caught.value.message
    assert counters.budget(day_key(alice, clock)) == {"u": 0, "r": 90}


def test_personal_budget_is_checked_besides_the_team_pool(counters, clock, run, alice, bob, team_policy, person_policy):
    team_policy(tokens_per_day=1000)
    person_policy(tokens_per_day=50)
    run(admission_settle(admit(run, alice, max_tokens=10), total_tokens=30, cost_usd=None))

    with pytest.raises(BudgetExceeded) as caught:
        admit(run, alice, max_tokens=10)
    other = admit(run, bob, max_tokens=10)

    assert caught.value.headers["x-tokenwise-budget-scope"] == "user:alice@example.com"
    assert "daily token budget of alice@example.com in team platform (50 tokens) has 20 tokens left" in (
        caught.value.message
    )
    assert other.reservation is not None
    assert counters.budget(day_key(alice, clock, person=True)) == {"u": 30, "r": 0}
    assert counters.budget(day_key(alice, clock)) == {"u": 30, "r": 30}


def test_usd_budget_reserves_the_worst_case_cost_at_the_model_price(counters, clock, run, alice, team_policy):
    team_policy(usd_per_day=Decimal("0.0001"))  # 10_000 units of 1e-8 USD
    # gpt-4o: $2.50 / 1M input, $10 / 1M output -> (4 + 16) * 250 + 5 * 1000 units
    admission = admit(run, alice, model="gpt-4o", max_tokens=5, prompt=4)

    held = counters.budget(day_key(alice, clock, unit="usd"))
    with pytest.raises(BudgetExceeded) as caught:
        admit(run, alice, model="gpt-4o", max_tokens=5, prompt=4)
    run(admission_settle(admission, total_tokens=9, cost_usd=Decimal("0.00003")))

    assert held == {"u": 0, "r": 20 * 250 + 5 * 1000}
    assert caught.value.headers["x-tokenwise-budget-unit"] == "usd"
    assert caught.value.headers["x-tokenwise-budget-remaining"] == "0.0000"
    assert "may use up to $0.0001, but the daily USD budget of team platform ($0.0001) has $0.0000 left" in (
        caught.value.message
    )
    assert counters.budget(day_key(alice, clock, unit="usd")) == {"u": 3000, "r": 0}


def test_requests_per_minute_refill_over_the_minute(counters, clock, run, alice, team_policy):
    team_policy(requests_per_minute=3)
    admissions = [admit(run, alice) for _ in range(3)]

    with pytest.raises(RateLimited) as caught:
        admit(run, alice)
    clock.move(20)
    later = admit(run, alice)

    assert admissions[-1].headers == {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    error = caught.value
    assert (error.status, error.code, error.type) == (429, "rate_limit_exceeded", "rate_limit_error")
    assert error.headers == {
        "Retry-After": "20",
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    assert error.message == (
        "Rate limit reached for team platform on requests per min (RPM): Limit 3, Remaining 0, "
        "Requested 1. Please try again in 20s."
    )
    assert later.headers["x-ratelimit-remaining-requests"] == "0"


def test_tokens_per_minute_count_the_worst_case_and_refund_at_settlement(counters, clock, run, alice, person_policy):
    person_policy(tokens_per_minute=100)
    first = admit(run, alice, max_tokens=10)  # 30 tokens
    admit(run, alice, max_tokens=10)
    admit(run, alice, max_tokens=10)

    with pytest.raises(RateLimited) as caught:
        admit(run, alice, max_tokens=10)
    run(admission_settle(first, total_tokens=10, cost_usd=None))  # gives 20 back
    after_refund = admit(run, alice, max_tokens=10)

    assert caught.value.headers == {
        "Retry-After": "12",
        "x-ratelimit-limit-tokens": "100",
        "x-ratelimit-remaining-tokens": "10",
        "x-ratelimit-reset-tokens": "54s",
    }
    assert "alice@example.com in team platform on tokens per min (TPM): Limit 100, Remaining 10, Requested 30" in (
        caught.value.message
    )
    assert after_refund.headers["x-ratelimit-remaining-tokens"] == "0"


def test_a_call_larger_than_the_token_rate_passes_only_with_a_full_bucket(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_minute=50)

    big = admit(run, alice, max_tokens=100)  # needs 120: more than the bucket holds
    with pytest.raises(RateLimited) as caught:
        admit(run, alice, max_tokens=1)

    assert big.headers["x-ratelimit-remaining-tokens"] == "0"
    assert caught.value.headers["Retry-After"] == str(math.ceil((70 + 21) * 60 / 50))


def test_rate_limit_is_checked_before_anything_is_held(counters, clock, run, alice, team_policy):
    team_policy(requests_per_minute=1, tokens_per_day=1000)
    admit(run, alice)

    with pytest.raises(RateLimited):
        admit(run, alice)

    assert counters.budget(day_key(alice, clock)) == {"u": 0, "r": 30}


def test_max_tokens_above_the_cap_is_capped(counters, clock, run, alice, team_policy):
    team_policy(max_tokens=64, tokens_per_day=1000)

    capped = admit(run, alice, max_tokens=500)
    unasked = admit(run, alice, max_tokens=None)
    within = admit(run, alice, max_tokens=20)

    assert (capped.max_tokens, capped.action, capped.headers) == (64, "cap", {"x-tokenwise-max-tokens-capped": "64"})
    assert (unasked.max_tokens, unasked.action) == (64, "")
    assert (within.max_tokens, within.action) == (None, "")
    assert counters.budget(day_key(alice, clock))["r"] == 3 * (4 + MARGIN) + 64 + 64 + 20


def test_max_tokens_above_the_cap_is_rejected_when_the_policy_says_so(counters, clock, run, alice, team_policy):
    team_policy(max_tokens=64, max_tokens_action="reject", tokens_per_day=1000)

    with pytest.raises(MaxTokensTooLarge) as caught:
        admit(run, alice, max_tokens=65)

    assert (caught.value.status, caught.value.code, caught.value.param) == (
        400,
        "max_tokens_exceeds_policy",
        "max_tokens",
    )
    assert caught.value.message == (
        "max_tokens is 65, above the 64 your team's policy allows per request. Send max_tokens <= 64."
    )
    assert counters.budget(day_key(alice, clock)) == {}


def test_without_max_tokens_the_models_maximum_output_is_reserved(counters, clock, run, alice, team_policy, settings):
    settings.TOKENWISE_DEFAULT_MAX_OUTPUT_TOKENS = 500
    team_policy(tokens_per_day=100_000)

    chat = admit(run, alice, max_tokens=None, prompt=4)
    unknown = admit(run, alice, model="local-llama", max_tokens=None, prompt=4)
    embedding = admit(run, alice, endpoint="embeddings", model="text-embedding-3-small", max_tokens=None, prompt=7)

    assert (chat.max_tokens, unknown.max_tokens, embedding.max_tokens) == (None, 500, None)
    assert counters.budget(day_key(alice, clock))["r"] == (4 + MARGIN + 16_384) + (4 + MARGIN + 500) + (7 + MARGIN)


def test_model_allow_list_uses_the_most_specific_level_with_globs(counters, clock, run, alice, team):
    policy_set(scope="org", values={"allowed_models": ["gpt-4o-mini", "text-embedding-3-*"]})
    policy_set(scope="team", team=team, values={"allowed_models": ["gpt-4o", "gpt-4o-mini"]})

    allowed = admit(run, alice, model="gpt-4o")
    with pytest.raises(ModelNotAllowed) as caught:
        admit(run, alice, model="text-embedding-3-small", endpoint="embeddings")
    visible = run(models_visible(principal=alice, models=["gpt-4o", "gpt-4o-mini", "o3", "text-embedding-3-small"]))

    assert allowed.model == "gpt-4o"
    assert (caught.value.status, caught.value.code, caught.value.param) == (403, "model_not_allowed", "model")
    assert caught.value.message == (
        "The model 'text-embedding-3-small' is not allowed by your team's policy. Allowed: gpt-4o, gpt-4o-mini."
    )
    assert visible == ["gpt-4o", "gpt-4o-mini"]


def test_without_any_policy_everything_is_admitted_and_nothing_is_held(counters, clock, run, alice):
    admission = admit(run, alice, model="anything-at-all", max_tokens=100_000)

    assert (admission.model, admission.max_tokens, admission.action, admission.reservation) == (
        "anything-at-all",
        None,
        "",
        None,
    )
    assert counters.reservations() == 0


@pytest.mark.parametrize(("calls_in_budget", "expected"), [(25, (25, 75, 0)), (40, (30, 0, 70))])
def test_concurrent_admissions_take_exactly_the_rate_and_the_budget(
    counters, clock, run, alice, team_policy, calls_in_budget, expected
):
    import asyncio

    team_policy(requests_per_minute=30, tokens_per_day=calls_in_budget * 30)  # 30-token calls

    async def race() -> list[str]:
        async def one() -> str:
            try:
                await admission_admit(
                    principal=alice,
                    endpoint="chat.completions",
                    model="gpt-4o-mini",
                    max_tokens=10,
                    shape=RequestShape(text_bytes=4),
                )
                return "ok"
            except (RateLimited, BudgetExceeded) as exc:
                return exc.code

        return await asyncio.gather(*(one() for _ in range(100)))

    outcomes = run(race())

    assert (outcomes.count("ok"), outcomes.count("budget_exceeded"), outcomes.count("rate_limit_exceeded")) == expected
    assert counters.budget(day_key(alice, clock)) == {"u": 0, "r": expected[0] * 30}


# A lost answer is a Redis matter (the in-process counters answer at once): the Redis backend only.
@pytest.mark.parametrize("counters", ["redis"], indirect=True)
def test_a_settlement_sent_again_after_a_lost_answer_counts_once(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=100)
    ran = admission_settlement(admit(run, alice, max_tokens=10, prompt=4), total_tokens=12, cost_usd=None)
    never_ran = admission_settlement(admit(run, alice, max_tokens=10, prompt=4), total_tokens=7, cost_usd=None)

    run(ran.run())  # it ran; only its answer went missing
    run(ran.run_again())
    run(never_ran.run_again())  # its command never reached Redis

    assert counters.budget(day_key(alice, clock)) == {"u": 12 + 7, "r": 0}
    assert counters.reservations() == 0


@pytest.mark.parametrize("counters", ["redis"], indirect=True)
def test_a_settlement_whose_answer_times_out_is_sent_again(counters, clock, run, alice, team_policy, monkeypatch):
    team_policy(tokens_per_day=100)
    settlement = admission_settlement(admit(run, alice, max_tokens=10, prompt=4), total_tokens=12, cost_usd=None)
    pipeline = core.redis.pipeline

    async def lost(commands):  # the first pipeline runs, but its answer times out
        monkeypatch.setattr(core.redis, "pipeline", pipeline)
        await pipeline(commands)
        raise redis.exceptions.TimeoutError("Timeout reading from 127.0.0.1:6379")

    monkeypatch.setattr(core.redis, "pipeline", lost)

    async def send_and_read():
        await (await settlement_send(settlement, request_id="req_lost"))

    run(send_and_read())

    assert counters.budget(day_key(alice, clock)) == {"u": 12, "r": 0}
    assert counters.reservations() == 0


def test_a_policy_cap_applies_per_choice_and_every_choice_is_reserved(counters, clock, run, alice, team_policy):
    team_policy(max_tokens=500, tokens_per_day=100_000)

    admission = run(
        admission_admit(
            principal=alice,
            endpoint="chat.completions",
            model="gpt-4o-mini",
            max_tokens=None,
            shape=RequestShape(text_bytes=4, choices=8),
        )
    )

    assert admission.max_tokens == 500  # sent upstream: per choice
    assert counters.budget(day_key(alice, clock))["r"] == 4 + MARGIN + 8 * 500


def test_the_served_model_is_priced_not_the_name_asked(counters, clock, run, alice, team_policy):
    team_policy(usd_per_day=Decimal("1"))

    run(
        admission_admit(
            principal=alice,
            endpoint="chat.completions",
            model="alias-4o",
            served_model="gpt-4o",
            max_tokens=5,
            shape=RequestShape(text_bytes=4),
        )
    )

    assert counters.budget(day_key(alice, clock, unit="usd"))["r"] == 20 * 250 + 5 * 1000  # at gpt-4o's price


def test_an_unpriced_model_is_refused_under_a_usd_budget_unless_the_policy_allows_it(
    counters, clock, run, alice, team_policy
):
    team_policy(usd_per_day=Decimal("1"))
    with pytest.raises(ModelUnpriced) as caught:
        run(
            admission_admit(
                principal=alice,
                endpoint="chat.completions",
                model="alias",
                served_model="mystery",
                max_tokens=5,
                shape=RequestShape(text_bytes=4),
            )
        )
    refused = counters.budget(day_key(alice, clock, unit="usd"))
    team_policy(usd_per_day=Decimal("1"), allow_unpriced_models=True)
    policy_cache_invalidate()  # the change's commit hook does this (the test's transaction never commits)

    allowed = run(
        admission_admit(
            principal=alice,
            endpoint="chat.completions",
            model="alias",
            served_model="mystery",
            max_tokens=5,
            shape=RequestShape(text_bytes=4),
        )
    )

    assert (caught.value.status, caught.value.code, caught.value.param) == (403, "model_unpriced", "model")
    assert caught.value.message == (
        "The model 'alias' (served as 'mystery') has no price, so its cost cannot be counted against your "
        "team's USD budget. Ask an admin to set its price, or to allow unpriced models in the policy."
    )
    assert refused == {}
    assert allowed.model == "alias"
    assert counters.budget(day_key(alice, clock, unit="usd")) == {"u": 0, "r": 0}


def test_an_unpriced_downgrade_target_blocks_instead(counters, clock, run, alice, team_policy):
    team_policy(usd_per_day=Decimal("0.0001"), on_exceed="downgrade", downgrade_to="cheap-alias")

    async def serve(model: str) -> str:
        return {"cheap-alias": "mystery"}.get(model, model)

    with pytest.raises(BudgetExceeded):
        run(
            admission_admit(
                principal=alice,
                endpoint="chat.completions",
                model="gpt-4o",
                max_tokens=500,
                shape=RequestShape(text_bytes=4),
                serve=serve,
            )
        )

    held = counters.budget(day_key(alice, clock, unit="usd"))
    assert (held.get("u", 0), held.get("r", 0)) == (0, 0)
