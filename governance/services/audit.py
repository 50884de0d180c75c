"""Audit log writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models

from governance.models import AuditLogEntry

ModelT = TypeVar("ModelT", bound=models.Model)

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


def audited_save(
    instance: ModelT, *, before: dict[str, Any] | None, actor: Any = None, actor_label: str = ""
) -> ModelT:
    """Save ``instance`` and record it as a create (``before`` is None) or an update from ``before``
    (the stored row's ``audit_snapshot``, taken before the change). Call it inside the transaction of
    the change."""
    instance.save()
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="create" if before is None else "update",
        instance=instance,
        before=before,
        after=audit_snapshot(instance),
    )
    return instance


def audited_upsert(
    model: type[ModelT],
    *,
    lookup: dict[str, Any],
    change: Callable[[ModelT], None],
    actor: Any = None,
    actor_label: str = "",
) -> ModelT:
    """Create or update the one row matching ``lookup``: the stored row locked for the transaction
    (a new one built from ``lookup``), ``change`` applied, saved and audited (``audited_save``). Call it
    inside a transaction."""
    row = model._default_manager.select_for_update().filter(**lookup).first()
    before = None if row is None else audit_snapshot(row)
    if row is None:
        row = model(**lookup)
    change(row)
    return audited_save(row, before=before, actor=actor, actor_label=actor_label)
