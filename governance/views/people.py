"""Drill-down pages: a person's page, the request log and one call - each narrowed to what the viewer may see.

Permissions are read from the database on every request (``governance.selectors.access``); anything outside
them is a 404, the same answer as for an id that does not exist.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from governance.models import ApiKey
from governance.periods import PRESETS
from governance.selectors.access import person_teams_visible, teams_managed_by, user_is_admin
from governance.selectors.calls import STATUS_CHOICES, CallFilters, call_cost_parts, call_detail, calls_page
from governance.selectors.directory import person_by_id
from governance.selectors.keys import keys_of_person
from governance.selectors.people import person_page
from governance.selectors.rollups import person_label
from governance.selectors.teams import teams_all, teams_of_person
from governance.views.charts import shares_chart, stacked_chart
from governance.views.common import AuthenticatedHttpRequest, window_from_request

FILTER_FIELDS = ("user", "team", "key", "model", "purpose", "client", "session", "status", "q")


@login_required
def person_view(request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
    """One person's usage, what drove it, sessions, value against peers and flags (within the teams one may see)."""
    subject = person_by_id(user_id=user_id) if user_id < 2**63 else None
    if subject is None:
        raise Http404("not found")
    team_ids = person_teams_visible(viewer=request.user, subject_id=user_id)
    if team_ids == []:
        raise Http404("not found")  # the same answer as for an id that does not exist
    window, window_error = window_from_request(request)
    page = person_page(user=subject, period=window.period, team_ids=team_ids)
    teams = teams_of_person(user_id=subject.pk, team_ids=team_ids)
    return render(
        request,
        "governance/person_page.html",
        {
            "nav": "me" if subject.pk == request.user.pk else "teams",
            "subject": subject,
            "subject_name": person_label(subject),
            "page": page,
            "window": window,
            "period": window.period,
            "period_error": window_error,
            "presets": PRESETS,
            "teams": teams,
            "stacked_chart": stacked_chart(page.drivers, dimensions=("model", "purpose", "client")),
            "share_charts": [
                (dimension, title, shares_chart(page.drivers.shares[dimension]))
                for dimension, title in (("model", "Model"), ("purpose", "Purpose"), ("client", "Client"))
            ],
            "log_query": urlencode({"user": subject.pk, **_window_params(window)}),
        },
        status=400 if window_error else 200,
    )


def _window_params(window) -> dict:
    if window.preset == "custom":
        return {"start": window.period.start.isoformat(), "end": window.period.end.isoformat()}
    return {"window": window.preset}


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


@login_required
def request_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The calls one may see, newest first, 50 a page, with filters and a search box."""
    window, window_error = window_from_request(request)
    get = request.GET
    filters = CallFilters(
        period=window.period,
        user_id=_int(get.get("user")),
        team_id=_int(get.get("team")),
        key_id=_int(get.get("key")),
        model=get.get("model", "").strip(),
        purpose=get.get("purpose", "").strip(),
        client=get.get("client", "").strip(),
        session=get.get("session", "").strip(),
        status=get.get("status", "") if get.get("status", "") in dict(STATUS_CHOICES) else "",
        search=get.get("q", "").strip(),
    )
    page = calls_page(viewer=request.user, filters=filters, page=_int(get.get("page")) or 1)
    kept = {name: get[name] for name in FILTER_FIELDS if get.get(name)}
    kept.update(_window_params(window))
    if user_is_admin(request.user):
        teams = teams_all()
        keys = ApiKey.objects.none()
    else:
        teams = teams_managed_by(user=request.user).order_by("slug")
        keys = keys_of_person(user_id=request.user.pk)
    return render(
        request,
        "governance/request_log.html",
        {
            "nav": "requests",
            "page": page,
            "filters": filters,
            "window": window,
            "period": window.period,
            "period_error": window_error,
            "presets": PRESETS,
            "status_choices": STATUS_CHOICES,
            "teams": teams,
            "keys": keys,
            "values": {name: get.get(name, "") for name in FILTER_FIELDS},
            "next_query": urlencode({**kept, "page": page.page + 1}),
            "previous_query": urlencode({**kept, "page": page.page - 1}),
            "window_query": urlencode(
                {name: value for name, value in kept.items() if name not in ("window", "start", "end")}
            ),
        },
        status=400 if window_error else 200,
    )


@login_required
def call_view(request: HttpRequest, request_id: str) -> HttpResponse:
    """One call by its request id: tokens by class, cost, timing, status, policy action; its text only if stored."""
    call = call_detail(viewer=request.user, request_id=request_id)
    if call is None:
        raise Http404("not found")
    return render(
        request,
        "governance/call_detail.html",
        {
            "nav": "requests",
            "call": call,
            "person": person_label(call.user) if call.user_id else "(no person)",
            "cost_parts": call_cost_parts(call),
            "may_view_person": call.user_id is not None
            and person_teams_visible(viewer=request.user, subject_id=call.user_id) != [],
        },
    )
