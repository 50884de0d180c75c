"""Value signals from where the work happens: GitHub webhooks (``github``) and coding-agent telemetry
over OTLP (``otlp``). Both record outcomes through ``usage.value.outcome_record`` with the provenance
``source_kind=integration`` and the integration's name, so admins weight their kinds
(``OutcomeKind``) and choose whether they count (``governance.selectors.value_sources``).
"""
