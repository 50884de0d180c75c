"""My usage: coding-agent sessions (cost per session, sessions per day, tokens by client) and one
session's calls in order; only my own."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.governance.views.helpers import event_add

pytestmark = pytest.mark.django_db


def _call(user, team, request_id, *, session, client, tokens, cost, minutes_ago, agent=""):
    event = event_add(
        user=user,
        team=team,
        request_id=request_id,
        tokens=tokens,
        cost=cost,
        when=timezone.now() - timedelta(minutes=minutes_ago),
        model="claude-sonnet-4-5",
    )
    event.session_id, event.client, event.agent_id, event.endpoint = session, client, agent, "messages"
    event.save()
    return event


def test_sessions_clients_and_a_sessions_calls_in_order(client, team, employee, manager):
    _call(employee, team, "req_a1", session="s-1", client="claude-cli/2.1.332", tokens=100, cost="0.01", minutes_ago=9)
    _call(
        employee,
        team,
        "req_a2",
        session="s-1",
        client="claude-cli/2.1.332",
        tokens=300,
        cost="0.03",
        minutes_ago=5,
        agent="sub-1",
    )
    _call(employee, team, "req_b1", session="s-2", client="codex_exec/0.171.0", tokens=50, cost="0.02", minutes_ago=1)
    _call(manager, team, "req_m1", session="s-9", client="claude-cli/2.1.332", tokens=999, cost="9", minutes_ago=1)
    client.force_login(employee)

    agents = client.get("/me/").context["agents"]
    assert [(s["session_id"], s["calls"], s["tokens"], s["cost"], s["subagent_tokens"]) for s in agents.sessions] == [
        ("s-2", 1, 50, Decimal("0.02"), None),
        ("s-1", 2, 400, Decimal("0.04"), 300),
    ]
    assert sum(row["sessions"] for row in agents.sessions_per_day) >= 2
    assert [(c["client"], c["tokens"]) for c in agents.clients] == [
        ("claude-cli/2.1.332", 400),
        ("codex_exec/0.171.0", 50),
    ]

    page = client.get("/me/sessions/s-1/")
    assert [call.request_id for call in page.context["calls"]] == ["req_a1", "req_a2"]
    assert page.context["total_cost"] == Decimal("0.04")
    assert client.get("/me/sessions/s-9/").status_code == 404  # someone else's
