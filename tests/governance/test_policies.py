"""Policy as code: apply_policies (diff, idempotence, dry run, errors with lines) and export_policies."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from governance.models import AuditLogEntry, Membership, Policy
from tests.factories import UserFactory

ISSUE_DOCUMENT = """\
defaults:
  models: ["gpt-4o-mini", "text-embedding-3-*"]
  budget: {tokens_per_month: 5000000}
teams:
  platform:
    models: ["gpt-4o", "gpt-4o-mini"]
    budget: {tokens_per_day: 200000, usd_per_month: 500}
    rate: {rpm: 60, tpm: 100000}
    max_tokens: 4096
    on_exceed: block            # block | warn | downgrade
    downgrade_to: gpt-4o-mini
    alerts: [50, 80, 100]
    users:
      alice@example.com: {budget: {tokens_per_day: 50000}}
"""

EXPORTED = """\
# Tokenwise usage policies. Apply with: python manage.py apply_policies FILE.yaml
defaults:
  models: [gpt-4o-mini, text-embedding-3-*]
  budget: {tokens_per_month: 5000000}
teams:
  platform:
    models: [gpt-4o, gpt-4o-mini]
    budget: {tokens_per_day: 200000, usd_per_month: 500}
    rate: {rpm: 60, tpm: 100000}
    max_tokens: 4096
    on_exceed: block
    downgrade_to: gpt-4o-mini
    alerts: [50, 80, 100]
    users:
      alice@example.com:
        budget: {tokens_per_day: 50000}
"""


@pytest.fixture
def document(tmp_path):
    def write(text: str) -> str:
        path = tmp_path / "policies.yaml"
        path.write_text(text)
        return str(path)

    return write


def apply(path: str, *args: str) -> str:
    out = StringIO()
    call_command("apply_policies", path, *args, stdout=out)
    return out.getvalue()


def export() -> str:
    out = StringIO()
    call_command("export_policies", stdout=out)
    return out.getvalue()


def rows() -> list[tuple]:
    return list(
        Policy.objects.order_by("scope", "id").values_list(
            "scope",
            "team__slug",
            "user__email",
            "allowed_models",
            "tokens_per_day",
            "tokens_per_month",
            "usd_per_month",
            "requests_per_minute",
            "tokens_per_minute",
            "max_tokens",
            "on_exceed",
            "downgrade_to",
            "alert_thresholds",
        )
    )


def test_applies_the_issue_document(employee, document):
    output = apply(document(ISSUE_DOCUMENT))

    assert rows() == [
        (
            "org",
            None,
            None,
            ["gpt-4o-mini", "text-embedding-3-*"],
            None,
            5_000_000,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ),
        (
            "team",
            "platform",
            None,
            ["gpt-4o", "gpt-4o-mini"],
            200_000,
            None,
            Decimal("500"),
            60,
            100_000,
            4096,
            "block",
            "gpt-4o-mini",
            [50, 80, 100],
        ),
        ("user", "platform", "alice@example.com", None, 50_000, None, None, None, None, None, None, None, None),
    ]
    assert (
        output
        == """\
+ defaults
    models: (unset) -> ["gpt-4o-mini", "text-embedding-3-*"]
    budget.tokens_per_month: (unset) -> 5000000
+ team platform
    models: (unset) -> ["gpt-4o", "gpt-4o-mini"]
    budget.tokens_per_day: (unset) -> 200000
    budget.usd_per_month: (unset) -> 500
    rate.rpm: (unset) -> 60
    rate.tpm: (unset) -> 100000
    max_tokens: (unset) -> 4096
    on_exceed: (unset) -> block
    downgrade_to: (unset) -> gpt-4o-mini
    alerts: (unset) -> [50, 80, 100]
+ user alice@example.com in team platform
    budget.tokens_per_day: (unset) -> 50000
