"""Usage: the events of the ledger, and their sums by day, person, model and team (from the rollups).

Prompt and output text are never returned, even when a team's policy stores them.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from governance.api_permissions import READ
from governance.apis.common import BaseApi, PageFilterSerializer, ordering_field, page_response, paginated
from usage.api_selectors import GROUPS, usage_aggregate, usage_events_visible


class UsageFilterSerializer(PageFilterSerializer):
    team = serializers.IntegerField(required=False, min_value=1, help_text="Team id.")
    user = serializers.IntegerField(required=False, min_value=1, help_text="Person id.")
    model = serializers.CharField(required=False, max_length=200, help_text="Served model.")
    start = serializers.DateField(required=False, help_text="First day (organisation time zone), inclusive.")
    end = serializers.DateField(required=False, help_text="Last day, inclusive.")

    class Meta:
        ref_name = "UsageFilter"

    def validate(self, data):
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise serializers.ValidationError({"start": ["start is after end."]})
        return data


_GROUP_KEYS = ("day", "team_id", "user_id", "model")


def _selector_filters(filters: dict) -> dict:
    names = {
        "team": "team_id",
        "user": "user_id",
        "model": "model",
        "start": "start",
        "end": "end",
        "status": "status",
        "client": "client",
        "session_id": "session_id",
    }
    return {names[name]: value for name, value in filters.items() if name in names}


class UsageEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    request_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    key_id = serializers.IntegerField(allow_null=True)
    user_id = serializers.IntegerField(allow_null=True)
    team_id = serializers.IntegerField(allow_null=True)
    endpoint = serializers.CharField()
    model_requested = serializers.CharField()
    model_served = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.IntegerField()
    error_code = serializers.CharField()
    stream = serializers.BooleanField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=8, allow_null=True)
    latency_ms = serializers.IntegerField()
    time_to_first_byte_ms = serializers.IntegerField(allow_null=True)
    is_estimated = serializers.BooleanField()
    client_disconnected = serializers.BooleanField()
    max_tokens = serializers.IntegerField(allow_null=True)
    purpose = serializers.CharField()
    client = serializers.CharField()
    session_id = serializers.CharField()
    agent_id = serializers.CharField()
    parent_agent_id = serializers.CharField()
    request_class = serializers.CharField()
    policy_action = serializers.CharField()

    class Meta:
        ref_name = "UsageEvent"


class UsageEventListApi(BaseApi):
    scopes = {"GET": READ}

    class FilterSerializer(UsageFilterSerializer):
        status = serializers.IntegerField(
            required=False, min_value=100, max_value=599, help_text="HTTP status returned to the caller."
        )
        client = serializers.CharField(
            required=False,
            max_length=100,
            help_text="Client product (claude-cli) or product/version (claude-cli/2.1.332).",
        )
        session_id = serializers.CharField(required=False, max_length=128, help_text="A coding agent's session.")
        ordering = ordering_field(["created_at", "total_tokens", "cost_usd", "latency_ms"], default="-created_at")

        class Meta:
            ref_name = "UsageEventFilter"

    @extend_schema(operation_id="usage_events_list", responses=paginated(UsageEventOutputSerializer))
    def get(self, request):
        filters = self.filters()
        events = usage_events_visible(access=self.access, **_selector_filters(filters))
        return page_response(self, events.order_by(filters["ordering"], "-pk"), UsageEventOutputSerializer)


class UsageEventDetailApi(BaseApi):
    scopes = {"GET": READ}

    @extend_schema(operation_id="usage_events_retrieve", responses=UsageEventOutputSerializer)
    def get(self, request, request_id: str):
        event = get_object_or_404(usage_events_visible(access=self.access), request_id=request_id)
        return Response(UsageEventOutputSerializer(event).data)


class UsageSummaryApi(BaseApi):
    """Sums of the daily rollups, grouped by ``group_by`` (e.g. ``day,model``); none: one total row."""

    scopes = {"GET": READ}

    class FilterSerializer(UsageFilterSerializer):
        group_by = serializers.CharField(
            required=False,
            default="",
            allow_blank=True,
            max_length=40,
            help_text=f"Comma-separated, any of: {', '.join(GROUPS)}. Empty: one row of totals.",
        )

        class Meta:
            ref_name = "UsageSummaryFilter"

        def validate_group_by(self, value: str) -> list[str]:
            groups = [item.strip() for item in value.split(",") if item.strip()]
            unknown = sorted(set(groups) - set(GROUPS))
            if unknown:
                raise serializers.ValidationError(f"Unknown groups: {', '.join(unknown)}; use {', '.join(GROUPS)}.")
            return groups

    class OutputSerializer(serializers.Serializer):
        day = serializers.DateField(required=False, help_text="With group_by day.")
        team_id = serializers.IntegerField(required=False, allow_null=True, help_text="With group_by team.")
        user_id = serializers.IntegerField(required=False, allow_null=True, help_text="With group_by user.")
        model = serializers.CharField(required=False, help_text="With group_by model.")
        requests = serializers.IntegerField()
        errors = serializers.IntegerField()  # type: ignore[assignment]  # a declared field, taken off the class by the metaclass
        prompt_tokens = serializers.IntegerField()
        completion_tokens = serializers.IntegerField()
        cached_tokens = serializers.IntegerField()
        reasoning_tokens = serializers.IntegerField()
        total_tokens = serializers.IntegerField()
        cost_usd = serializers.DecimalField(max_digits=20, decimal_places=8)
        unpriced_requests = serializers.IntegerField()

        def to_representation(self, row):
            # Group fields appear only when grouped by them (a null team or person is a real group).
            data = super().to_representation(row)
            return {name: value for name, value in data.items() if name in row or name not in _GROUP_KEYS}

    @extend_schema(operation_id="usage_summary", responses=paginated(OutputSerializer))
    def get(self, request):
        filters = self.filters()
        rows = usage_aggregate(access=self.access, group_by=filters.get("group_by", []), **_selector_filters(filters))
        return page_response(self, rows, self.OutputSerializer)
