"""Reads of proxy keys for the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from governance.models import ApiKey


def keys_of_person(*, user_id: int) -> QuerySet[ApiKey]:
    """A person's own proxy keys (revoked ones too), by name."""
    return ApiKey.objects.filter(user_id=user_id).order_by("name")