3 to create, 0 to update, 0 to delete.
Applied.
"""
    )
    assert (
        list(AuditLogEntry.objects.order_by("id").values_list("action", "object_type", "actor_label"))
        == [("create", "governance.Policy", "apply_policies")] * 3
    )


def test_applying_the_same_document_again_changes_nothing(employee, document):
    path = document(ISSUE_DOCUMENT)
    apply(path)
    audited = AuditLogEntry.objects.count()

    output = apply(path)

    assert output == "No changes.\n"
    assert AuditLogEntry.objects.count() == audited


def test_dry_run_prints_the_diff_and_applies_nothing(employee, document):
    output = apply(document(ISSUE_DOCUMENT), "--dry-run")

    assert output.endswith("3 to create, 0 to update, 0 to delete.\nDry run: nothing was applied.\n")
    assert rows() == []
    assert AuditLogEntry.objects.count() == 0


def test_the_document_is_authoritative_and_the_diff_shows_updates_and_removals(employee, document):
    apply(document(ISSUE_DOCUMENT))
    changed = ISSUE_DOCUMENT.replace("tokens_per_day: 200000", "tokens_per_day: 250000").replace(
        "    users:\n      alice@example.com: {budget: {tokens_per_day: 50000}}\n", ""
    )

    output = apply(document(changed))

    assert (
        output
        == """\
~ team platform
    budget.tokens_per_day: 200000 -> 250000
- user alice@example.com in team platform (removed)
    budget.tokens_per_day: 50000 -> (unset)
0 to create, 1 to update, 1 to delete.
Applied.
"""
    )
    assert Policy.objects.get(scope="team").tokens_per_day == 250_000
    assert not Policy.objects.filter(scope="user").exists()
    audit = AuditLogEntry.objects.filter(action="update").get()
    assert (audit.before["tokens_per_day"], audit.after["tokens_per_day"]) == (200_000, 250_000)


def test_export_prints_the_current_document_and_round_trips(employee, document):
    apply(document(ISSUE_DOCUMENT))

    exported = export()

    assert exported == EXPORTED
    assert apply(document(exported)) == "No changes.\n"


def test_allow_unpriced_models_applies_exports_and_round_trips(employee, document):
    apply(document("teams:\n  platform:\n    budget: {usd_per_day: 5}\n    allow_unpriced_models: true\n"))

    exported = export()

    assert Policy.objects.get(scope="team").allow_unpriced_models is True
    assert "    allow_unpriced_models: true\n" in exported
    assert apply(document(exported)) == "No changes.\n"


def test_export_of_nothing_applies_as_nothing(db, document):
    exported = export()

    assert exported.endswith("{}\n")
    assert apply(document(exported)) == "No changes.\n"


def test_every_problem_is_reported_with_its_line_and_nothing_is_applied(employee, document):
    apply(document(ISSUE_DOCUMENT))
    before = rows()
    bad = """\
defaults:
  models: "gpt-4o-mini"
  budget: {tokens_per_mnth: 5000000}
teams:
  platform:
    rate: {rpm: sixty}
    max_tokens: 4096
    max_tokens: 10
    on_exceed: explode
    budget: {usd_per_day: 1.23456}
    store_text: maybe
    users:
      alice@example.com: {budget: {tokens_per_day: -5}}
  research:
    alerts: [50, 80.5]
    colour: blue
"""

    with pytest.raises(CommandError) as caught:
        apply(document(bad))

    path = document(bad)
    assert (
        str(caught.value)
        == f"""\
