"""Announced usage targets and reviews (what the target-hugging detector compares usage with)."""

from __future__ import annotations

from django.db import transaction

from governance.models import UsageTarget
from governance.services.audit import audit_record, audit_snapshot, audited_save


@transaction.atomic
def usage_target_save(*, target: UsageTarget, actor=None, actor_label: str = "") -> UsageTarget:
    """Create or update an announced usage target or review; audited (before/after).

    Raises ValidationError (``full_clean``) for a bad kind or a non-positive ``tokens_per_day``.
    """
    before = None
    if target.pk is not None:
        stored = UsageTarget.objects.filter(pk=target.pk).first()
        before = audit_snapshot(stored) if stored is not None else None
    target.full_clean()
    return audited_save(target, before=before, actor=actor, actor_label=actor_label)


@transaction.atomic
def usage_target_delete(*, target: UsageTarget, actor=None, actor_label: str = "") -> None:
    """Delete an announced usage target or review; audited."""
    before = audit_snapshot(target)
    audit_record(actor=actor, actor_label=actor_label, action="delete", instance=target, before=before)
    target.delete()
