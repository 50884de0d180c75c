"""Flags: what the usage-chasing detectors found, for managers to review (and the person flagged to read).

A review (acknowledge, dismiss, confirm, comment) is for the team's managers and admins; nobody reviews
a flag raised about themselves unless they are an admin.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from governance.api_permissions import MANAGE, READ
from governance.apis.common import BaseApi, PageFilterSerializer, ordering_field, page_response, paginated
from governance.models import Flag, FlagReview
from governance.selectors.api import flags_visible
from governance.services.flags import flag_review


class FlagReviewOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=FlagReview.Action.choices)
    comment = serializers.CharField(allow_blank=True)
    reviewer_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "FlagReview"


class FlagOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    detector = serializers.CharField()
    score = serializers.FloatField()
    user_id = serializers.IntegerField()
    team_id = serializers.IntegerField()
    team_slug = serializers.CharField(source="team.slug")
    state = serializers.ChoiceField(choices=Flag.State.choices)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    evidence = serializers.JSONField(help_text="What the detector saw, for a person to read.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    reviews = FlagReviewOutputSerializer(many=True, source="reviews.all")

    class Meta:
        ref_name = "Flag"


class FlagListApi(BaseApi):
    scopes = {"GET": READ}

    class FilterSerializer(PageFilterSerializer):
        team = serializers.IntegerField(required=False, min_value=1, help_text="Team id.")
        user = serializers.IntegerField(required=False, min_value=1, help_text="Person id.")
        state = serializers.ChoiceField(choices=Flag.State.choices, required=False)
        detector = serializers.CharField(required=False, max_length=64)
        ordering = ordering_field(["created_at", "score", "period_start"], default="-created_at")

    @extend_schema(operation_id="flags_list", responses=paginated(FlagOutputSerializer))
    def get(self, request):
        filters = self.filters()
        flags = flags_visible(access=self.access)
        for name in ("team", "user", "state", "detector"):
            if name in filters:
                flags = flags.filter(**{name: filters[name]})
        return page_response(self, flags.order_by(filters["ordering"], "-pk"), FlagOutputSerializer)


class FlagDetailApi(BaseApi):
    scopes = {"GET": READ}

    @extend_schema(operation_id="flags_retrieve", responses=FlagOutputSerializer)
    def get(self, request, flag_id: int):
        flag = get_object_or_404(flags_visible(access=self.access), pk=flag_id)
        return Response(FlagOutputSerializer(flag).data)


class FlagReviewApi(BaseApi):
    scopes = {"POST": MANAGE}

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=FlagReview.Action.choices)
        comment = serializers.CharField(
            max_length=2000,
            required=False,
            default="",
            allow_blank=True,
            help_text="The person flagged reads it. Required for 'comment'.",
        )

        def validate(self, data):
            if data["action"] == FlagReview.Action.COMMENT and not data["comment"].strip():
                raise serializers.ValidationError({"comment": ["Write the comment to add."]})
            return data

    @extend_schema(operation_id="flags_review", request=InputSerializer, responses=FlagOutputSerializer)
    def post(self, request, flag_id: int):
        access = self.access
        flag = get_object_or_404(flags_visible(access=access), pk=flag_id)
        manageable = access.team_ids_for(MANAGE)
        if manageable is not None and flag.team_id not in manageable:
            raise PermissionDenied("Only the team's managers review its flags.")
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        flag_review(
            flag=flag,
            reviewer=request.user,
            action=payload.validated_data["action"],
            comment=payload.validated_data["comment"].strip(),
        )
        flag = flags_visible(access=access).get(pk=flag.pk)
        return Response(FlagOutputSerializer(flag).data)
