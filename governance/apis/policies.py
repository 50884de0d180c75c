"""Policies: read by the managers of the team they apply to (and the people they apply to), written by
admins. A null field means "not set at this level": the most specific level that sets a field wins
(person in team > team > organisation default)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from governance.api_permissions import READ
from governance.apis.common import BaseApi, PageFilterSerializer, ordering_field, page_response, paginated
from governance.models import Policy, Team
from governance.policy_fields import POLICY_FIELDS
from governance.selectors.api import policies_visible
from governance.selectors.directory import person_by_id
from governance.selectors.teams import is_member
from governance.services.policies import policy_delete, policy_save, policy_set

_COUNT: dict[str, Any] = {"required": False, "allow_null": True, "min_value": 0}
_USD: dict[str, Any] = {"required": False, "allow_null": True, "min_value": 0, "max_digits": 14, "decimal_places": 4}
_RATE: dict[str, Any] = {"required": False, "allow_null": True, "min_value": 1, "max_value": 2_147_483_647}


class PolicyValuesSerializer(serializers.Serializer):
    """Every policy field; null (or absent) = not set at this level."""

    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        allow_null=True,
        max_length=500,
        help_text="Model names and glob patterns; null: any model.",
    )
    tokens_per_day = serializers.IntegerField(**_COUNT, max_value=2**62)
    tokens_per_week = serializers.IntegerField(**_COUNT, max_value=2**62)
    tokens_per_month = serializers.IntegerField(**_COUNT, max_value=2**62)
    usd_per_day = serializers.DecimalField(**_USD)
    usd_per_week = serializers.DecimalField(**_USD)
    usd_per_month = serializers.DecimalField(**_USD)
    requests_per_minute = serializers.IntegerField(**_RATE)
    tokens_per_minute = serializers.IntegerField(**_RATE)
    max_tokens = serializers.IntegerField(**_RATE)
    max_tokens_action = serializers.ChoiceField(choices=Policy.MaxTokensAction.choices, required=False, allow_null=True)
    on_exceed = serializers.ChoiceField(choices=Policy.OnExceed.choices, required=False, allow_null=True)
    downgrade_to = serializers.CharField(max_length=200, required=False, allow_null=True)
    alert_thresholds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=1000),
        required=False,
        allow_null=True,
        max_length=20,
        help_text="Percentages of a budget, e.g. [50, 80, 100].",
    )
    store_text = serializers.BooleanField(
        required=False, allow_null=True, help_text="Store prompt and response text (privacy: off by default)."
    )
    allow_unpriced_models = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="Admit models without a price under a USD budget (their cost is not counted); default false.",
    )
    detector_thresholds = serializers.DictField(
        child=serializers.FloatField(), required=False, allow_null=True, help_text="Per detector name, its threshold."
    )

    class Meta:
        ref_name = "PolicyValues"


class PolicyOutputSerializer(PolicyValuesSerializer):
    id = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=Policy.Scope.choices)
    team_id = serializers.IntegerField(allow_null=True)
    user_id = serializers.IntegerField(allow_null=True)
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Policy"


def _saved(save, **kwargs) -> Policy:
    """Run a policy service, turning its ValidationError into the API's 400."""
    try:
        return save(**kwargs)
    except DjangoValidationError as exc:
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        raise ValidationError(fields) from exc


class PolicyListApi(BaseApi):
    scopes = {"GET": READ}

    class FilterSerializer(PageFilterSerializer):
        scope = serializers.ChoiceField(choices=Policy.Scope.choices, required=False)
        team = serializers.IntegerField(required=False, min_value=1, help_text="Team id.")
        user = serializers.IntegerField(required=False, min_value=1, help_text="Person id.")
        ordering = ordering_field(["updated_at", "scope", "id"], default="id")

    class InputSerializer(PolicyValuesSerializer):
        scope = serializers.ChoiceField(choices=Policy.Scope.choices)
        team = serializers.IntegerField(
            min_value=1, required=False, allow_null=True, default=None, help_text="Team id; for team and user scopes."
        )
        user = serializers.IntegerField(
            min_value=1,
            required=False,
            allow_null=True,
            default=None,
            help_text="Person id; for the user scope (a member of the team).",
        )

        class Meta:
            ref_name = "PolicySetInput"

        def validate(self, data):
            scope, team, user = data["scope"], data.get("team"), data.get("user")
            if scope == Policy.Scope.ORG and (team or user):
                raise serializers.ValidationError({"scope": ["The organisation default has no team or user."]})
            if scope == Policy.Scope.TEAM and (not team or user):
                raise serializers.ValidationError({"team": ["A team policy needs a team and no user."]})
            if scope == Policy.Scope.USER and not (team and user):
                raise serializers.ValidationError({"user": ["A person's policy needs a team and a user."]})
            return data

    @extend_schema(operation_id="policies_list", responses=paginated(PolicyOutputSerializer))
    def get(self, request):
        filters = self.filters()
        policies = policies_visible(access=self.access)
        for name in ("scope", "team", "user"):
            if name in filters:
                policies = policies.filter(**{name: filters[name]})
        return page_response(self, policies.order_by(filters["ordering"], "pk"), PolicyOutputSerializer)

    @extend_schema(
        operation_id="policies_set",
        request=InputSerializer,
        responses=PolicyOutputSerializer,
        description="Create or replace the policy of one target (admins). Fields not given become unset. Audited.",
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        team = get_object_or_404(Team, pk=data["team"]) if data.get("team") else None
        user = None
        if data.get("user"):
            user = person_by_id(user_id=data["user"])
            if user is None or not is_member(user_id=user.pk, team_id=team.pk):
                raise ValidationError({"user": ["Not a member of this team."]})
        values = {field: data.get(field) for field in POLICY_FIELDS}
        policy = _saved(policy_set, scope=data["scope"], team=team, user=user, values=values, actor=request.user)
        return Response(PolicyOutputSerializer(policy).data)


class PolicyDetailApi(BaseApi):
    scopes = {"GET": READ}

    @extend_schema(operation_id="policies_retrieve", responses=PolicyOutputSerializer)
    def get(self, request, policy_id: int):
        policy = get_object_or_404(policies_visible(access=self.access), pk=policy_id)
        return Response(PolicyOutputSerializer(policy).data)

    @extend_schema(
        operation_id="policies_update",
        request=PolicyValuesSerializer,
        responses=PolicyOutputSerializer,
        description="Change the fields given (null unsets one); the others keep their values. Audited.",
    )
    def patch(self, request, policy_id: int):
        policy = get_object_or_404(Policy, pk=policy_id)
        payload = PolicyValuesSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        for field, value in payload.validated_data.items():
            setattr(policy, field, value)
        policy = _saved(policy_save, policy=policy, actor=request.user)
        return Response(PolicyOutputSerializer(policy).data)

    @extend_schema(
        operation_id="policies_delete",
        responses={204: None},
        description="Delete a policy: its level then inherits every field. Audited.",
    )
    def delete(self, request, policy_id: int):
        policy = get_object_or_404(Policy, pk=policy_id)
        policy_delete(policy=policy, actor=request.user)
        return Response(status=204)
