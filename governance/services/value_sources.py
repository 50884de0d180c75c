"""Admins set which value sources count (read by ``governance.selectors.value_sources``); audited."""

from __future__ import annotations

from django.db import transaction

from governance.models import ValueSource, ValueSourceTrust
from governance.services.audit import audited_upsert


@transaction.atomic
def value_source_trust_set(
    *,
    source_kind: str,
    integration: str = "",
    is_trusted: bool,
    counts_self_reports: bool = False,
    actor=None,
    actor_label: str = "",
) -> ValueSourceTrust:
    """Set whether a source's outcomes count (admins). Audited (create/update, before/after).

    Raises ValueError for an unknown kind or an integration name on a kind other than ``integration``.
    """
    if source_kind not in ValueSource.values:
        raise ValueError(f"unknown source kind {source_kind!r}")
    integration = integration.strip().lower()
    if integration and source_kind != ValueSource.INTEGRATION:
        raise ValueError("only the 'integration' kind has per-integration settings")

    def change(row: ValueSourceTrust) -> None:
        row.is_trusted, row.counts_self_reports = is_trusted, counts_self_reports

    return audited_upsert(
        ValueSourceTrust,
        lookup={"source_kind": source_kind, "integration": integration},
        change=change,
        actor=actor,
        actor_label=actor_label,
    )
