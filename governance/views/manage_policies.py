"""Admin page for policies: every level (organisation default, teams, people within a team) at a glance."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from governance.models import Policy
from governance.policy_fields import POLICY_FIELDS
from governance.selectors.directory import person_by_email
from governance.selectors.policies import (
    policies_all,
    policies_in_order,
    policy_levels_above,
    policy_value_readable,
    teams_without_team_policy,
)
from governance.selectors.teams import teams_all
from governance.views.common import admin_required

SHOWN_FIELDS = (
    ("usd_per_day", "USD / day"),
    ("usd_per_week", "USD / week"),
    ("usd_per_month", "USD / month"),
    ("tokens_per_day", "Tokens / day"),
    ("tokens_per_week", "Tokens / week"),
    ("tokens_per_month", "Tokens / month"),
    ("requests_per_minute", "Requests / min"),
    ("tokens_per_minute", "Tokens / min"),
    ("allowed_models", "Allowed models"),
    ("max_tokens", "max_tokens cap"),
    ("on_exceed", "Over a limit"),
    ("downgrade_to", "Downgrade to"),
    ("alert_thresholds", "Alerts at %"),
    ("store_text", "Store text"),
    ("allow_unpriced_models", "Unpriced models"),
)


def _rows(policy: Policy) -> list[tuple[str, object]]:
    return [(label, getattr(policy, field)) for field, label in SHOWN_FIELDS if getattr(policy, field) is not None]


@login_required
def manage_policies(request: HttpRequest) -> HttpResponse:
    """Every policy, organisation default first; only the fields a level sets are shown."""
    admin_required(request)
    policies = policies_in_order()
    return render(
        request,
        "governance/manage/policies.html",
        {
            "nav": "admin",
            "policies": [(policy, _rows(policy)) for policy in policies],
            "has_org_policy": any(policy.scope == Policy.Scope.ORG for policy in policies),
            "teams_without_policy": teams_without_team_policy(),
        },
    )


def _csv_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.replace("\n", ",").split(",") if item.strip()]


class PolicyForm(forms.Form):
    """The fields of one policy level; an empty field is "not set here" (inherited from the level above)."""

    scope = forms.ChoiceField(choices=Policy.Scope.choices)
    team = forms.ModelChoiceField(queryset=teams_all(), required=False, to_field_name="slug")
    user_email = forms.EmailField(required=False, label="Person (e-mail)", help_text="For a person-in-team policy.")
    usd_per_day = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=4, label="USD / day")
    usd_per_week = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=4, label="USD / week")
    usd_per_month = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=4, label="USD / month"
    )
    tokens_per_day = forms.IntegerField(required=False, min_value=0, label="Tokens / day")
    tokens_per_week = forms.IntegerField(required=False, min_value=0, label="Tokens / week")
    tokens_per_month = forms.IntegerField(required=False, min_value=0, label="Tokens / month")
    requests_per_minute = forms.IntegerField(required=False, min_value=1, label="Requests / minute")
    tokens_per_minute = forms.IntegerField(required=False, min_value=1, label="Tokens / minute")
    allowed_models = forms.CharField(
        required=False, label="Allowed models", help_text="Comma-separated names or globs (gpt-4o*); empty: inherited."
    )
    max_tokens = forms.IntegerField(required=False, min_value=1, label="max_tokens cap")
    max_tokens_action = forms.ChoiceField(
        required=False, choices=[("", "inherit")] + Policy.MaxTokensAction.choices, label="Above the cap"
    )
    on_exceed = forms.ChoiceField(
        required=False, choices=[("", "inherit")] + Policy.OnExceed.choices, label="Over a limit"
    )
    downgrade_to = forms.CharField(required=False, max_length=200, label="Downgrade to model")
    alert_thresholds = forms.CharField(
        required=False, label="Alert at % of a budget", help_text="Comma-separated, e.g. 50, 80, 100."
    )
    store_text = forms.NullBooleanField(
        required=False,
        label="Store prompt and response text",
        widget=forms.Select(choices=[("unknown", "inherit"), ("true", "yes"), ("false", "no")]),
    )
    allow_unpriced_models = forms.NullBooleanField(
        required=False,
        label="Admit unpriced models under a USD budget",
        widget=forms.Select(choices=[("unknown", "inherit"), ("true", "yes"), ("false", "no")]),
    )

    def clean_allowed_models(self) -> list[str] | None:
        models = _csv_list(self.cleaned_data["allowed_models"])
        return models or None

    def clean_alert_thresholds(self) -> list[int] | None:
        items = _csv_list(self.cleaned_data["alert_thresholds"])
        try:
            return [int(item) for item in items] or None
        except ValueError as exc:
            raise forms.ValidationError("Give whole percentages, e.g. 50, 80, 100.") from exc

    def clean(self):
        cleaned = super().clean()
        scope, team, email = cleaned.get("scope"), cleaned.get("team"), cleaned.get("user_email")
        if scope in (Policy.Scope.TEAM, Policy.Scope.USER) and team is None:
            self.add_error("team", "Choose the team.")
        if scope == Policy.Scope.USER:
            user = person_by_email(email=email) if email else None
            if user is None:
                self.add_error("user_email", "Give the e-mail of a person in the team.")
            cleaned["user"] = user
        return cleaned

    @classmethod
    def initial_of(cls, policy: Policy) -> dict:
        initial = {field: getattr(policy, field) for field in EDITABLE_FIELDS}
        initial.update(
            scope=policy.scope,
            team=policy.team.slug if policy.team else None,
            user_email=policy.user.email if policy.user else "",
            allowed_models=", ".join(policy.allowed_models or []),
            alert_thresholds=", ".join(str(t) for t in policy.alert_thresholds or []),
        )
        return initial


# Every field of a policy but the detectors' thresholds (a document of its own: the policy file and the API).
EDITABLE_FIELDS = tuple(field for field in POLICY_FIELDS if field != "detector_thresholds")


FIELD_GROUPS = (
    ("Target", ("scope", "team", "user_email")),
    (
        "Budgets",
        (
            "usd_per_day",
            "usd_per_week",
            "usd_per_month",
            "tokens_per_day",
            "tokens_per_week",
            "tokens_per_month",
            "on_exceed",
            "downgrade_to",
            "allow_unpriced_models",
        ),
    ),
    ("Rates", ("requests_per_minute", "tokens_per_minute")),
    ("Models", ("allowed_models",)),
    ("Caps", ("max_tokens", "max_tokens_action")),
    ("Alerts", ("alert_thresholds",)),
    ("Privacy", ("store_text",)),
)


def _inherited(*, scope: str, team_slug: str | None) -> dict[str, str]:
    """What each field would be without this level: the team's value (for a person), else the organisation's."""
    levels = policy_levels_above(scope=scope, team_slug=team_slug)
    inherited = {}
    for field in EDITABLE_FIELDS:
        for label, level in levels:
            value = getattr(level, field, None) if level is not None else None
            if value not in (None, "", []):
                inherited[field] = f"{policy_value_readable(value)} ({label})"
                break
        else:
            inherited[field] = "not set (no limit)" if scope != Policy.Scope.ORG else ""
    return inherited


def _groups(form: PolicyForm, inherited: dict[str, str]) -> list[tuple[str, list]]:
    return [(title, [(form[name], inherited.get(name, "")) for name in names]) for title, names in FIELD_GROUPS]


@login_required
def manage_policy_edit(request: HttpRequest, policy_id: int | None = None) -> HttpResponse:
    """Create (``/new/?scope=&team=``) or change one policy; saved through ``policy_save`` (validated,
    audited, enforcement caches invalidated)."""
    from governance.services.policies import policy_delete, policy_save

    admin_required(request)
    policy = get_object_or_404(policies_all(), pk=policy_id) if policy_id else None
    if request.method == "POST" and policy is not None and request.POST.get("delete"):
        policy_delete(policy=policy, actor=request.user)
        messages.success(request, f"Policy for {policy} deleted; that level now inherits everything.")
        return redirect(reverse("governance:manage_policies"))
    initial = (
        PolicyForm.initial_of(policy)
        if policy
        else {"scope": request.GET.get("scope", Policy.Scope.TEAM), "team": request.GET.get("team")}
    )
    form = PolicyForm(request.POST or None, initial=initial)
    if policy is not None:  # the target of an existing policy is fixed
        for name in ("scope", "team", "user_email"):
            form.fields[name].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        target = policy or Policy(
            scope=data["scope"],
            team=data["team"] if data["scope"] != "org" else None,
            user=data.get("user") if data["scope"] == "user" else None,
        )
        for field in EDITABLE_FIELDS:
            value = data.get(field)
            setattr(target, field, None if value in ("", None) else value)
        try:
            policy_save(policy=target, actor=request.user)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except IntegrityError:
            form.add_error(None, "That level has a policy already: edit it instead.")
        else:
            messages.success(request, f"Policy for {target} saved.")
            return redirect(reverse("governance:manage_policies"))
    scope = policy.scope if policy else (request.POST.get("scope") or initial.get("scope") or Policy.Scope.TEAM)
    team_slug = policy.team.slug if policy and policy.team else (request.POST.get("team") or initial.get("team"))
    return render(
        request,
        "governance/manage/policy_edit.html",
        {
            "nav": "admin",
            "form": form,
            "policy": policy,
            "groups": _groups(form, _inherited(scope=scope, team_slug=team_slug)),
        },
        status=400 if request.method == "POST" else 200,
    )
