"""Django admin registrations of governance models."""

from __future__ import annotations

from django.contrib import admin

from governance.models import Alert, Policy

# --- Policies and budget alerts -------------------------------------------------------------------


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Edits go through ``policy_save`` / ``policy_delete``: validated, audited, caches invalidated."""

    list_display = (
        "__str__",
        "scope",
        "allowed_models",
        "tokens_per_day",
        "tokens_per_month",
        "usd_per_month",
        "requests_per_minute",
        "on_exceed",
        "updated_at",
    )
    list_filter = ("scope", "on_exceed")
    search_fields = ("team__slug", "user__email")
    raw_id_fields = ("team", "user")
    fieldsets = (
        ("Applies to", {"fields": ("scope", "team", "user")}),
        ("Models", {"fields": ("allowed_models", "max_tokens", "max_tokens_action", "allow_unpriced_models")}),
        (
            "Budgets",
            {
                "fields": (
                    ("tokens_per_day", "tokens_per_week", "tokens_per_month"),
                    ("usd_per_day", "usd_per_week", "usd_per_month"),
                )
            },
        ),
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

    list_display = (
        "created_at",
        "team",
        "user",
        "scope",
        "metric",
        "period",
        "period_start",
        "threshold_percent",
        "used",
        "limit",
        "is_exceeded",
        "notified_at",
    )
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


# --- Teams, keys, providers, prices, audit, flags (the web admin pages at /manage/ are quicker) ------

from governance.models import (  # noqa: E402
    ApiKey,
    AuditLogEntry,
    Flag,
    FlagReview,
    Membership,
    ModelRoute,
    Price,
    Provider,
    Team,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "team", "role", "created_at")
    list_filter = ("role", "team")
    search_fields = ("user__email", "team__slug")
    raw_id_fields = ("user", "team")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created with ``key_create`` (the secret is shown once) and revoked with ``key_revoke``."""

    list_display = ("prefix", "name", "user", "team", "is_service", "created_at", "last_used_at", "revoked_at")
    list_filter = ("is_service", "team")
    search_fields = ("prefix", "name", "user__email", "team__slug")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # a key's secret must come from key_create (My usage, the API or create_key)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        from governance.services.keys import key_revoke

        for key in queryset:
            key_revoke(key=key, actor=request.user)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    """Read here; change providers on /manage/providers/ (the secret is write-only and encrypted)."""

    list_display = ("name", "base_url", "api_key_env", "is_active", "created_at")
    exclude = ("api_key_encrypted",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    list_display = ("pattern", "provider", "upstream_model", "fallback_provider", "priority")

    def save_model(self, request, obj, form, change) -> None:
        from governance.services.providers import route_upsert

        route_upsert(
            pattern=obj.pattern,
            provider=obj.provider,
            upstream_model=obj.upstream_model,
            priority=obj.priority,
            fallback_provider=obj.fallback_provider,
            actor=request.user,
        )


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    """Prices are versions: a change adds one (``price_set``), none is edited in place."""

    list_display = ("model", "input_per_mtok", "cached_input_per_mtok", "output_per_mtok", "valid_from")
    search_fields = ("model",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        from governance.services.pricing import price_set

        saved = price_set(
            model=obj.model,
            input_per_mtok=obj.input_per_mtok,
            cached_input_per_mtok=obj.cached_input_per_mtok,
            output_per_mtok=obj.output_per_mtok,
            valid_from=obj.valid_from,
            actor=request.user,
        )
        obj.pk = saved.pk


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "action", "object_type", "object_id", "object_repr")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_repr", "object_id")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class FlagReviewInline(admin.TabularInline):
    model = FlagReview
    extra = 0
    can_delete = False
    readonly_fields = ("reviewer", "action", "comment", "created_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    """Read here; review on the flag page (``flag_review``: audited, shown to the person)."""

    list_display = ("detector", "user", "team", "state", "score", "created_at")
    list_filter = ("state", "detector", "team")
    search_fields = ("user__email", "team__slug")
    readonly_fields = [field.name for field in Flag._meta.fields]
    inlines = [FlagReviewInline]

    def has_add_permission(self, request) -> bool:
        return False


# --- Which value sources count ------------------------------------------------------------------------

from governance.models import ValueSourceTrust  # noqa: E402


@admin.register(ValueSourceTrust)
class ValueSourceTrustAdmin(admin.ModelAdmin):
    """Which outcome sources count for value metrics and detection; edits go through
    ``value_source_trust_set`` (audited)."""

    list_display = ("source_kind", "integration", "is_trusted", "counts_self_reports", "updated_at")
    list_filter = ("source_kind", "is_trusted")

    def save_model(self, request, obj, form, change) -> None:
        from governance.services.value_sources import value_source_trust_set

        obj.pk = value_source_trust_set(
            source_kind=obj.source_kind,
            integration=obj.integration,
            is_trusted=obj.is_trusted,
            counts_self_reports=obj.counts_self_reports,
            actor=request.user,
        ).pk

    def get_readonly_fields(self, request, obj=None):
        return ("source_kind", "integration") if obj is not None else ()
