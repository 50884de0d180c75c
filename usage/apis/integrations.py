"""GitHub integration settings for admins: the webhook secret (write-only) and login <-> person mapping.

Admins only; every change is audited. Unmapped logins (``?mapped=false``) come first with how many
signals wait for them; mapping a login records those signals for the person.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from governance.apis.common import BaseApi, PageFilterSerializer, page_response, paginated
from governance.models import IntegrationSecret
from usage.integrations.github import INTEGRATION, github_identity_map, github_webhook_secret_set
from usage.integrations.selectors import github_identities_list


class GithubSettingsOutputSerializer(serializers.Serializer):
    has_secret = serializers.BooleanField(help_text="A webhook secret is set (it is never shown).")
    updated_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "GithubSettings"


def _settings() -> dict:
    row = IntegrationSecret.objects.filter(integration=INTEGRATION).first()
    return {"has_secret": bool(row and row.secret_encrypted), "updated_at": row.updated_at if row else None}


class GithubSettingsApi(BaseApi):
    """The GitHub webhook's secret: write-only (stored encrypted, never returned)."""

    admin_only = True

    class InputSerializer(serializers.Serializer):
        webhook_secret = serializers.CharField(
            min_length=16, max_length=200, write_only=True, help_text="The secret GitHub signs deliveries with."
        )

    @extend_schema(operation_id="github_settings_retrieve", responses=GithubSettingsOutputSerializer)
    def get(self, request):
        return Response(GithubSettingsOutputSerializer(_settings()).data)

    @extend_schema(
        operation_id="github_settings_update",
        request=InputSerializer,
        responses=GithubSettingsOutputSerializer,
        description="Set the webhook secret. Audited (masked).",
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        github_webhook_secret_set(secret=payload.validated_data["webhook_secret"], actor=request.user)
        return Response(GithubSettingsOutputSerializer(_settings()).data)


class GithubIdentityOutputSerializer(serializers.Serializer):
    login = serializers.CharField()
    user_id = serializers.IntegerField(allow_null=True, help_text="The person; null while unmapped.")
    user_email = serializers.EmailField(source="user.email", allow_null=True, default=None)
    matched_by = serializers.CharField(allow_blank=True, help_text="admin, email, or blank while unmapped.")
    matched_email = serializers.CharField(allow_blank=True)
    events_seen = serializers.IntegerField(help_text="Webhook events that named this login as their person.")
    waiting = serializers.IntegerField(help_text="Signals not recorded yet because the login is unmapped.")
    first_seen_at = serializers.DateTimeField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "GithubIdentity"


class GithubIdentityListApi(BaseApi):
    """GitHub logins and the persons they are; unmapped logins first, the most waiting signals first."""

    admin_only = True

    class FilterSerializer(PageFilterSerializer):
        mapped = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="true: mapped logins only; false: unmapped only."
        )

    class InputSerializer(serializers.Serializer):
        login = serializers.CharField(max_length=100)
        user = serializers.IntegerField(
            min_value=1,
            required=False,
            allow_null=True,
            default=None,
            help_text="Person id; null (with no email) unmaps the login.",
        )
        email = serializers.EmailField(
            required=False, allow_blank=True, default="", help_text="…or the person's e-mail."
        )

    class MapOutputSerializer(GithubIdentityOutputSerializer):
        recorded = serializers.IntegerField(help_text="Waiting signals recorded for the person by this mapping.")

        class Meta:
            ref_name = "GithubIdentityMapped"

    @extend_schema(operation_id="github_identities_list", responses=paginated(GithubIdentityOutputSerializer))
    def get(self, request):
        filters = self.filters()
        return page_response(self, github_identities_list(mapped=filters.get("mapped")), GithubIdentityOutputSerializer)

    @extend_schema(
        operation_id="github_identities_map",
        request=InputSerializer,
        responses=MapOutputSerializer,
        description="Map a login to a person (by id or e-mail), or unmap it. Audited.",
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        people = get_user_model().objects.filter(is_active=True)
        user = None
        if data["user"] is not None:
            user = people.filter(pk=data["user"]).first()
            if user is None:
                raise ValidationError({"user": ["No such active person."]})
        elif data["email"]:
            user = people.filter(email__iexact=data["email"]).first()
            if user is None:
                raise ValidationError({"email": ["No active person has this e-mail."]})
        try:
            identity, recorded = github_identity_map(login=data["login"], user=user, actor=request.user)
        except ValueError as exc:
            raise ValidationError({"login": [str(exc)]}) from exc
        identity = github_identities_list().get(pk=identity.pk)
        identity.recorded = recorded
        return Response(self.MapOutputSerializer(identity).data)
