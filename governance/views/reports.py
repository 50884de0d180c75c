"""Team report pages for managers (and admins): the report, its CSV export, the team switcher."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from governance.models import Team
from governance.periods import PRESETS, period_this_month
from governance.selectors.access import teams_managed_by
from governance.selectors.drivers import spend_drivers
from governance.selectors.policies import team_policy_rows
from governance.selectors.rollups import rollups, totals_of
from governance.selectors.team import CSV_TABLES, team_report, team_report_csv
from governance.selectors.teams import teams_all
from governance.views.charts import burn_chart, mix_chart, shares_chart, stacked_chart, usage_chart
from governance.views.common import period_from_request, window_from_request


def _worst_risk(budgets) -> str:
    """The most urgent budget state shown in the headline: over, at_risk or ok ('' with no budget)."""
    risks = {burn.risk for burn in budgets}
    return next((risk for risk in ("over", "at_risk", "ok") if risk in risks), "")


def _managed_team(request: HttpRequest, slug: str) -> Team:
    team = get_object_or_404(teams_all(), slug=slug)
    if not teams_managed_by(user=request.user).filter(pk=team.pk).exists():
        raise Http404("not found")  # the same answer whether the team exists or not
    return team


@login_required
def team_report_default(request: HttpRequest) -> HttpResponse:
    """The first team the person manages; 403 for someone who manages none."""
    team = teams_managed_by(user=request.user).order_by("slug").first()
    if team is None:
        return render(request, "governance/no_teams.html", status=403)
    return redirect(reverse("governance:team_report", args=[team.slug]))


@login_required
def team_report_view(request: HttpRequest, slug: str) -> HttpResponse:
    team = _managed_team(request, slug)
    window, period_error = window_from_request(request)
    period = window.period
    report = team_report(team=team, period=period)
    this_month = period_this_month()
    last_month_end = this_month.start - timedelta(days=1)
    drivers = spend_drivers(period=period, team_id=team.pk)
    previous = window.previous
    context = {
        "nav": "teams",
        "window": window,
        "presets": PRESETS,
        "previous": totals_of(rollups(start=previous.start, end=previous.end, team_id=team.pk)),
        "drivers": drivers,
        "stacked_chart": stacked_chart(drivers, dimensions=("person", "model", "purpose", "client")),
        "share_charts": [
            (dimension, title, shares_chart(drivers.shares[dimension]))
            for dimension, title in (
                ("person", "Person"),
                ("model", "Model"),
                ("purpose", "Purpose"),
                ("client", "Client"),
            )
        ],
        "risk": _worst_risk(report.budgets),
        "report": report,
        "team": team,
        "teams": teams_managed_by(user=request.user).order_by("slug"),
        "period_error": period_error,
        "usage_chart": usage_chart(report.days),
        "mix_chart": mix_chart(report.models),
        "burn_charts": [(burn, burn_chart(burn)) for burn in report.budgets],
        "query": f"start={period.start.isoformat()}&end={period.end.isoformat()}",
        "log_query": f"team={team.pk}&{window.query}",
        "csv_tables": CSV_TABLES,
        "last_month": {"start": last_month_end.replace(day=1), "end": last_month_end},
        "today": timezone.localdate(),
        "policy_rows": team_policy_rows(team_id=team.pk),
    }
    return render(request, "governance/team_report.html", context, status=400 if period_error else 200)


@login_required
def team_report_csv_view(request: HttpRequest, slug: str) -> HttpResponse:
    """One table of the report, as CSV, for the same period and team the page shows."""
    team = _managed_team(request, slug)
    period, period_error = period_from_request(request)
    table = request.GET.get("table", "people")
    if period_error or table not in CSV_TABLES:
        return HttpResponse(
            period_error or f"table must be one of {', '.join(CSV_TABLES)}", status=400, content_type="text/plain"
        )
    body = team_report_csv(report=team_report(team=team, period=period), table=table)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    filename = f"tokenwise-{team.slug}-{table}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def team_report_switch(request: HttpRequest) -> HttpResponse:
    """The team switcher's target: the chosen team's report for the same period."""
    team = _managed_team(request, request.GET.get("team", ""))
    url = reverse("governance:team_report", args=[team.slug])
    start, end = request.GET.get("start", ""), request.GET.get("end", "")
    if start and end:
        from urllib.parse import urlencode

        url += "?" + urlencode({"start": start, "end": end})
    return redirect(url)
