"""Reads of the upstream providers and the model routes for the admin page and the API."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from governance.models import ModelRoute, Provider


def providers_all() -> QuerySet[Provider]:
    """Every provider, by name."""
    return Provider.objects.order_by("name")


def providers_with_route_counts() -> QuerySet[Provider]:
    """Every provider by name, annotated with ``route_count`` (routes that send to it first)."""
    return Provider.objects.annotate(route_count=Count("routes")).order_by("name")


def routes_all() -> QuerySet[ModelRoute]:
    """Every model route with its provider and fallback provider."""
    return ModelRoute.objects.select_related("provider", "fallback_provider")
