"""Audit log writes."""

from __future__ import annotations

from typing import Any

from django.db import models

from governance.models import AuditLogEntry

SECRET_FIELDS = frozenset({"key_hash", "token_hash", "api_key_encrypted", "password", "secret_encrypted"})
SECRET_VALUE_FIELDS = frozenset({"extra_headers"})  # names are kept, values (often credentials) masked


def audit_snapshot(instance: models.Model) -> dict[str, Any]:
    """A JSON-safe dict of a model instance's concrete fields, secrets replaced by a marker."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if field.name in SECRET_FIELDS:
            value = "***" if value else ""
        elif field.name in SECRET_VALUE_FIELDS and isinstance(value, dict):
            value = {name: "***" for name in value}
        elif value is not None and not isinstance(value, (str, int, float, bool, list, dict)):
            value = str(value)
        data[field.attname] = value
    return data


def audit_record(
    *,
    actor: Any = None,
    actor_label: str = "",
    action: str,
    instance: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLogEntry:
    """Record who changed what, with before/after snapshots.

    ``actor`` is a user or None (then ``actor_label`` names the command or task). Call it inside the
    same transaction as the change so the entry exists exactly when the change does.
    """
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditLogEntry.objects.create(
        actor=actor_user,
        actor_label=actor_label or (actor_user.get_username() if actor_user else "system"),
        action=action,
        object_type=instance._meta.label,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        before=before,
        after=after,
    )


def audit_security_event(*, action: str, subject_type: str, subject: str, details: dict[str, Any]) -> AuditLogEntry:
    """Record a security event about something that is not a row (a client address, a key guess): one
    entry, by the system, with ``details`` as its after-snapshot. Callers aggregate (one entry per
    subject and window), never one per attempt."""
    return AuditLogEntry.objects.create(
        actor=None,
        actor_label="system",
        action=action[:32],
        object_type=subject_type[:64],
        object_id=subject[:64],
        object_repr=subject[:300],
        before=None,
        after=details,
    )
