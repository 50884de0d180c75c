"""What every ``/api/`` view shares: the base view, schema naming, pagination and ordering helpers."""

from __future__ import annotations

import functools
import inspect
from datetime import date, datetime

from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api_permissions import Access, ApiAccess, access_of
from governance.apis.errors import ErrorSerializer

ERROR_STATUSES = (400, 401, 403, 404, 405, 406, 409, 413, 415, 429)
# Query values past these cannot be looked up: SQLite raises OverflowError on integers beyond 64 bits,
# and a day at the ends of the calendar overflows once a period is turned into datetimes.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DAY_MIN, DAY_MAX = date(1000, 1, 1), date(9000, 12, 31)


def query_value_error(value: object) -> str | None:
    """Why a parsed query value cannot be used in a lookup, or None when it can."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        return f"Ensure this value is between {INT64_MIN} and {INT64_MAX}."
    day = value.date() if isinstance(value, datetime) else value
    if isinstance(day, date) and not DAY_MIN <= day <= DAY_MAX:
        return f"Enter a date between {DAY_MIN.isoformat()} and {DAY_MAX.isoformat()}."
    if isinstance(value, (list, tuple)):
        return next((error for error in map(query_value_error, value) if error), None)
    return None


def component_name(serializer_class: type) -> str:
    """``Meta.ref_name``, else the qualified name without the Api/Serializer suffixes of each part."""
    ref_name = getattr(getattr(serializer_class, "Meta", None), "ref_name", None)
    if ref_name:
        return ref_name
    parts = serializer_class.__qualname__.split(".")
    return "".join(part.removesuffix("Serializer").removesuffix("Api") for part in parts)


class TokenwiseAutoSchema(AutoSchema):
    """Names components after the view (``KeyCreateApi.OutputSerializer`` -> ``KeyCreateOutput``) and
    documents the common error body for every error status an operation can return."""

    def get_serializer_name(self, serializer, direction):
        return component_name(type(serializer))

    def get_description(self):
        # The method's docstring, else the view's own (never the inherited BaseApi docstring).
        method_doc = getattr(getattr(self.view, self.method.lower(), None), "__doc__", None)
        return inspect.cleandoc(method_doc or type(self.view).__dict__.get("__doc__") or "")

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        filters = getattr(self.view, "FilterSerializer", None)
        if filters is not None and self.method == "GET":
            parameters.append(filters)
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in ERROR_STATUSES:
            responses.setdefault(str(status), self._get_response_for_code(ErrorSerializer, str(status)))
        return responses


class BaseApi(APIView):
    """Base of every ``<Entity><Action>Api``: scope-checked access and the common schema."""

    permission_classes = [ApiAccess]
    schema = TokenwiseAutoSchema()
    scopes: dict[str, str | None] = {}  # None: any authenticated caller (see ApiAccess)
    admin_only = False
    FilterSerializer: type[serializers.Serializer]  # set by views that call ``filters()``

    @property
    def access(self) -> Access:
        access = access_of(self.request)
        assert access is not None  # ApiAccess let the request through
        return access

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # An id in the path past 64 bits names nothing (and SQLite cannot even compare it): 404.
        if any(query_value_error(value) for value in kwargs.values() if isinstance(value, int)):
            raise exceptions.NotFound()

    def filters(self) -> dict:
        """The query string validated by the view's ``FilterSerializer``: 400 on bad values, integers
        beyond 64 bits and days outside ``DAY_MIN``..``DAY_MAX`` included (on every database)."""
        parsed = self.FilterSerializer(data=self.request.query_params)
        parsed.is_valid(raise_exception=True)
        errors = {name: [error] for name, value in parsed.validated_data.items() if (error := query_value_error(value))}
        if errors:
            raise exceptions.ValidationError(errors)
        return {name: value for name, value in parsed.validated_data.items() if value not in (None, "")}


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500

    def get_offset(self, request) -> int:
        offset = super().get_offset(request)
        if offset > INT64_MAX:  # a database cannot skip that many rows (SQLite cannot even take the number)
            raise exceptions.ValidationError({self.offset_query_param: [query_value_error(offset)]})
        return offset


@functools.cache
def paginated(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """A page of ``serializer_class`` items: ``{"count", "next", "previous", "results"}``."""
    name = component_name(serializer_class) + "Page"

    class PageSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = serializer_class(many=True)

        class Meta:
            ref_name = name

    PageSerializer.__name__ = PageSerializer.__qualname__ = f"{name}Serializer"
    return PageSerializer


def page_response(
    view: APIView, items: QuerySet | list, serializer_class: type[serializers.Serializer], context: dict | None = None
) -> Response:
    """One page of ``items`` (``?limit=&offset=``), rendered with ``serializer_class``."""
    paginator = Pagination()
    page = paginator.paginate_queryset(items, view.request, view=view)
    data = serializer_class(page, many=True, context=context or {}).data
    return paginator.get_paginated_response(data)


def ordering_field(choices: list[str], default: str) -> serializers.ChoiceField:
    """An ``ordering`` query parameter: a field name, ``-`` for descending."""
    options = [item for name in choices for item in (name, f"-{name}")]
    return serializers.ChoiceField(
        choices=options, required=False, default=default, help_text="Sort by this field; prefix with - for descending."
    )


class PageFilterSerializer(serializers.Serializer):
    """Documents ``limit``/``offset`` in the schema; the paginator reads them."""

    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=Pagination.max_limit,
        help_text="Items per page (default 50, at most 500).",
    )
    offset = serializers.IntegerField(required=False, min_value=0, help_text="Items to skip.")
