"""Admin pages, quicker than Django admin for daily work: teams and memberships, policies, providers and
routes, prices, the audit log. Every write goes through a service, so it is validated and audited.

Admins only (active staff): anyone else gets a 404. Django admin stays available at /admin/.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance.exceptions import GovernanceError
from governance.models import Membership, Provider
from governance.periods import PRESETS, period_this_month
from governance.selectors.admin_overview import admin_overview
from governance.selectors.audit import audit_actions, audit_entries_filtered, audit_object_types
from governance.selectors.pricing import models_to_price, price_history
from governance.selectors.providers import providers_all, providers_with_route_counts, routes_all
from governance.selectors.teams import memberships_all, team_memberships, teams_all, teams_with_member_counts
from governance.services.orgs import membership_remove, membership_set, team_create, user_get_or_create
from governance.services.pricing import price_set
from governance.services.providers import extra_headers_problem, provider_upsert, route_delete, route_upsert
from governance.views.charts import trend_chart, usage_chart
from governance.views.common import admin_required, window_from_request


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    return render(request, f"governance/manage/{template}", {"nav": "admin", **context}, status=status)


# --- Overview ------------------------------------------------------------------------------------


@login_required
def manage_home(request: HttpRequest) -> HttpResponse:
    """The organisation at a glance: every team's usage this period, models waiting for a price."""
    admin_required(request)
    window, period_error = window_from_request(request)
    period = window.period
    overview = admin_overview(period=period)
    summary = overview.summary
    return _render(
        request,
        "home.html",
        {
            "summary": summary,
            "period": period,
            "period_error": period_error,
            "usage_chart": usage_chart(summary.days),
            "to_price": models_to_price()[:10],
            "last_month": _last_month(),
            "window": window,
            "presets": PRESETS,
            "overview": overview,
            "trend_chart": trend_chart(
                {team.team_name: team.daily_cost for team in overview.teams}, [day.isoformat() for day in period.days]
            ),
        },
    )


def _last_month() -> dict:
    from datetime import timedelta

    end = period_this_month().start - timedelta(days=1)
    return {"start": end.replace(day=1), "end": end}


# --- Teams and memberships -----------------------------------------------------------------------


class TeamCreateForm(forms.Form):
    slug = forms.SlugField(max_length=64, help_text="Short name used in URLs and keys, e.g. 'platform'.")
    name = forms.CharField(max_length=200, required=False)


class MembershipAddForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


@login_required
def manage_teams(request: HttpRequest) -> HttpResponse:
    admin_required(request)
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(slug=form.cleaned_data["slug"], name=form.cleaned_data["name"], actor=request.user)
        except (IntegrityError, GovernanceError):
            form.add_error("slug", "A team with this slug exists already.")
        else:
            messages.success(request, f"Team {team.slug} created.")
            return redirect(reverse("governance:manage_team", args=[team.slug]))
    teams = teams_with_member_counts()
    return _render(
        request, "teams.html", {"teams": teams, "form": form}, status=400 if request.method == "POST" else 200
    )


