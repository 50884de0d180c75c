"""Spend drivers: cost (not tokens) by person, model, purpose and client, as shares and stacked per day."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from governance.periods import window_preset
from governance.selectors.drivers import spend_drivers
from tests.factories import UserFactory
from tests.governance.views.helpers import event_add, rollup_add
from usage.models import UsageEvent

pytestmark = pytest.mark.django_db


def test_cost_shares_and_stacks(team, employee, manager):
    today = timezone.localdate()
    rollup_add(day=today, user=employee, team=team, model="gpt-4o", tokens=150, cost="9.80")
    rollup_add(day=today - timedelta(days=1), user=manager, team=team, model="gpt-4o-mini", tokens=850, cost="0.20")
    event_add(user=employee, team=team, request_id="r1", tokens=150, cost="9.80", model="gpt-4o")
    event_add(
        user=manager, team=team, request_id="r2", tokens=850, cost="0.20", when=timezone.now() - timedelta(days=1)
    )
    UsageEvent.objects.filter(request_id="r1").update(purpose="review", client="codex_cli_rs/0.40.0")
    period = window_preset(name="7d").period

    drivers = spend_drivers(period=period, team_id=team.pk)

    models = {share.label: (share.cost_share, share.token_share) for share in drivers.shares["model"]}
    assert models == {"gpt-4o": (0.98, 0.15), "gpt-4o-mini": (pytest.approx(0.02), 0.85)}
    assert [share.label for share in drivers.shares["person"]] == ["alice@example.com", "maria@example.com"]
    assert [(s.label, s.cost_usd) for s in drivers.shares["purpose"]] == [
        ("review", Decimal("9.8")),
        ("(no purpose tag)", Decimal("0.2")),
    ]
    assert [s.label for s in drivers.shares["client"]] == ["codex_cli_rs", "(unknown client)"]
    series = {item.label: item.cost_usd for item in drivers.daily["model"]}
    assert series["gpt-4o"][-1] == Decimal("9.8") and series["gpt-4o-mini"][-2] == Decimal("0.2")
    assert drivers.cost_usd == Decimal("10.0")


def test_beyond_six_slices_the_rest_are_others(team):
    today = timezone.localdate()
    for index in range(8):
        rollup_add(day=today, user=UserFactory(), team=team, cost=str(index + 1))

    drivers = spend_drivers(period=window_preset(name="7d").period, team_id=team.pk, dimensions=("person",))

    labels = [series.label for series in drivers.daily["person"]]
    assert len(labels) == 7 and labels[-1] == "Others"
    assert drivers.daily["person"][-1].cost_usd[-1] == Decimal("3")  # the two cheapest: 1 + 2
