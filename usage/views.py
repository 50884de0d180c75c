"""Employee pages: "My usage" (usage over time, budgets left, keys, flags, recent calls) and key actions."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance.models import ApiKey, Team
from governance.periods import PRESETS, period_this_month
from governance.selectors.flags import flag_groups, flags_for_person
from governance.selectors.people import person_usage, recent_calls_for_user
from governance.selectors.value import feedback_available
from governance.services.keys import key_create, key_revoke
from governance.views.charts import mix_chart, usage_chart
from governance.views.common import AuthenticatedHttpRequest, window_from_request
from usage.sessions import agent_activity_for_user, session_calls_for_user


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="Where you will use it, e.g. 'laptop'.")
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        label="Team",
        empty_label=None,
        help_text="Usage with this key counts towards this team.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.filter(memberships__user=user).order_by("slug")


def _my_usage_context(request: AuthenticatedHttpRequest, *, key_form: KeyCreateForm | None = None) -> dict:
    window, period_error = window_from_request(request)
    period = window.period
    usage = person_usage(user=request.user, period=period)
    flags = flags_for_person(user=request.user)
    last_month_end = period_this_month().start - timedelta(days=1)
    return {
        "nav": "me",
        "usage": usage,
        "period": period,
        "window": window,
        "presets": PRESETS,
        "profile_url": reverse("governance:person", args=[request.user.pk]),
        "period_error": period_error,
        "usage_chart": usage_chart(usage.days),
        "mix_chart": mix_chart(usage.models),
        "keys": ApiKey.objects.filter(user=request.user).select_related("team").order_by("revoked_at", "-created_at"),
        "key_form": key_form or KeyCreateForm(user=request.user),
        "flags": flags,
        "flag_groups": flag_groups(flags),
        "calls": recent_calls_for_user(user=request.user, limit=20),
        "agents": agent_activity_for_user(user=request.user, start=period.start, end=period.end),
        "feedback_available": feedback_available(),
        "last_month": {"start": last_month_end.replace(day=1), "end": last_month_end},
        "now": timezone.now(),
    }


@login_required
def my_usage(request: AuthenticatedHttpRequest) -> HttpResponse:
    context = _my_usage_context(request)
    return render(request, "usage/my_usage.html", context, status=400 if context["period_error"] else 200)


@login_required
@require_POST
def my_key_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Create one of my keys in one of my teams; the secret is shown on this response only."""
    form = KeyCreateForm(request.POST, user=request.user)
    if not form.is_valid():
        return render(request, "usage/my_usage.html", _my_usage_context(request, key_form=form), status=400)
    key, secret = key_create(
        user=request.user, team=form.cleaned_data["team"], name=form.cleaned_data["name"], actor=request.user
    )
    response = render(request, "usage/key_created.html", {"nav": "me", "key": key, "secret": secret}, status=201)
    response["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@login_required
@require_POST
def my_key_revoke(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    """Revoke one of my own keys; someone else's key is a 404."""
    key = ApiKey.objects.filter(pk=key_id, user=request.user).first()
    if key is None:
        raise Http404("not found")
    key_revoke(key=key, actor=request.user)
    messages.success(request, f"Key “{key.name}” ({key.prefix}…) is revoked; it stops working within seconds.")
    return redirect(reverse("usage:my_usage") + "#keys")


@login_required
@require_POST
def my_call_rate(request: AuthenticatedHttpRequest, request_id: str) -> HttpResponse:
    """Rate one of my own calls (thumbs up 1 / down -1); a second rating replaces the first."""
    from usage.value import call_owner_from_db, feedback_record

    owner = call_owner_from_db(request_id)
    if owner is None or owner.user_id != request.user.pk:
        raise Http404("not found")
    try:
        score = int(request.POST.get("score", ""))
    except ValueError:
        score = 0
    if score not in (1, -1):
        return HttpResponse("score must be 1 or -1", status=400, content_type="text/plain")
    feedback_record(
        request_id=request_id,
        owner=owner,
        rater_user_id=request.user.pk,
        rater_team_id=None,
        key_id=None,
        score=score,
        scale="binary",
    )
    messages.success(request, "Thanks: your rating is recorded.")
    return redirect(reverse("usage:my_usage") + "#calls")


@login_required
def my_session(request: AuthenticatedHttpRequest, session_id: str) -> HttpResponse:
    """One of my coding-agent sessions: its calls in order, tokens per class and cost."""
    calls = list(session_calls_for_user(user=request.user, session_id=session_id))
    if not calls:
        raise Http404("No such session of yours.")
    total = sum((call.cost_usd or 0 for call in calls), start=0)
    return render(
        request,
        "usage/session_detail.html",
        {"nav": "me", "session_id": session_id, "calls": calls, "total_cost": total},
    )