the document was not applied:
{path}, line 2: defaults.models: must be a list
{path}, line 3: defaults.budget: unknown key 'tokens_per_mnth' (allowed: tokens_per_day, tokens_per_week, \
tokens_per_month, usd_per_day, usd_per_week, usd_per_month)
{path}, line 6: teams.platform.rate.rpm: must be a whole number >= 1, got 'sixty'
{path}, line 8: teams.platform: duplicate key 'max_tokens'
{path}, line 9: teams.platform.on_exceed: must be one of block, warn, downgrade, got 'explode'
{path}, line 10: teams.platform.budget.usd_per_day: must be an amount in USD >= 0 with at most 4 decimals, got 1.23456
{path}, line 11: teams.platform.store_text: must be true or false, got 'maybe'
{path}, line 13: teams.platform.users.alice@example.com.budget.tokens_per_day: must be a whole number >= 0, got -5
{path}, line 15: teams.research.alerts: must be whole percentages between 1 and 1000, got 80.5
{path}, line 16: teams.research: unknown key 'colour' (allowed: models, budget, rate, max_tokens, max_tokens_action, \
on_exceed, downgrade_to, alerts, store_text, detectors, allow_unpriced_models, users)"""
    )
    assert rows() == before


def test_unknown_teams_and_people_are_rejected_with_their_lines(employee, other_team, document):
    UserFactory(email="zoe@example.com")  # exists, but not in platform
    text = """\
teams:
  platform:
    max_tokens: 100
    users:
      alice@example.com: {max_tokens: 10}
      nobody@example.com: {max_tokens: 10}
      zoe@example.com: {max_tokens: 10}
  ghosts:
    max_tokens: 3
"""

    with pytest.raises(CommandError) as caught:
        apply(document(text))

    path = document(text)
    assert (
        str(caught.value)
        == f"""\
the document was not applied:
{path}, line 6: teams.platform.users.nobody@example.com: unknown person 'nobody@example.com'
{path}, line 7: teams.platform.users.zoe@example.com: zoe@example.com is not a member of team 'platform'
{path}, line 8: teams.ghosts: unknown team 'ghosts'"""
    )
    assert rows() == []


def test_downgrade_needs_a_model_to_downgrade_to(employee, document):
    text = "teams:\n  platform:\n    budget: {tokens_per_day: 10}\n    on_exceed: downgrade\n"

    with pytest.raises(CommandError) as caught:
        apply(document(text))

    assert str(caught.value).endswith(
        "line 4: team platform: on_exceed is downgrade but no downgrade_to is set here or inherited"
    )


def test_invalid_yaml_names_its_line(db, document):
    with pytest.raises(CommandError) as caught:
        apply(document("teams:\n  platform: [a\n"))

    assert "line 3: not valid YAML: expected ',' or ']'" in str(caught.value)


def test_people_are_matched_by_email_case_insensitively(employee, team, document):
    Membership.objects.filter(user=employee).update(role=Membership.Role.MANAGER)

    apply(document("teams:\n  platform:\n    users:\n      Alice@Example.com: {max_tokens: 10}\n"))

    assert Policy.objects.get(scope="user").user == employee


def test_policy_admin_pages_list_policies_and_alerts(admin, employee, document, client):
    apply(document(ISSUE_DOCUMENT))
    client.force_login(admin)

    policies = client.get("/admin/governance/policy/")
    alerts = client.get("/admin/governance/alert/")

    assert (policies.status_code, alerts.status_code) == (200, 200)
    assert b"alice@example.com in platform" in policies.content


def test_a_policy_edited_in_django_admin_is_audited(admin, team, client):
    from governance.services.policies import policy_set

    policy = policy_set(scope="team", team=team, values={"tokens_per_day": 100})
    client.force_login(admin)

    response = client.post(
        f"/admin/governance/policy/{policy.pk}/change/",
        {
            "scope": "team",
            "team": team.pk,
            "tokens_per_day": 250,
            "on_exceed": "warn",
            "allowed_models": "null",
            "alert_thresholds": "[50, 100]",
            "detector_thresholds": "null",
            "store_text": "unknown",
            "max_tokens_action": "",
        },
    )

    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.tokens_per_day, policy.on_exceed, policy.alert_thresholds) == (250, "warn", [50, 100])
    audit = AuditLogEntry.objects.filter(action="update").get()
    assert (audit.actor, audit.before["tokens_per_day"], audit.after["tokens_per_day"]) == (admin, 100, 250)
