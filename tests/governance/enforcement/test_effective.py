"""Effective policy: most specific level wins per field; team pool vs personal limits; the hot-path cache."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.redis import get_sync_redis
from governance.enforcement.effective import EffectivePolicy, Limits, policy_for, policy_resolve, policy_version_key
from governance.exceptions import BudgetExceeded, ModelNotAllowed
from governance.models import Policy
from governance.services.policies import policy_set
from tests.governance.enforcement.test_admission import admit


def test_most_specific_level_wins_per_field():
    org = {
        "allowed_models": ["gpt-4o-mini"],
        "tokens_per_month": 5_000_000,
        "on_exceed": "warn",
        "alert_thresholds": [80],
        "store_text": None,
    }
    team = {
        "allowed_models": ["gpt-4o", "gpt-4o-mini"],
        "tokens_per_day": 200_000,
        "usd_per_month": Decimal("500"),
        "requests_per_minute": 60,
        "max_tokens": 4096,
        "on_exceed": "block",
        "alert_thresholds": [50, 80, 100],
    }
    person = {"tokens_per_day": 50_000, "on_exceed": "downgrade", "downgrade_to": "gpt-4o-mini", "store_text": True}

    policy = policy_resolve(team_id=1, user_id=2, org=org, team=team, person=person)

    assert policy == EffectivePolicy(
        team_id=1,
        user_id=2,
        allowed_models=("gpt-4o", "gpt-4o-mini"),
        max_tokens=4096,
        max_tokens_action="cap",
        on_exceed="downgrade",
        downgrade_to="gpt-4o-mini",
        store_text=True,
        team=Limits(
            tokens=(("day", 200_000), ("month", 5_000_000)),
            usd=(("month", Decimal("500")),),
            rpm=60,
            tpm=None,
            thresholds=(50, 80, 100),
        ),
        person=Limits(tokens=(("day", 50_000),), usd=(), rpm=None, tpm=None, thresholds=(50, 80, 100)),
    )


def test_no_policy_at_all_allows_everything_without_limits():
    policy = policy_resolve(team_id=1, user_id=2, org=None, team=None, person=None)

    assert (policy.allowed_models, policy.on_exceed, policy.max_tokens_action, policy.store_text) == (
        None,
        "block",
        "cap",
        False,
    )
    assert policy.team == Limits() and policy.person == Limits()
    assert policy.allows("any-model")


def test_the_org_default_is_each_teams_pool_unless_the_team_sets_its_own():
    org = {"tokens_per_month": 1000, "requests_per_minute": 10}

    plain = policy_resolve(team_id=1, user_id=2, org=org, team=None, person=None)
    own = policy_resolve(team_id=1, user_id=2, org=org, team={"tokens_per_month": 99}, person=None)

    assert (plain.team.tokens, plain.team.rpm) == ((("month", 1000),), 10)
    assert (own.team.tokens, own.team.rpm) == ((("month", 99),), 10)
    assert plain.person == Limits()


def test_the_cache_answers_without_the_database(counters, run, alice, team_policy, django_assert_num_queries):
    team_policy(tokens_per_day=10)
    first = run(policy_for(team_id=alice.team_id, user_id=alice.user_id))

    with django_assert_num_queries(0):
        again = run(policy_for(team_id=alice.team_id, user_id=alice.user_id))

    assert again is first


def test_a_change_applies_to_the_next_call_in_this_process(
    counters, clock, run, alice, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        policy_set(scope="team", team=team, values={"allowed_models": ["gpt-4o"]})
    admit(run, alice, model="gpt-4o")

    with django_capture_on_commit_callbacks(execute=True):
        policy_set(scope="team", team=team, values={"allowed_models": ["gpt-4o-mini"]})

    with pytest.raises(ModelNotAllowed):
        admit(run, alice, model="gpt-4o")


@pytest.mark.parametrize("counters", ["redis"], indirect=True)
def test_a_change_made_by_another_process_reaches_this_one_after_one_call(
    counters, clock, run, alice, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        policy_set(scope="team", team=team, values={"tokens_per_day": 1000})
    admit(run, alice)
    # Another process changes the policy: the database and the shared version, not this process's cache.
    Policy.objects.filter(scope="team", team=team).update(tokens_per_day=40)
    get_sync_redis().incr(policy_version_key(team.id))

    stale = admit(run, alice)  # decided on the cached policy; its script reports the new version
    with pytest.raises(BudgetExceeded) as caught:
        admit(run, alice)

    assert stale.reservation.plan.budgets[0].limit == 1000
    assert "(40 tokens)" in caught.value.message
