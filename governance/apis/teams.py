"""Teams and memberships. Reading follows the caller's access; every write is for admins."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from governance.api_permissions import READ
from governance.apis.common import BaseApi, PageFilterSerializer, ordering_field, page_response, paginated
from governance.models import Membership, Team
from governance.selectors.api import memberships_visible, teams_visible
from governance.selectors.teams import memberships_all, teams_all
from governance.services.orgs import membership_remove, membership_set, team_create, team_rename, user_get_or_create


class TeamOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name", "created_at"]
        ref_name = "Team"


class MembershipOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    team_id = serializers.IntegerField()
    team_slug = serializers.CharField(source="team.slug")
    user_id = serializers.IntegerField()
    email = serializers.CharField(source="user.email")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Membership"


class TeamListApi(BaseApi):
    scopes = {"GET": READ}

    class FilterSerializer(PageFilterSerializer):
        slug = serializers.CharField(required=False, max_length=64)
        ordering = ordering_field(["slug", "name", "created_at"], default="slug")

    @extend_schema(operation_id="teams_list", responses=paginated(TeamOutputSerializer))
    def get(self, request):
        filters = self.filters()
        teams = teams_visible(access=self.access)
        if "slug" in filters:
            teams = teams.filter(slug=filters["slug"])
        return page_response(self, teams.order_by(filters["ordering"], "pk"), TeamOutputSerializer)

    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=64)
        name = serializers.CharField(max_length=200, required=False, default="")

    @extend_schema(operation_id="teams_create", request=InputSerializer, responses={201: TeamOutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        team = team_create(**payload.validated_data, actor=request.user)
        return Response(TeamOutputSerializer(team).data, status=201)


class TeamDetailApi(BaseApi):
    scopes = {"GET": READ}

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)

    @extend_schema(operation_id="teams_retrieve", responses=TeamOutputSerializer)
    def get(self, request, team_id: int):
        team = get_object_or_404(teams_visible(access=self.access), pk=team_id)
        return Response(TeamOutputSerializer(team).data)

    @extend_schema(operation_id="teams_update", request=InputSerializer, responses=TeamOutputSerializer)
    def patch(self, request, team_id: int):
        team = get_object_or_404(teams_all(), pk=team_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        team = team_rename(team=team, name=payload.validated_data["name"], actor=request.user)
        return Response(TeamOutputSerializer(team).data)


class MembershipListApi(BaseApi):
    scopes = {"GET": READ}

    class FilterSerializer(PageFilterSerializer):
        team = serializers.IntegerField(required=False, min_value=1, help_text="Team id.")
        user = serializers.IntegerField(required=False, min_value=1, help_text="Person id.")
        role = serializers.ChoiceField(choices=Membership.Role.choices, required=False)
        ordering = ordering_field(["created_at", "role", "id"], default="id")

    class InputSerializer(serializers.Serializer):
        team = serializers.IntegerField(min_value=1, help_text="Team id.")
        email = serializers.EmailField(help_text="The person; created (without a password) if new.")
        role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)

    @extend_schema(operation_id="memberships_list", responses=paginated(MembershipOutputSerializer))
    def get(self, request):
        filters = self.filters()
        memberships = memberships_visible(access=self.access)
        for name in ("team", "user", "role"):
            if name in filters:
                memberships = memberships.filter(**{name: filters[name]})
        return page_response(self, memberships.order_by(filters["ordering"], "pk"), MembershipOutputSerializer)

    @extend_schema(operation_id="memberships_set", request=InputSerializer, responses={201: MembershipOutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        team = get_object_or_404(teams_all(), pk=data["team"])
        user = user_get_or_create(email=data["email"], actor=request.user)
        membership = membership_set(user=user, team=team, role=data["role"], actor=request.user)
        return Response(MembershipOutputSerializer(membership).data, status=201)


class MembershipDetailApi(BaseApi):
    scopes = {"GET": READ}

    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Membership.Role.choices)

    @extend_schema(operation_id="memberships_retrieve", responses=MembershipOutputSerializer)
    def get(self, request, membership_id: int):
        membership = get_object_or_404(memberships_visible(access=self.access), pk=membership_id)
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(operation_id="memberships_update", request=InputSerializer, responses=MembershipOutputSerializer)
    def patch(self, request, membership_id: int):
        membership = get_object_or_404(memberships_all(), pk=membership_id)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        membership = membership_set(
            user=membership.user, team=membership.team, role=payload.validated_data["role"], actor=request.user
        )
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(operation_id="memberships_delete", responses={204: None})
    def delete(self, request, membership_id: int):
        membership = get_object_or_404(Membership, pk=membership_id)
        membership_remove(membership=membership, actor=request.user)
        return Response(status=204)
