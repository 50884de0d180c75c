"""Target 3: reports at scale - a team's monthly report (page and API) and the organisation summary.

The data set (bench/harness/generate.py: 10 million events, 100 teams, 5,000 people, 12 months; ``--quick``:
500,000) is generated once and kept. Then, for last month:

* the team report: the selector ``governance.selectors.team.team_report``, the page ``/teams/<slug>/`` and the
  API ``/api/reports/teams/<id>/``;
* the person page (``person_page``, ``/people/<id>/``) of the team's heaviest user, and the request log's
  first page (``/requests/`` for the team, the person and everyone) and one call, under the same target;
* the organisation summary: ``org_summary``, the page ``/manage/`` and the API ``/api/reports/org/``.

Pages and API are requested through Django's test client in this process (the full middleware stack,
session sign-in of a staff user, template rendering or JSON serialisation; no network). Each is run
once cold (first request) and then ``REPEAT`` times; the target applies to the median of the warm runs,
and the cold figure is printed beside it.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from bench.harness.report import check, ms

TEAM_TARGET_S = 0.300
ORG_TARGET_S = 1.0
TARGET_EVENTS = 10_000_000
REPEAT = 7


def _timed(function) -> tuple[float, list[float]]:
    started = time.perf_counter()
    function()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        function()
        warm.append(time.perf_counter() - started)
    return cold, warm


def _get(client, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)


def reports(*, quick: bool, events: int | None) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from bench.harness.generate import TEAM_PREFIX, dataset_ensure, rollups_settle
    from governance.models import Team
    from governance.periods import period_parse
    from governance.selectors.org import org_summary
    from governance.selectors.team import team_report
    from usage.ledger.partitions import usage_partitions_list
    from usage.models import DailyRollup

    count = events or (500_000 if quick else 10_000_000)
    print(f"\n## Reports at scale ({count:,} events asked, 100 teams, 5,000 people, 12 months)", flush=True)
    started = time.perf_counter()
    result = dataset_ensure(events=count, teams=100, people=5000, months=12, at_least=quick)
    count = result["events"]
    if result["generated"]:
        print(
            f"    generated in {time.perf_counter() - started:.0f} s (COPY {result['copy_s']:.0f} s, rollups "
            f"{result['rollup_s']:.0f} s, analyse {result['analyse_s']:.0f} s); rollups equal the ledger "
            f"service's on a sample slice: {result['rollup_check']}"
        )
        check(
            "reports",
            "generated rollups = usage_rollups_refresh on a sample slice",
            measured=str(result["rollup_check"]),
            limit="True",
            passed=result["rollup_check"],
        )
    else:
        print(
            f"    data set already present ({result['events']:,} generated events); rollup table vacuumed "
            f"in {rollups_settle():.1f} s (what autovacuum does after a load)"
        )
    partitions = [p for p in usage_partitions_list() if p.month is not None]
    print(
        f"    {count:,} generated events; usage-event table: {len(partitions)} monthly partitions "
        f"({'partitioned' if partitions else 'NOT partitioned'}); {DailyRollup.objects.count():,} daily rollup rows"
    )

    today = timezone.localdate()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    start, end = last_month_end.replace(day=1), last_month_end
    period = period_parse(start=start.isoformat(), end=end.isoformat())
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    team = Team.objects.get(slug=f"{TEAM_PREFIX}042")
    staff, _ = get_user_model().objects.get_or_create(
        username="bench-admin@bench.example", defaults={"email": "bench-admin@bench.example", "is_staff": True}
    )
    client = Client()
    client.force_login(staff)
    from django.db.models import Sum

    from governance.selectors.people import person_page
    from usage.models import UsageEvent

    heaviest = (
        DailyRollup.objects.filter(team=team, day__gte=start, day__lte=end)
        .values("user_id")
        .annotate(tokens=Sum("total_tokens"))
        .order_by("-tokens")
        .first()
    )
    person = get_user_model().objects.get(pk=heaviest["user_id"])
    call_id = UsageEvent.objects.filter(team=team).order_by("-created_at").values_list("request_id", flat=True)[0]

    figures = {
        ("team", "selector team_report"): _timed(lambda: team_report(team=team, period=period)),
        ("team", f"page /teams/{team.slug}/"): _timed(lambda: _get(client, f"/teams/{team.slug}/?{query}")),
        ("team", f"API /api/reports/teams/{team.pk}/"): _timed(
            lambda: _get(client, f"/api/reports/teams/{team.pk}/?{query}")
        ),
        ("team", "selector person_page (the team's heaviest user)"): _timed(
            lambda: person_page(user=person, period=period, team_ids=None)
        ),
        ("team", f"page /people/{person.pk}/"): _timed(lambda: _get(client, f"/people/{person.pk}/?{query}")),
        ("team", f"page /requests/?team={team.pk} (first page)"): _timed(
            lambda: _get(client, f"/requests/?team={team.pk}&{query}")
        ),
        ("team", f"page /requests/?user={person.pk} (first page)"): _timed(
            lambda: _get(client, f"/requests/?user={person.pk}&{query}")
        ),
        ("team", "page /requests/ (admin, every team, first page)"): _timed(
            lambda: _get(client, f"/requests/?{query}")
        ),
        ("team", "page /requests/<request_id>/"): _timed(lambda: _get(client, f"/requests/{call_id}/")),
        ("org", "selector org_summary"): _timed(lambda: org_summary(period=period)),
        ("org", "page /manage/"): _timed(lambda: _get(client, f"/manage/?{query}")),
        ("org", "API /api/reports/org/"): _timed(lambda: _get(client, f"/api/reports/org/?{query}")),
    }
    report = team_report(team=team, period=period)
    print(
        f"    period {start} .. {end}; team {team.slug}: {report.totals.requests:,} calls, "
        f"{len(report.people)} people, {len(report.models)} models"
    )
    judged = count >= TARGET_EVENTS  # a smaller data set (--quick) is context, not the target
    for (kind, name), (cold, warm) in figures.items():
        limit = TEAM_TARGET_S if kind == "team" else ORG_TARGET_S
        median = statistics.median(warm)
        check(
            "reports",
            f"{'team monthly report' if kind == 'team' else 'org summary'}: {name}",
            measured=f"{ms(median)} median of {REPEAT} (cold {ms(cold)}, max {ms(max(warm))}; {count:,} events)",
            limit=f"< {ms(limit)} at {TARGET_EVENTS:,} events",
            passed=(median < limit) if judged else None,
        )
