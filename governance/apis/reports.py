"""Reports: a team's report, the caller's own usage, the organisation summary - the web pages' selectors
(``governance.selectors``) rendered as JSON. People are ordered by value per token, never by volume."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from governance.api_permissions import READ
from governance.apis.common import BaseApi
from governance.periods import period_parse
from governance.selectors.api import teams_visible
from governance.selectors.org import org_summary
from governance.selectors.people import person_usage
from governance.selectors.team import team_report

_MONEY: dict[str, Any] = {"max_digits": 24, "decimal_places": 8}


class PeriodFilterSerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (organisation time zone). Default: this month.")
    end = serializers.DateField(required=False, help_text="Last day, inclusive; at most 366 days in all.")

    class Meta:
        ref_name = "PeriodFilter"

    def validate(self, data):
        try:
            data["period"] = period_parse(
                start=data["start"].isoformat() if data.get("start") else None,
                end=data["end"].isoformat() if data.get("end") else None,
            )
        except ValueError as exc:
            raise serializers.ValidationError({"start": [str(exc)]}) from exc
        return data


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, taken off the class by the metaclass

    class Meta:
        ref_name = "ReportPeriod"


class TotalsSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(**_MONEY)
    unpriced_requests = serializers.IntegerField()

    class Meta:
        ref_name = "ReportTotals"


class DayPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    requests = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(**_MONEY)

    class Meta:
        ref_name = "ReportDay"


class ModelShareSerializer(serializers.Serializer):
    model = serializers.CharField()
    requests = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(**_MONEY)
    token_share = serializers.FloatField()

    class Meta:
        ref_name = "ReportModelShare"


class ValueMetricsSerializer(serializers.Serializer):
    outcomes = serializers.FloatField(allow_null=True)
    outcomes_per_mtok = serializers.FloatField(allow_null=True)
    cost_per_outcome = serializers.DecimalField(**_MONEY, allow_null=True)
    feedback_rate = serializers.FloatField(allow_null=True)
    positive_feedback_rate = serializers.FloatField(allow_null=True)

    class Meta:
        ref_name = "ReportValue"


class BurnPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    actual = serializers.DecimalField(**_MONEY, allow_null=True)
    forecast = serializers.DecimalField(**_MONEY, allow_null=True)

    class Meta:
        ref_name = "ReportBurnPoint"


class BudgetBurnSerializer(serializers.Serializer):
    unit = serializers.ChoiceField(choices=["usd", "tokens"])
    period_name = serializers.ChoiceField(choices=["day", "week", "month"])
    period = PeriodSerializer()
    limit = serializers.DecimalField(**_MONEY)
    spent = serializers.DecimalField(**_MONEY)
    forecast_at_end = serializers.DecimalField(**_MONEY)
    run_out_on = serializers.DateField(allow_null=True)
    points = BurnPointSerializer(many=True)

    class Meta:
        ref_name = "ReportBudgetBurn"


class FlagEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField()
    comment = serializers.CharField(allow_blank=True)

    class Meta:
        ref_name = "ReportFlagEvent"


class FlagViewSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    detector = serializers.CharField()
    score = serializers.FloatField()
    user_id = serializers.IntegerField(allow_null=True)
    person = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    team_slug = serializers.CharField()
    status = serializers.CharField()
    raised_at = serializers.DateTimeField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    summary = serializers.CharField(allow_blank=True)
    evidence = serializers.JSONField()
    history = FlagEventSerializer(many=True)

    class Meta:
        ref_name = "ReportFlag"


class TeamReportApi(BaseApi):
    scopes = {"GET": READ}
    FilterSerializer = PeriodFilterSerializer

    class OutputSerializer(serializers.Serializer):
        class PersonRowSerializer(serializers.Serializer):
            user_id = serializers.IntegerField(allow_null=True)
            name = serializers.CharField()
            requests = serializers.IntegerField()
            tokens = serializers.IntegerField()
            cost_usd = serializers.DecimalField(**_MONEY)
            value = ValueMetricsSerializer()

        team_id = serializers.IntegerField()
        team_slug = serializers.CharField()
        team_name = serializers.CharField()
        period = PeriodSerializer()
        totals = TotalsSerializer()
        days = DayPointSerializer(many=True)
        models = ModelShareSerializer(many=True)
        people = PersonRowSerializer(many=True, help_text="Ordered by value per token, never by volume.")
        value = ValueMetricsSerializer()
        budgets = BudgetBurnSerializer(many=True)
        flags = FlagViewSerializer(many=True, help_text="Open flags.")

    @extend_schema(operation_id="reports_team", responses=OutputSerializer)
    def get(self, request, team_id: int):
        team = get_object_or_404(teams_visible(access=self.access), pk=team_id)
        if not self.access.can_read_team(team.pk):
            raise PermissionDenied("Only the team's managers and admins read its report.")
        report = team_report(team=team, period=self.filters()["period"])
        return Response(self.OutputSerializer(report).data)


class MyUsageReportApi(BaseApi):
    scopes = {"GET": READ}
    FilterSerializer = PeriodFilterSerializer

    class OutputSerializer(serializers.Serializer):
        class TeamUsageSerializer(serializers.Serializer):
            team_id = serializers.IntegerField()
            team_slug = serializers.CharField()
            team_name = serializers.CharField()
            totals = TotalsSerializer()
            budgets = BudgetBurnSerializer(many=True)

        user_id = serializers.IntegerField()
        period = PeriodSerializer()
        totals = TotalsSerializer()
        days = DayPointSerializer(many=True)
        models = ModelShareSerializer(many=True)
        teams = TeamUsageSerializer(many=True)
        value = ValueMetricsSerializer()

    @extend_schema(operation_id="reports_me", responses=OutputSerializer)
    def get(self, request):
        if self.access.person_id is None:
            raise PermissionDenied("A service token is not a person; read the team report instead.")
        usage = person_usage(user=request.user, period=self.filters()["period"])
        return Response(self.OutputSerializer(usage).data)


class OrgReportApi(BaseApi):
    admin_only = True
    FilterSerializer = PeriodFilterSerializer

    class OutputSerializer(serializers.Serializer):
        class TeamSummarySerializer(serializers.Serializer):
            team_id = serializers.IntegerField()
            team_slug = serializers.CharField()
            team_name = serializers.CharField()
            members = serializers.IntegerField()
            totals = TotalsSerializer()

        period = PeriodSerializer()
        totals = TotalsSerializer()
        teams = TeamSummarySerializer(many=True)
        days = DayPointSerializer(many=True)

    @extend_schema(operation_id="reports_org", responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer(org_summary(period=self.filters()["period"])).data)
