"""Admin page for policies: every level (organisation default, teams, people within a team) at a glance."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance.models import Policy, Team
from governance.views.common import admin_required

SHOWN_FIELDS = (
    ("usd_per_day", "USD / day"), ("usd_per_week", "USD / week"), ("usd_per_month", "USD / month"),
    ("tokens_per_day", "Tokens / day"), ("tokens_per_week", "Tokens / week"), ("tokens_per_month", "Tokens / month"),
    ("requests_per_minute", "Requests / min"), ("tokens_per_minute", "Tokens / min"),
    ("allowed_models", "Allowed models"), ("max_tokens", "max_tokens cap"), ("on_exceed", "Over a limit"),
    ("downgrade_to", "Downgrade to"), ("alert_thresholds", "Alerts at %"), ("store_text", "Store text"),
)


def _rows(policy: Policy) -> list[tuple[str, object]]:
    return [(label, getattr(policy, field)) for field, label in SHOWN_FIELDS if getattr(policy, field) is not None]


@login_required
def manage_policies(request: HttpRequest) -> HttpResponse:
    """Every policy, organisation default first; only the fields a level sets are shown."""
    admin_required(request)
    policies = list(Policy.objects.select_related("team", "user").order_by("scope", "team__slug", "user__email"))
    order = {Policy.Scope.ORG: 0, Policy.Scope.TEAM: 1, Policy.Scope.USER: 2}
    policies.sort(key=lambda p: (order[p.scope], p.team.slug if p.team else "", p.user.email if p.user else ""))
    return render(request, "governance/manage/policies.html", {
        "nav": "admin", "policies": [(policy, _rows(policy)) for policy in policies],
        "teams_without_policy": Team.objects.exclude(policies__scope=Policy.Scope.TEAM).order_by("slug"),
    })
