"""Proxy keys (``tw-…``), API tokens (``twa-…``) and who the caller is.

A secret is in the response to its creation only; no other response, log line or audit entry has it.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from governance.api_permissions import MANAGE, READ
from governance.apis.common import BaseApi, PageFilterSerializer, ordering_field, page_response, paginated
from governance.exceptions import GovernanceError
from governance.models import ApiToken, Membership
from governance.selectors.api import (
    api_tokens_visible,
    keys_visible,
    memberships_of_person,
    teams_visible,
)
from governance.selectors.directory import person_by_id
from governance.selectors.teams import is_member
from governance.services.api_tokens import api_token_create, api_token_revoke
from governance.services.keys import key_create, key_revoke


class KeyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The first characters of the secret, to recognise it.")
    team_id = serializers.IntegerField()
    team_slug = serializers.CharField(source="team.slug")
    user_id = serializers.IntegerField()
    email = serializers.CharField(source="user.email")
    is_service = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "Key"


class KeyListApi(BaseApi):
    scopes = {"GET": READ, "POST": MANAGE}

    class FilterSerializer(PageFilterSerializer):
        team = serializers.IntegerField(required=False, min_value=1, help_text="Team id.")
        user = serializers.IntegerField(required=False, min_value=1, help_text="Person id.")
        is_revoked = serializers.BooleanField(required=False, allow_null=True, default=None)
        ordering = ordering_field(["created_at", "last_used_at", "name"], default="-created_at")

    class InputSerializer(serializers.Serializer):
        team = serializers.IntegerField(min_value=1, help_text="Team id; the person must belong to it.")
        name = serializers.CharField(max_length=100, default="default")
        user = serializers.IntegerField(
            min_value=1, required=False, help_text="Admins only: create the key for this person."
        )
        is_service = serializers.BooleanField(default=False, help_text="A team application's key (managers).")
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    class CreatedSerializer(KeyOutputSerializer):
        secret = serializers.CharField(help_text="Shown only in this response. Store it now.")

        class Meta:
            ref_name = "KeyCreated"

    @extend_schema(operation_id="keys_list", responses=paginated(KeyOutputSerializer))
    def get(self, request):
        filters = self.filters()
        keys = keys_visible(access=self.access)
        for name in ("team", "user"):
            if name in filters:
                keys = keys.filter(**{name: filters[name]})
        if filters.get("is_revoked") is not None:
            keys = keys.filter(revoked_at__isnull=not filters["is_revoked"])
        return page_response(self, keys.order_by(filters["ordering"], "-pk"), KeyOutputSerializer)

    @extend_schema(operation_id="keys_create", request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data, access = payload.validated_data, self.access
        if access.person_id is None:
            raise PermissionDenied("Service tokens cannot create proxy keys.")
        team = get_object_or_404(teams_visible(access=access), pk=data["team"])
        owner_id = data.get("user", access.person_id)
        if owner_id != access.person_id and not access.is_admin:
            raise PermissionDenied("Only admins create keys for other people.")
        if data["is_service"] and not access.is_admin and team.pk not in access.managed_team_ids:
            raise PermissionDenied("Only the team's managers create service keys.")
        owner = person_by_id(user_id=owner_id)
        if owner is None or not is_member(user_id=owner.pk, team_id=team.pk):
            raise GovernanceError("The person is not a member of this team.", param="team")
        key, secret = key_create(
            user=owner,
            team=team,
            name=data["name"],
            is_service=data["is_service"],
            expires_at=data["expires_at"],
            actor=request.user,
        )
        return Response({**KeyOutputSerializer(key).data, "secret": secret}, status=201)


class KeyDetailApi(BaseApi):
    scopes = {"GET": READ}

    @extend_schema(operation_id="keys_retrieve", responses=KeyOutputSerializer)
    def get(self, request, key_id: int):
        key = get_object_or_404(keys_visible(access=self.access), pk=key_id)
        return Response(KeyOutputSerializer(key).data)


class KeyRevokeApi(BaseApi):
    scopes = {"POST": MANAGE}

    @extend_schema(operation_id="keys_revoke", request=None, responses=KeyOutputSerializer)
    def post(self, request, key_id: int):
        access = self.access
        key = get_object_or_404(keys_visible(access=access), pk=key_id)
        own = access.person_id is not None and key.user_id == access.person_id
        manageable = access.team_ids_for(MANAGE)
        if not own and manageable is not None and key.team_id not in manageable:
            raise PermissionDenied("You may revoke your own keys and your managed teams' keys only.")
        key = key_revoke(key=key, actor=request.user)
        return Response(KeyOutputSerializer(key).data)


# --- API tokens -------------------------------------------------------------------------------------


class ApiTokenOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    user_id = serializers.IntegerField()
    team_id = serializers.IntegerField(allow_null=True, help_text="Set for a service token.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiToken.Scope.choices))
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "ApiToken"


class ApiTokenListApi(BaseApi):
    scopes = {"GET": READ, "POST": READ}

    class FilterSerializer(PageFilterSerializer):
        is_revoked = serializers.BooleanField(required=False, allow_null=True, default=None)
        ordering = ordering_field(["created_at", "last_used_at", "name"], default="-created_at")

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=ApiToken.Scope.choices), min_length=1, max_length=4
        )
        team = serializers.IntegerField(
            min_value=1,
            required=False,
            allow_null=True,
            default=None,
            help_text="Make a service token for this team (its managers, admins).",
        )
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    class CreatedSerializer(ApiTokenOutputSerializer):
        secret = serializers.CharField(help_text="Shown only in this response. Store it now.")

        class Meta:
            ref_name = "ApiTokenCreated"

    @extend_schema(operation_id="tokens_list", responses=paginated(ApiTokenOutputSerializer))
    def get(self, request):
        filters = self.filters()
        tokens = api_tokens_visible(access=self.access)
        if filters.get("is_revoked") is not None:
            tokens = tokens.filter(revoked_at__isnull=not filters["is_revoked"])
        return page_response(self, tokens.order_by(filters["ordering"], "-pk"), ApiTokenOutputSerializer)

    @extend_schema(operation_id="tokens_create", request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data, access = payload.validated_data, self.access
        # A token never mints tokens, except an admin's: a leaked narrow token cannot widen or outlive itself.
        if access.person_id is None or (access.token_id is not None and not access.is_admin):
            raise PermissionDenied("Create API tokens from a browser session or with an admin token.")
        team = None
        if data["team"] is not None:
            team = get_object_or_404(teams_visible(access=access), pk=data["team"])
        token, secret = api_token_create(
            user=request.user,
            name=data["name"],
            scopes=data["scopes"],
            team=team,
            expires_at=data["expires_at"],
            actor=request.user,
        )
        return Response({**ApiTokenOutputSerializer(token).data, "secret": secret}, status=201)


class ApiTokenRevokeApi(BaseApi):
    scopes = {"POST": READ}

    @extend_schema(operation_id="tokens_revoke", request=None, responses=ApiTokenOutputSerializer)
    def post(self, request, token_id: int):
        token = get_object_or_404(api_tokens_visible(access=self.access), pk=token_id)
        token = api_token_revoke(token=token, actor=request.user)
        return Response(ApiTokenOutputSerializer(token).data)


class MeApi(BaseApi):
    scopes = {"GET": None}

    class OutputSerializer(serializers.Serializer):
        class TeamRoleSerializer(serializers.Serializer):
            team_id = serializers.IntegerField()
            team_slug = serializers.CharField()
            role = serializers.ChoiceField(choices=Membership.Role.choices)

        user_id = serializers.IntegerField()
        email = serializers.CharField()
        is_admin = serializers.BooleanField()
        scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiToken.Scope.choices))
        service_team_id = serializers.IntegerField(allow_null=True)
        teams = TeamRoleSerializer(many=True)

    @extend_schema(operation_id="me_retrieve", responses=OutputSerializer)
    def get(self, request):
        access = self.access
        memberships = memberships_of_person(user_id=access.person_id)
        return Response(
            self.OutputSerializer(
                {
                    "user_id": access.user_id,
                    "email": request.user.email,
                    "is_admin": access.is_admin,
                    "scopes": sorted(access.scopes),
                    "service_team_id": access.service_team_id,
                    "teams": [{"team_id": m.team_id, "team_slug": m.team.slug, "role": m.role} for m in memberships],
                }
            ).data
        )
