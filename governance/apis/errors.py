"""One error body for every ``/api/`` failure, and its schema.

``{"error": {"status": 404, "code": "not_found", "message": "Not found.", "fields": null}}`` - ``fields``
maps an input field to its messages when the input was invalid. DRF's exceptions, the domain errors
(``governance.exceptions``) and integrity conflicts are all mapped here, once.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from governance.exceptions import GovernanceError

logger = logging.getLogger(__name__)


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    # The metaclass collects declared fields off the class, so this one does not shadow Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), allow_null=True
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as ``{"field.sub": ["message", ...]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def error_response(
    *,
    status: int,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"status": status, "code": code, "message": message, "fields": fields}}
    return Response(body, status=status, headers=headers)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: the one error body. Unknown exceptions stay 500s (re-raised)."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, GovernanceError):
        set_rollback()
        fields = {exc.param: [exc.message]} if exc.param else None
        return error_response(status=exc.status, code=exc.code, message=exc.message, fields=fields, headers=exc.headers)
    if isinstance(exc, IntegrityError):
        set_rollback()
        logger.info("api conflict: %s", type(exc).__name__)  # never the statement: it may carry values
        return error_response(status=409, code="conflict", message="This conflicts with an existing record.")
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(int(wait))
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            status=exc.status_code,
            code="invalid",
            message="The input is not valid.",
            fields=_flatten(exc.detail),
            headers=headers,
        )
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    message = str(detail) if not isinstance(detail, (dict, list)) else str(exc.default_detail)
    return error_response(status=exc.status_code, code=str(code), message=message, headers=headers)
