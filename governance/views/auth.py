"""Sign-in (username or e-mail + password, throttled), sign-out, and the landing redirect."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from governance.selectors.access import teams_managed_by, user_is_admin
from governance.selectors.directory import people_with_email, username_taken
from governance.services.login_throttle import (
    lockout_seconds,
    login_failure_record,
    login_is_locked,
    login_success_record,
)


class SignInForm(AuthenticationForm):
    """Django's authentication form, also accepting an e-mail address in the username field."""

    username = forms.CharField(
        label="Username or e-mail",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username", "autocapitalize": "none"}),
    )

    def clean(self):
        raw = (self.cleaned_data.get("username") or "").strip()
        if "@" in raw:
            if not username_taken(username=raw):
                matches = list(people_with_email(email=raw).values_list("username", flat=True)[:2])
                if len(matches) == 1:  # an ambiguous e-mail never picks one of several accounts
                    self.cleaned_data["username"] = matches[0]
        return super().clean()


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: a forwarded-for header is set by the client unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "")


class SignInView(auth_views.LoginView):
    """The sign-in page. Too many failures for one username from one address: 429 for a while."""

    form_class = SignInForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["oidc_enabled"] = getattr(settings, "TOKENWISE_OIDC_ENABLED", False)
        context["oidc_label"] = getattr(settings, "TOKENWISE_OIDC_LABEL", "Sign in with single sign-on")
        return context

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if login_is_locked(username=username, address=client_address(request)):
            return self._locked_response()
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        login_success_record(username=self.request.POST.get("username", ""), address=client_address(self.request))
        return super().form_valid(form)

    def form_invalid(self, form):
        username = self.request.POST.get("username", "")
        failures = login_failure_record(username=username, address=client_address(self.request))
        if failures >= settings.TOKENWISE_LOGIN_MAX_FAILURES:
            return self._locked_response()
        return super().form_invalid(form)

    def _locked_response(self) -> HttpResponse:
        minutes = max(1, lockout_seconds() // 60)
        context = self.get_context_data(form=self.get_form_class()(self.request), locked_minutes=minutes)
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(lockout_seconds())
        return response


class SignOutView(auth_views.LogoutView):
    """Sign-out, by POST only (Django's LogoutView refuses GET)."""


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to the page they most likely want: admin overview, team report, or my usage."""
    if user_is_admin(request.user):
        return redirect(reverse("governance:manage_home"))
    if teams_managed_by(user=request.user).exists():
        return redirect(reverse("governance:team_report_default"))
    return redirect(reverse("usage:my_usage"))
