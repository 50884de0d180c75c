"""The value-signals panel on the team report and on the person's page: outcomes from GitHub (through the
signed webhook) and from Claude Code's telemetry (a person's own key, a team's service token), by kind and
source, with what counts - within what the viewer may see."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from governance.models import Membership, ValueSource
from governance.services.api_tokens import api_token_create
from governance.services.value_sources import value_source_trust_set
from tests.factories import TeamFactory, UserFactory
from tests.usage.integrations.conftest import github_example, table_rows
from usage.integrations.github import github_identity_map
from usage.models import Outcome
from usage.value import outcome_record

pytestmark = pytest.mark.django_db


def _panel(response) -> list[list[str]]:
    return table_rows(response.content.decode(), testid="value-signals-table")


def _window() -> str:
    today = timezone.localdate()
    return f"?start={today - timedelta(days=6)}&end={today}"


def _merged_pull_request(*, pull_id: int, login: str) -> dict:
    """GitHub's pull_request.closed example, merged just now by ``login``."""
    payload = github_example("pull_request", "closed")
    payload["pull_request"].update(id=pull_id, merged=True, merged_at=timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    payload["pull_request"]["user"].update(login=login)
    return payload


def _commits(*, count: int, email: str) -> bytes:
    """An OTLP export as Claude Code sends it: ``claude_code.commit.count``, one delta point."""
    export = ExportMetricsServiceRequest()
    resource = export.resource_metrics.add()
    service = resource.resource.attributes.add()
    service.key, service.value.string_value = "service.name", "claude-code"
    metric = resource.scope_metrics.add().metrics.add()
    metric.name = "claude_code.commit.count"
    metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    metric.sum.is_monotonic = True
    point = metric.sum.data_points.add()
    point.as_int = count
    point.time_unix_nano = time.time_ns()
    point.start_time_unix_nano = point.time_unix_nano - 60 * 10**9
    for key, value in (("user.email", email), ("session.id", "sess-panel")):
        attribute = point.attributes.add()
        attribute.key, attribute.value.string_value = key, value
    return export.SerializeToString()


def _telemetry(client, *, secret: str, count: int, email: str):
    return client.post(
        "/otlp/v1/metrics",
        _commits(count=count, email=email),
        content_type="application/x-protobuf",
        headers={"Authorization": f"Bearer {secret}"},
    )


@pytest.fixture
def signals(client, github, team, other_team, employee, employee_key, manager, outsider):
    """This week: alice (platform, also in research) merged a pull request (GitHub) and her coding agent
    made 2 commits by her own key (a self-report) and 3 by platform's service token; research's service
    token reported one outcome of hers worth 4 in research; oscar (research) merged a pull request."""
    Membership.objects.create(user=employee, team=other_team)
    github_identity_map(login="codertocat", user=employee, actor_label="test")
    github_identity_map(login="oscar-gh", user=outsider, actor_label="test")
    _, service_secret = api_token_create(user=manager, name="ci", scopes=["post_outcomes"], team=team)

    deliveries = [
        github.send("pull_request", _merged_pull_request(pull_id=1001, login="Codertocat")),
        github.send("pull_request", _merged_pull_request(pull_id=1002, login="oscar-gh")),
    ]
    exports = [
        _telemetry(client, secret=employee_key[1], count=2, email=employee.email),
        _telemetry(client, secret=service_secret, count=3, email=employee.email),
    ]
    outcome_record(
        external_id="research-1",
        kind="pr_merged",
        occurred_at=timezone.now(),
        source_kind=ValueSource.SERVICE_TOKEN,
        user=employee,
        team=other_team,
        value=4,
        reported_by=outsider,
    )

    assert [response.json()["status"] for response in deliveries] == ["recorded", "recorded"]
    assert [response.status_code for response in exports] == [200, 200]
    assert Outcome.objects.count() == 5


def test_the_team_report_shows_the_teams_signals_by_kind_and_source_with_what_counts(client, signals, manager):
    client.force_login(manager)

    response = client.get("/teams/platform/" + _window())

    assert response.status_code == 200
    assert _panel(response) == [
        ["agent_commit", "otlp (1 self-reported)", "2", "5.0", "1 of 2"],
        ["pr_merged", "github", "1", "1.0", "all"],
    ]
    assert b"Signals not counted come from a source admins do not trust" in response.content


def test_an_admin_sees_every_signal_of_the_person_on_their_page(client, signals, admin, employee):
    client.force_login(admin)

    response = client.get(f"/people/{employee.pk}/" + _window())

    assert response.status_code == 200
    assert _panel(response) == [
        ["agent_commit", "otlp (1 self-reported)", "2", "5.0", "1 of 2"],
        ["pr_merged", "github", "1", "1.0", "all"],
        ["pr_merged", "service token", "1", "4.0", "all"],
    ]


def test_a_manager_sees_the_persons_signals_only_in_the_teams_they_manage(
    client, signals, manager, employee, other_team
):
    research_lead = UserFactory(email="rita@example.com")
    Membership.objects.create(user=research_lead, team=other_team, role=Membership.Role.MANAGER)
    client.force_login(manager)
    platform = client.get(f"/people/{employee.pk}/" + _window())
    client.force_login(research_lead)

    research = client.get(f"/people/{employee.pk}/" + _window())

    assert (platform.status_code, research.status_code) == (200, 200)
    assert _panel(platform) == [
        ["agent_commit", "otlp (1 self-reported)", "2", "5.0", "1 of 2"],
        ["pr_merged", "github", "1", "1.0", "all"],
    ]
    assert _panel(research) == [["pr_merged", "service token", "1", "4.0", "all"]]


def test_the_admins_settings_decide_what_counts_and_the_panel_says_so(client, signals, admin, employee):
    value_source_trust_set(source_kind="integration", integration="otlp", is_trusted=True, counts_self_reports=True)
    value_source_trust_set(source_kind="integration", integration="github", is_trusted=False)
    client.force_login(admin)

    response = client.get(f"/people/{employee.pk}/" + _window())

    assert _panel(response) == [
        ["agent_commit", "otlp (1 self-reported)", "2", "5.0", "all"],
        ["pr_merged", "github", "1", "1.0", "none"],
        ["pr_merged", "service token", "1", "4.0", "all"],
    ]
    assert re.search(
        rb'data-testid="value-source-settings">Set by admins: not counted from github\. '
        rb"Self-reports counted from otlp\.</p>",
        response.content,
    )


def test_the_person_sees_their_own_signals_and_nobody_elses(client, signals, employee, manager, outsider):
    client.force_login(employee)

    own = client.get(f"/people/{employee.pk}/" + _window())
    others = [client.get(f"/people/{person.pk}/" + _window()).status_code for person in (manager, outsider)]

    assert own.status_code == 200
    assert [row[:2] for row in _panel(own)] == [
        ["agent_commit", "otlp (1 self-reported)"],
        ["pr_merged", "github"],
        ["pr_merged", "service token"],
    ]
    assert others == [404, 404]


def test_a_manager_of_another_team_gets_404_for_the_persons_page(client, signals, employee):
    ops_lead = UserFactory(email="olga@example.com")
    Membership.objects.create(user=ops_lead, team=TeamFactory(slug="ops"), role=Membership.Role.MANAGER)
    client.force_login(ops_lead)

    response = client.get(f"/people/{employee.pk}/" + _window())

    assert response.status_code == 404
    assert b"value-signals" not in response.content


def test_a_window_without_signals_says_so(client, signals, admin, employee):
    client.force_login(admin)

    response = client.get(f"/people/{employee.pk}/?start=2026-01-01&end=2026-01-31")

    assert _panel(response) == []
    assert b'data-testid="no-value-signals"' in response.content
