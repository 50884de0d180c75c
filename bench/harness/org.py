"""The benchmark's organisation: a fresh team, one person, a real key and a policy that applies.

Run after ``django.setup()``. A fresh team per run keeps counters and budgets of earlier runs out of
the measurement. The policy sets every kind of limit (rate, tokens per minute, token and money budgets)
high enough never to refuse a benchmark call, so admission does all of its work on every call.
"""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class BenchOrg:
    team_id: int
    user_id: int
    key_id: int
    secret: str


def bench_org_create(*, label: str = "bench", limits: dict | None = None) -> BenchOrg:
    from governance.models import Policy
    from governance.services.keys import key_create
    from governance.services.orgs import membership_ensure, team_get_or_create, user_get_or_create

    tag = f"{label}-{int(time.time() * 1000)}"
    team = team_get_or_create(slug=tag, actor_label="bench")
    user = user_get_or_create(email=f"{tag}@bench.example", actor_label="bench")
    membership_ensure(user=user, team=team, actor_label="bench")
    key, secret = key_create(user=user, team=team, name="bench", actor_label="bench")
    values = (
        limits
        if limits is not None
        else {
            "requests_per_minute": 1_000_000,
            "tokens_per_minute": 1_000_000_000,
            "tokens_per_day": 10_000_000_000,
            "tokens_per_month": 100_000_000_000,
            "usd_per_day": Decimal("1000000"),
            "usd_per_month": Decimal("10000000"),
            "on_exceed": Policy.OnExceed.BLOCK,
        }
    )
    Policy.objects.create(scope=Policy.Scope.TEAM, team=team, **values)
    return BenchOrg(team_id=team.pk, user_id=user.pk, key_id=key.pk, secret=secret)