@login_required
def manage_team(request: HttpRequest, slug: str) -> HttpResponse:
    """One team: its members and their roles; add a person by e-mail."""
    admin_required(request)
    team = get_object_or_404(teams_all(), slug=slug)
    form = MembershipAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_get_or_create(email=form.cleaned_data["email"], actor=request.user)
        membership_set(user=user, team=team, role=form.cleaned_data["role"], actor=request.user)
        messages.success(request, f"{user.email} is now a {form.cleaned_data['role']} of {team.slug}.")
        return redirect(reverse("governance:manage_team", args=[team.slug]))
    memberships = team_memberships(team=team)
    return _render(
        request,
        "team.html",
        {"team": team, "memberships": memberships, "form": form, "roles": Membership.Role.choices},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def manage_membership(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Change a member's role (``role=…``) or remove them (``remove=1``; their team keys are revoked)."""
    admin_required(request)
    membership = get_object_or_404(memberships_all(), pk=membership_id)
    team_slug = membership.team.slug
    if request.POST.get("remove"):
        membership_remove(membership=membership, actor=request.user)
        messages.success(request, f"{membership.user.email} removed from {team_slug}; their keys for it are revoked.")
    elif request.POST.get("role") in Membership.Role.values:
        membership_set(user=membership.user, team=membership.team, role=request.POST["role"], actor=request.user)
        messages.success(request, f"{membership.user.email} is now a {request.POST['role']} of {team_slug}.")
    else:
        messages.error(request, "Nothing to change.")
    return redirect(reverse("governance:manage_team", args=[team_slug]))


# --- Providers and routes ------------------------------------------------------------------------


class ProviderForm(forms.Form):
    name = forms.SlugField(max_length=64)
    base_url = forms.URLField(
        max_length=500,
        assume_scheme="https",  # a base URL typed without a scheme is an HTTPS one
        label="Base URL",
        help_text="OpenAI-compatible: https://…/v1; Anthropic: https://api.anthropic.com",
    )
    kind = forms.ChoiceField(choices=Provider.Kind.choices, initial="openai", required=False, label="Protocol")
    api_key = forms.CharField(
        required=False,
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only: stored encrypted, never shown. Leave empty to keep the stored key.",
    )
    api_key_env = forms.CharField(required=False, max_length=100, label="…or environment variable")
    extra_headers = forms.CharField(
        required=False, label="Extra headers (JSON object)", widget=forms.Textarea(attrs={"rows": 2})
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def clean_extra_headers(self) -> dict:
        raw = self.cleaned_data["extra_headers"].strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}") from exc
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError("Give a JSON object of header names to text values.")
        problem = extra_headers_problem(value)
        if problem:
            raise forms.ValidationError(problem)
        return value


class RouteForm(forms.Form):
    pattern = forms.CharField(max_length=200, help_text="A model name or a glob, e.g. gpt-4o* or *.")
    provider = forms.ModelChoiceField(queryset=providers_all())
    upstream_model = forms.CharField(
        max_length=200,
        required=False,
        label="Rename to",
        help_text="Model name sent upstream; empty keeps the asked name.",
    )
    priority = forms.IntegerField(initial=100, help_text="Lower wins when several patterns match.")
    fallback_provider = forms.ModelChoiceField(queryset=providers_all(), required=False)


@login_required
def manage_providers(request: HttpRequest) -> HttpResponse:
    """Providers (secrets write-only) and model routes, with forms to add or update either."""
    admin_required(request)
    editing = providers_all().filter(name=request.GET.get("edit", "")).first()
    initial = (
        {
            "name": editing.name,
            "base_url": editing.base_url,
            "api_key_env": editing.api_key_env,
            "extra_headers": json.dumps(editing.extra_headers) if editing.extra_headers else "",
            "is_active": editing.is_active,
        }
        if editing
        else None
    )
    provider_form = ProviderForm(
        request.POST if request.POST.get("form") == "provider" else None, prefix="provider", initial=initial
    )
    route_form = RouteForm(request.POST if request.POST.get("form") == "route" else None, prefix="route")
    if request.method == "POST" and provider_form.is_bound and provider_form.is_valid():
        data = provider_form.cleaned_data
        provider = provider_upsert(
            name=data["name"],
            base_url=data["base_url"],
            api_key=data["api_key"] or None,
            api_key_env=data["api_key_env"],
            extra_headers=data["extra_headers"],
            is_active=data["is_active"],
            kind=data["kind"] or None,
            actor=request.user,
        )
        messages.success(request, f"Provider {provider.name} saved.")
        return redirect(reverse("governance:manage_providers"))
    if request.method == "POST" and route_form.is_bound and route_form.is_valid():
        data = route_form.cleaned_data
        route = route_upsert(
            pattern=data["pattern"],
            provider=data["provider"],
            upstream_model=data["upstream_model"],
            priority=data["priority"],
            fallback_provider=data["fallback_provider"],
            actor=request.user,
        )
        messages.success(request, f"Route {route.pattern} saved.")
        return redirect(reverse("governance:manage_providers"))
    return _render(
        request,
        "providers.html",
        {
            "providers": providers_with_route_counts(),
            "routes": routes_all(),
            "provider_form": provider_form,
            "route_form": route_form,
            "editing": editing,
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def manage_provider_test(request: HttpRequest, provider_id: int) -> HttpResponse:
    """Try the provider's connection (``GET /models`` with its key) and say what happened."""
    from governance.services.provider_check import provider_connection_test

    admin_required(request)
    provider = get_object_or_404(providers_all(), pk=provider_id)
    result = provider_connection_test(provider=provider)
    (messages.success if result.ok else messages.error)(request, f"{provider.name}: {result.message}")
    return redirect(reverse("governance:manage_providers"))


@login_required
@require_POST
def manage_route_delete(request: HttpRequest, route_id: int) -> HttpResponse:
    admin_required(request)
    route = get_object_or_404(routes_all(), pk=route_id)
    route_delete(route=route, actor=request.user)
    messages.success(request, f"Route {route.pattern} deleted.")
    return redirect(reverse("governance:manage_providers"))


# --- Prices --------------------------------------------------------------------------------------


class PriceForm(forms.Form):
    model = forms.CharField(max_length=200)
    input_per_mtok = forms.DecimalField(
        min_value=Decimal("0"), max_digits=12, decimal_places=6, label="Input $/M tokens"
    )
    cached_input_per_mtok = forms.DecimalField(
        min_value=Decimal("0"), max_digits=12, decimal_places=6, required=False, label="Cached input $/M tokens"
    )
    cache_write_per_mtok = forms.DecimalField(
        min_value=Decimal("0"), max_digits=12, decimal_places=6, required=False, label="Cache write $/M tokens"
    )
    output_per_mtok = forms.DecimalField(
        min_value=Decimal("0"), max_digits=12, decimal_places=6, label="Output $/M tokens"
    )
    valid_from = forms.DateTimeField(
        required=False, help_text="Empty: from now.", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


@login_required
def manage_prices(request: HttpRequest) -> HttpResponse:
    """The price table (current version per model, history on demand); a change adds a new version."""
    admin_required(request)
    form = PriceForm(request.POST or None, initial={"model": request.GET.get("model", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            price = price_set(
                model=data["model"],
                input_per_mtok=data["input_per_mtok"],
                cached_input_per_mtok=data["cached_input_per_mtok"],
                cache_write_per_mtok=data["cache_write_per_mtok"],
                output_per_mtok=data["output_per_mtok"],
                valid_from=data["valid_from"],
                actor=request.user,
            )
        except (IntegrityError, ValueError) as exc:
            form.add_error(
                None,
                "This model already has a price from that moment." if isinstance(exc, IntegrityError) else str(exc),
            )
        else:
            messages.success(request, f"New price for {price.model} from {price.valid_from:%Y-%m-%d %H:%M}.")
            return redirect(reverse("governance:manage_prices"))
    rows = price_history()
    return _render(
        request,
        "prices.html",
        {"rows": rows, "form": form, "to_price": models_to_price()},
        status=400 if request.method == "POST" else 200,
    )


# --- Audit log -----------------------------------------------------------------------------------


@login_required
def manage_audit(request: HttpRequest) -> HttpResponse:
    """The audit log, newest first, filtered by action, object type or actor, 50 per page."""
    admin_required(request)
    filters = {name: request.GET.get(name, "").strip() for name in ("action", "object_type", "actor")}
    entries = audit_entries_filtered(**filters)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = urlencode({name: value for name, value in filters.items() if value})
    return _render(
        request,
        "audit.html",
        {
            "page": page,
            "filters": filters,
            "query": query,
            "actions": audit_actions(),
            "object_types": audit_object_types(),
        },
    )
