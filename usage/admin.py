"""Django admin for the ledger and value signals: read-only views of what happened (the ledger is
written by the proxy only), and outcome-kind weights."""

from __future__ import annotations

from django.contrib import admin

from usage.models import DailyRollup, Feedback, Outcome, OutcomeKind, UsageEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only from the proxy: nobody edits or adds rows by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = (
        "request_id",
        "created_at",
        "user",
        "team",
        "model_served",
        "status",
        "total_tokens",
        "cost_usd",
        "latency_ms",
        "is_estimated",
    )
    list_filter = ("status", "stream", "is_estimated", "endpoint")
    search_fields = ("request_id", "user__email", "team__slug", "model_served")
    date_hierarchy = "created_at"
    list_select_related = ("user", "team")
    exclude = ("prompt_text", "output_text")  # stored only when a policy opts in; not shown here
    show_full_result_count = False  # the table is large and partitioned: no COUNT(*) per page


@admin.register(DailyRollup)
class DailyRollupAdmin(ReadOnlyAdmin):
    list_display = ("day", "team", "user", "model", "requests", "total_tokens", "cost_usd", "unpriced_requests")
    list_filter = ("day",)
    search_fields = ("team__slug", "user__email", "model")
    list_select_related = ("user", "team")


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ("request_id", "user", "team", "score", "scale", "created_at")
    list_filter = ("scale",)
    search_fields = ("request_id", "user__email")


@admin.register(Outcome)
class OutcomeAdmin(ReadOnlyAdmin):
    list_display = (
        "external_id",
        "kind",
        "user",
        "team",
        "value",
        "occurred_at",
        "source_kind",
        "integration",
        "reported_by",
        "source",
    )
    list_filter = ("kind", "source_kind", "integration")
    search_fields = ("external_id", "user__email", "team__slug")


@admin.register(OutcomeKind)
class OutcomeKindAdmin(admin.ModelAdmin):
    """Weights go through ``outcome_kind_set`` (validated, audited)."""

    list_display = ("kind", "weight", "description")

    def save_model(self, request, obj, form, change) -> None:
        from usage.value import outcome_kind_set

        outcome_kind_set(kind=obj.kind, weight=obj.weight, description=obj.description, actor=request.user)
