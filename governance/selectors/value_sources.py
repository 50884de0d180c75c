"""Which value signals count: the per-source trust admins set, and the one selector that applies it.

Admins change the trust with ``governance.services.value_sources.value_source_trust_set``.

Every outcome records its provenance (``Outcome.source_kind``, ``reported_by``, ``api_token``,
``integration``). Value metrics (``governance/selectors/value.py``) and detection
(``governance/selectors/detection.py``) read outcomes only through ``outcomes_trusted``, so both count the same
outcomes: those from a trusted source, minus self-reports - an outcome reported by the very person it
is about (``reported_by == user``) - unless the source's ``counts_self_reports`` says otherwise.

Defaults (no ``ValueSourceTrust`` row): integrations, service tokens, people (about others), admin
imports and outcomes recorded before provenance was kept are trusted; self-reports count for nobody.
An integration-specific row (``integration="github"``) overrides the kind's row for that integration.
"""

from __future__ import annotations

import dataclasses

from django.db.models import F, Q, QuerySet

from governance.models import ValueSource, ValueSourceTrust

VALUE_SOURCE_DEFAULTS: dict[str, bool] = {kind: True for kind in ValueSource.values}


@dataclasses.dataclass(frozen=True, slots=True)
class SourceTrust:
    source_kind: str
    integration: str
    is_trusted: bool
    counts_self_reports: bool
    is_default: bool  # no row: the built-in default


def value_source_trust_all() -> list[SourceTrust]:
    """The effective trust of every source kind (rows or defaults) and of every integration with a row."""
    rows = {(row.source_kind, row.integration): row for row in ValueSourceTrust.objects.all()}
    result = []
    for kind in ValueSource.values:
        row = rows.get((kind, ""))
        result.append(
            SourceTrust(
                source_kind=kind,
                integration="",
                is_default=row is None,
                is_trusted=row.is_trusted if row else VALUE_SOURCE_DEFAULTS[kind],
                counts_self_reports=row.counts_self_reports if row else False,
            )
        )
    for (kind, integration), row in sorted(rows.items()):
        if integration:
            result.append(
                SourceTrust(
                    source_kind=kind,
                    integration=integration,
                    is_trusted=row.is_trusted,
                    counts_self_reports=row.counts_self_reports,
                    is_default=False,
                )
            )
    return result


def _counted(trust: SourceTrust) -> Q:
    """Outcomes of this source that count, given its trust (self-reports excluded unless allowed)."""
    if not trust.is_trusted:
        return Q(pk__in=[])
    if trust.counts_self_reports:
        return Q()
    # NULLs: an outcome without a reporter or without a person is no self-report.
    return Q(reported_by__isnull=True) | Q(user__isnull=True) | ~Q(reported_by=F("user"))


def outcomes_trusted_q() -> Q:
    """The filter on ``usage.Outcome`` for the outcomes that count (see the module docstring)."""
    settings = value_source_trust_all()
    named = [t for t in settings if t.integration]
    condition = Q(pk__in=[])
    for trust in settings:
        if trust.integration:
            source = Q(source_kind=trust.source_kind, integration=trust.integration)
        else:
            source = Q(source_kind=trust.source_kind)
            own_rows = [t.integration for t in named if t.source_kind == trust.source_kind]
            if own_rows:
                source &= ~Q(integration__in=own_rows)
        condition |= source & _counted(trust)
    return condition


def outcomes_trusted() -> QuerySet:
    """Every outcome that counts towards value metrics and detection (one query's filter, not loaded)."""
    from usage.selectors import outcomes_all

    return outcomes_all().filter(outcomes_trusted_q())
