"""Reads of the audit log for the admin page and the API."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from governance.models import AuditLogEntry


def audit_entries_all() -> QuerySet[AuditLogEntry]:
    """Every audit entry with its actor, in the model's default order."""
    return AuditLogEntry.objects.select_related("actor")


def audit_entries_filtered(*, action: str = "", object_type: str = "", actor: str = "") -> QuerySet[AuditLogEntry]:
    """Audit entries of one ``action`` and ``object_type`` (each when given) whose actor's label or e-mail
    contains ``actor``."""
    entries = audit_entries_all()
    if action:
        entries = entries.filter(action=action)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if actor:
        entries = entries.filter(Q(actor_label__icontains=actor) | Q(actor__email__icontains=actor))
    return entries


def audit_actions() -> QuerySet:
    """The distinct actions in the log (for the page's filter)."""
    return AuditLogEntry.objects.order_by().values_list("action", flat=True).distinct()


def audit_object_types() -> QuerySet:
    """The distinct object types in the log (for the page's filter)."""
    return AuditLogEntry.objects.order_by().values_list("object_type", flat=True).distinct()
