"""Helpers shared by the page views: the period from the query string, 404 on what one may not see."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from governance.permissions import user_is_admin
from governance.reports import Period, period_parse, period_this_month


def period_from_request(request: HttpRequest) -> tuple[Period, str]:
    """The period asked by ``?start=&end=``, and an error message ('' when fine).

    A malformed or too long range falls back to this month, with the reason for the page to show.
    """
    try:
        return period_parse(start=request.GET.get("start") or None, end=request.GET.get("end") or None), ""
    except ValueError as exc:
        return period_this_month(), f"Could not use that date range ({exc}); showing this month."


def admin_required(request: HttpRequest) -> None:
    """Admin pages are 404 for anyone but an admin (never confirming they exist)."""
    if not user_is_admin(request.user):
        raise Http404("not found")
