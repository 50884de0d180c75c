"""What happens past a budget - block, warn, downgrade - and the alerts that tell managers."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from governance.enforcement.admission import admission_settle
from governance.exceptions import BudgetExceeded
from governance.models import Alert, Membership
from governance.services.alerts import alerts_queued_wait
from governance.services.policies import policy_set
from tests.factories import UserFactory
from tests.governance.enforcement.test_admission import admit, day_key


def spend(run, principal, tokens: int) -> None:
    run(admission_settle(admit(run, principal, max_tokens=10), total_tokens=tokens, cost_usd=None))


def test_warn_lets_the_call_through_with_a_header(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=40, on_exceed="warn")
    admit(run, alice)

    warned = admit(run, alice)

    assert (warned.model, warned.action) == ("gpt-4o-mini", "warn")
    assert warned.headers == {
        "x-tokenwise-warning": "budget exceeded: daily token budget of team platform "
        "(40 tokens), resets at 2025-03-13T00:00:00+00:00"
    }
    assert counters.budget(day_key(alice, clock)) == {"u": 0, "r": 60}


def test_downgrade_serves_the_cheaper_model_and_reserves_its_cost(counters, clock, run, alice, team_policy):
    team_policy(usd_per_day=Decimal("0.0002"), on_exceed="downgrade", downgrade_to="gpt-4o-mini")
    first = admit(run, alice, model="gpt-4o", max_tokens=5)  # 10_000 units at gpt-4o prices

    second = admit(run, alice, model="gpt-4o", max_tokens=5)
    third = admit(run, alice, model="gpt-4o", max_tokens=5)

    assert (first.model, first.action) == ("gpt-4o", "")
    assert (second.model, second.action) == ("gpt-4o", "")
    assert (third.model, third.action) == ("gpt-4o-mini", "downgrade")
    assert third.headers == {
        "x-tokenwise-downgraded-from": "gpt-4o",
        "x-tokenwise-warning": "budget exceeded: daily USD budget of team platform ($0.0002), resets at "
        "2025-03-13T00:00:00+00:00; served gpt-4o-mini instead of gpt-4o",
    }
    # gpt-4o-mini: $0.15 / 1M input, $0.60 / 1M output -> 20 * 15 + 5 * 60 units
    assert counters.budget(day_key(alice, clock, unit="usd")) == {"u": 0, "r": 2 * 10_000 + 20 * 15 + 5 * 60}


def test_downgrade_without_a_target_blocks(counters, clock, run, alice, team_policy):
    team_policy(tokens_per_day=40, on_exceed="downgrade")
    admit(run, alice)

    with pytest.raises(BudgetExceeded):
        admit(run, alice)


def test_crossing_thresholds_alerts_managers_and_the_person_once_per_period(
    counters, clock, run, alice, manager, team, employee, transactional_db, eager_tasks
):
    policy_set(scope="team", team=team, values={"alert_thresholds": [50, 80, 100]})
    policy_set(scope="user", team=team, user=employee, values={"tokens_per_day": 100})

    spend(run, alice, 55)
    spend(run, alice, 5)
    spend(run, alice, 25)
    alerts_queued_wait()

    alerts = list(
        Alert.objects.order_by("threshold_percent").values_list(
            "scope",
            "user__email",
            "metric",
            "period",
            "threshold_percent",
            "used",
            "limit",
            "is_exceeded",
            "recipients",
        )
    )
    assert alerts == [
        (
            "user",
            "alice@example.com",
            "tokens",
            "day",
            50,
            Decimal(55),
            Decimal(100),
            False,
            ["maria@example.com", "alice@example.com"],
        ),
        (
            "user",
            "alice@example.com",
            "tokens",
            "day",
            80,
            Decimal(85),
            Decimal(100),
            False,
            ["maria@example.com", "alice@example.com"],
        ),
    ]
    assert [m.subject for m in mail.outbox] == [
        "[Tokenwise] alice@example.com in team platform reached 50% of its daily token budget",
        "[Tokenwise] alice@example.com in team platform reached 80% of its daily token budget",
    ]
    assert mail.outbox[0].body == (
        "Budget alert for alice@example.com in team platform: 55 tokens used of the daily "
        "token budget of 100 tokens (50%). Period starting 2025-03-12, resets at "
        "2025-03-13T00:00:00+00:00."
    )
    assert counters.alert_level(day_key(alice, clock, person=True)) == 80


def test_a_blocked_call_raises_the_100_percent_alert_once(
    counters, clock, run, alice, manager, team, transactional_db, eager_tasks
):
    policy_set(scope="team", team=team, values={"tokens_per_day": 40, "alert_thresholds": [100]})
    spend(run, alice, 25)

    for _ in range(3):
        with pytest.raises(BudgetExceeded):
            admit(run, alice)
    alerts_queued_wait()

    alert = Alert.objects.get()
    assert (alert.scope, alert.user, alert.threshold_percent, alert.used, alert.is_exceeded, alert.recipients) == (
        "team",
        None,
        100,
        Decimal(25),
        True,
        ["maria@example.com"],
    )
    assert [m.subject for m in mail.outbox] == ["[Tokenwise] team platform: daily token budget exceeded"]
    assert mail.outbox[0].body == (
        "Budget alert for team platform: the daily token budget of 40 tokens is exceeded "
        "(a call did not fit; used so far: 25 tokens). Period starting 2025-03-12, resets "
        "at 2025-03-13T00:00:00+00:00."
    )


def test_a_deactivated_manager_or_person_is_not_alerted(
    counters, clock, run, alice, manager, team, employee, transactional_db, eager_tasks
):
    former = UserFactory(email="former-manager@example.com", is_active=False)
    Membership.objects.create(user=former, team=team, role=Membership.Role.MANAGER)
    policy_set(scope="team", team=team, values={"alert_thresholds": [50, 80]})
    policy_set(scope="user", team=team, user=employee, values={"tokens_per_day": 100})
    spend(run, alice, 55)
    alerts_queued_wait()
    assert Alert.objects.get().recipients == ["maria@example.com", "alice@example.com"]

    type(employee).objects.filter(pk=employee.pk).update(is_active=False)  # signed off mid-period
    spend(run, alice, 30)
    alerts_queued_wait()

    assert list(Alert.objects.order_by("threshold_percent").values_list("threshold_percent", "recipients")) == [
        (50, ["maria@example.com", "alice@example.com"]),
        (80, ["maria@example.com"]),
    ]
    assert [m.to for m in mail.outbox] == [["maria@example.com", "alice@example.com"], ["maria@example.com"]]


def test_warn_notifies_even_without_thresholds(
    counters, clock, run, alice, manager, team_policy, transactional_db, eager_tasks
):
    team_policy(tokens_per_day=40, on_exceed="warn")
    admit(run, alice)

    admit(run, alice)
    admit(run, alice)
    alerts_queued_wait()

    assert list(Alert.objects.values_list("threshold_percent", "is_exceeded")) == [(100, True)]
    assert len(mail.outbox) == 1


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TOKENWISE_ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    yield _Hook.received
    server.shutdown()


def test_alerts_go_to_the_webhook_as_slack_text(
    counters, clock, run, alice, manager, team_policy, transactional_db, eager_tasks, webhook
):
    team_policy(tokens_per_day=100, alert_thresholds=[50])

    spend(run, alice, 60)
    alerts_queued_wait()

    assert webhook == [
        {
            "text": "Budget alert for team platform: 60 tokens used of the daily token budget of "
            "100 tokens (50%). Period starting 2025-03-12, resets at 2025-03-13T00:00:00+00:00."
        }
    ]
    assert Alert.objects.get().webhook_status == "200"
