"""Helpers shared by the page views: the report window from the query string, 404 on what one may not see."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest

from governance.periods import DEFAULT_WINDOW, Period, Window, window_parse, window_preset
from governance.selectors.access import user_is_admin


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a ``login_required`` view: its user is a signed-in ``User``, never anonymous."""

    user: User


def window_from_request(request: HttpRequest) -> tuple[Window, str]:
    """The window asked by ``?window=7d|30d|90d|month|last-month`` or ``?start=&end=``, and an error ('' when fine).

    Nothing asked: the last 30 days. A malformed or too long range falls back to the last 30 days, with
    the reason for the page to show.
    """
    try:
        return window_parse(
            window=request.GET.get("window") or None,
            start=request.GET.get("start") or None,
            end=request.GET.get("end") or None,
        ), ""
    except ValueError as exc:
        return window_preset(name=DEFAULT_WINDOW), f"Could not use that date range ({exc}); showing the last 30 days."


def period_from_request(request: HttpRequest) -> tuple[Period, str]:
    """The period of ``window_from_request``, for pages that need only the days."""
    window, error = window_from_request(request)
    return window.period, error


def admin_required(request: HttpRequest) -> None:
    """Admin pages are 404 for anyone but an admin (never confirming they exist)."""
    if not user_is_admin(request.user):
        raise Http404("not found")
