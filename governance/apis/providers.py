"""Providers, model routes and prices (admins; anyone with read_reports may read prices).

Provider secrets are write-only: ``api_key`` is accepted, stored encrypted, and never returned - a
response says only whether one is set. Extra headers may carry credentials too, so only their names
are returned.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from governance.api_permissions import READ
from governance.apis.common import BaseApi, PageFilterSerializer, ordering_field, page_response, paginated
from governance.selectors.pricing import prices_all
from governance.selectors.providers import providers_all, routes_all
from governance.services.pricing import price_set
from governance.services.providers import extra_headers_problem, provider_upsert, route_delete, route_upsert


class ProviderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    base_url = serializers.CharField()
    kind = serializers.CharField(help_text="openai, or anthropic (serves /v1/messages).")
    has_api_key = serializers.SerializerMethodField(help_text="Whether a secret is stored (never returned).")
    api_key_env = serializers.CharField(help_text="Environment variable holding the secret, if used.")
    extra_header_names = serializers.SerializerMethodField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Provider"

    def get_has_api_key(self, provider) -> bool:
        return bool(provider.api_key_encrypted)

    def get_extra_header_names(self, provider) -> list[str]:
        return sorted(provider.extra_headers or {})


class ProviderInputSerializer(serializers.Serializer):
    base_url = serializers.URLField(max_length=500)
    kind = serializers.ChoiceField(
        choices=["openai", "anthropic"],
        required=False,
        default=None,
        allow_null=True,
        help_text="The protocol: openai (default for a new one) or anthropic.",
    )
    api_key = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        write_only=True,
        trim_whitespace=False,
        max_length=2000,
        help_text="Write-only. Omit or null to keep the stored one; empty clears it.",
    )
    api_key_env = serializers.RegexField(r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100, required=False, default="")
    extra_headers = serializers.DictField(
        child=serializers.CharField(max_length=2000),
        required=False,
        default=dict,
        help_text="Write-only values; names are returned.",
    )
    is_active = serializers.BooleanField(default=True)

    def validate_extra_headers(self, value: dict) -> dict:
        problem = extra_headers_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    class Meta:
        ref_name = "ProviderInput"


class ProviderListApi(BaseApi):
    admin_only = True

    class FilterSerializer(PageFilterSerializer):
        is_active = serializers.BooleanField(required=False, allow_null=True, default=None)

    class InputSerializer(ProviderInputSerializer):
        name = serializers.SlugField(max_length=64)

        class Meta:
            ref_name = "ProviderCreateInput"

    @extend_schema(operation_id="providers_list", responses=paginated(ProviderOutputSerializer))
    def get(self, request):
        filters = self.filters()
        providers = providers_all()
        if filters.get("is_active") is not None:
            providers = providers.filter(is_active=filters["is_active"])
        return page_response(self, providers, ProviderOutputSerializer)

    @extend_schema(operation_id="providers_create", request=InputSerializer, responses={201: ProviderOutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if providers_all().filter(name=payload.validated_data["name"]).exists():
            raise ValidationError({"name": ["A provider with this name exists; PUT /api/providers/{id}/ changes it."]})
        provider = provider_upsert(**payload.validated_data, actor=request.user)
        return Response(ProviderOutputSerializer(provider).data, status=201)


class ProviderDetailApi(BaseApi):
    admin_only = True

    @extend_schema(operation_id="providers_retrieve", responses=ProviderOutputSerializer)
    def get(self, request, provider_id: int):
        provider = get_object_or_404(providers_all(), pk=provider_id)
        return Response(ProviderOutputSerializer(provider).data)

    @extend_schema(operation_id="providers_update", request=ProviderInputSerializer, responses=ProviderOutputSerializer)
    def put(self, request, provider_id: int):
        provider = get_object_or_404(providers_all(), pk=provider_id)
        payload = ProviderInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        provider = provider_upsert(name=provider.name, **payload.validated_data, actor=request.user)
        return Response(ProviderOutputSerializer(provider).data)


class RouteOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    pattern = serializers.CharField()
    provider_id = serializers.IntegerField()
    provider_name = serializers.CharField(source="provider.name")
    upstream_model = serializers.CharField()
    fallback_provider_id = serializers.IntegerField(allow_null=True)
    priority = serializers.IntegerField()

    class Meta:
        ref_name = "Route"


class RouteInputSerializer(serializers.Serializer):
    provider = serializers.IntegerField(min_value=1, help_text="Provider id.")
    upstream_model = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    fallback_provider = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    priority = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000, default=100)

    class Meta:
        ref_name = "RouteInput"

    def to_route_arguments(self) -> dict:
        data = dict(self.validated_data)
        providers = providers_all()
        provider = providers.filter(pk=data.pop("provider")).first()
        if provider is None:
            raise ValidationError({"provider": ["No such provider."]})
        fallback_id = data.pop("fallback_provider")
        fallback = providers.filter(pk=fallback_id).first() if fallback_id else None
        if fallback_id and fallback is None:
            raise ValidationError({"fallback_provider": ["No such provider."]})
        return {**data, "provider": provider, "fallback_provider": fallback}


class RouteListApi(BaseApi):
    admin_only = True

    class FilterSerializer(PageFilterSerializer):
        provider = serializers.IntegerField(required=False, min_value=1, help_text="Provider id.")

    class InputSerializer(RouteInputSerializer):
        pattern = serializers.CharField(max_length=200, help_text="A model name or glob, e.g. claude-*.")

        class Meta:
            ref_name = "RouteCreateInput"

    @extend_schema(operation_id="routes_list", responses=paginated(RouteOutputSerializer))
    def get(self, request):
        filters = self.filters()
        routes = routes_all()
        if "provider" in filters:
            routes = routes.filter(provider_id=filters["provider"])
        return page_response(self, routes.order_by("priority", "pattern"), RouteOutputSerializer)

    @extend_schema(operation_id="routes_create", request=InputSerializer, responses={201: RouteOutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if routes_all().filter(pattern=payload.validated_data["pattern"]).exists():
            raise ValidationError({"pattern": ["A route with this pattern exists; PUT /api/routes/{id}/ changes it."]})
        route = route_upsert(**payload.to_route_arguments(), actor=request.user)
        return Response(RouteOutputSerializer(route).data, status=201)


class RouteDetailApi(BaseApi):
    admin_only = True

    @extend_schema(operation_id="routes_retrieve", responses=RouteOutputSerializer)
    def get(self, request, route_id: int):
        route = get_object_or_404(routes_all(), pk=route_id)
        return Response(RouteOutputSerializer(route).data)

    @extend_schema(operation_id="routes_update", request=RouteInputSerializer, responses=RouteOutputSerializer)
    def put(self, request, route_id: int):
        route = get_object_or_404(routes_all(), pk=route_id)
        payload = RouteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        route = route_upsert(pattern=route.pattern, **payload.to_route_arguments(), actor=request.user)
        return Response(RouteOutputSerializer(route).data)

    @extend_schema(operation_id="routes_delete", responses={204: None})
    def delete(self, request, route_id: int):
        route = get_object_or_404(routes_all(), pk=route_id)
        route_delete(route=route, actor=request.user)
        return Response(status=204)


class PriceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField()
    input_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6)
    cached_input_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    cache_write_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    output_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6)
    valid_from = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Price"


class PriceListApi(BaseApi):
    scopes = {"GET": READ}

    class FilterSerializer(PageFilterSerializer):
        model = serializers.CharField(required=False, max_length=200)
        ordering = ordering_field(["model", "valid_from", "created_at"], default="model")

    class InputSerializer(serializers.Serializer):
        model = serializers.CharField(max_length=200)
        input_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0)
        cached_input_per_mtok = serializers.DecimalField(
            max_digits=12, decimal_places=6, min_value=0, required=False, allow_null=True, default=None
        )
        cache_write_per_mtok = serializers.DecimalField(
            max_digits=12, decimal_places=6, min_value=0, required=False, allow_null=True, default=None
        )
        output_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0)
        valid_from = serializers.DateTimeField(
            required=False, allow_null=True, default=None, help_text="Default: now. Past versions are never edited."
        )

    @extend_schema(operation_id="prices_list", responses=paginated(PriceOutputSerializer))
    def get(self, request):
        filters = self.filters()
        prices = prices_all()
        if "model" in filters:
            prices = prices.filter(model=filters["model"])
        return page_response(self, prices.order_by(filters["ordering"], "-valid_from", "-pk"), PriceOutputSerializer)

    @extend_schema(operation_id="prices_create", request=InputSerializer, responses={201: PriceOutputSerializer})
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if not payload.validated_data["model"].strip():
            raise ValidationError({"model": ["This field may not be blank."]})
        price = price_set(**payload.validated_data, actor=request.user)
        return Response(PriceOutputSerializer(price).data, status=201)
