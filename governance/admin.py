"""Django admin registrations of governance models."""

from __future__ import annotations

from django.contrib import admin

from governance.models import Alert, Policy


# --- Policies and budget alerts -------------------------------------------------------------------

@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Edits go through ``policy_save`` / ``policy_delete``: validated, audited, caches invalidated."""

    list_display = ("__str__", "scope", "allowed_models", "tokens_per_day", "tokens_per_month", "usd_per_month",
                    "requests_per_minute", "on_exceed", "updated_at")
    list_filter = ("scope", "on_exceed")
    search_fields = ("team__slug", "user__email")
    raw_id_fields = ("team", "user")
    fieldsets = (
        ("Applies to", {"fields": ("scope", "team", "user")}),
        ("Models", {"fields": ("allowed_models", "max_tokens", "max_tokens_action")}),
        ("Budgets", {"fields": (("tokens_per_day", "tokens_per_week", "tokens_per_month"),
                                ("usd_per_day", "usd_per_week", "usd_per_month"))}),
        ("Rate limits", {"fields": ("requests_per_minute", "tokens_per_minute")}),
        ("When a budget is exceeded", {"fields": ("on_exceed", "downgrade_to", "alert_thresholds")}),
        ("Privacy and detection", {"fields": ("store_text", "detector_thresholds")}),
    )

    def save_model(self, request, obj, form, change) -> None:
        from governance.services.policies import policy_save

        policy_save(policy=obj, actor=request.user)

    def delete_model(self, request, obj) -> None:
        from governance.services.policies import policy_delete

        policy_delete(policy=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        from governance.services.policies import policy_delete

        for policy in queryset:
            policy_delete(policy=policy, actor=request.user)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Budget alerts as raised; read-only (they record what happened)."""

    list_display = ("created_at", "team", "user", "scope", "metric", "period", "period_start", "threshold_percent",
                    "used", "limit", "is_exceeded", "notified_at")
    list_filter = ("scope", "metric", "period", "is_exceeded", "team")
    search_fields = ("team__slug", "user__email")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# --- Usage-chasing detection: announced usage targets and reviews -----------------------------------

from governance.models import UsageTarget  # noqa: E402


@admin.register(UsageTarget)
class UsageTargetAdmin(admin.ModelAdmin):
    """Announced usage targets and reviews; edits go through ``usage_target_save`` (audited)."""

    list_display = ("announced_at", "kind", "team", "tokens_per_day", "description")
    list_filter = ("kind", "team")
    search_fields = ("team__slug", "description")
    raw_id_fields = ("team",)
    date_hierarchy = "announced_at"

    def save_model(self, request, obj, form, change) -> None:
        from governance.services.targets import usage_target_save

        usage_target_save(target=obj, actor=request.user)

    def delete_model(self, request, obj) -> None:
        from governance.services.targets import usage_target_delete

        usage_target_delete(target=obj, actor=request.user)
