"""The ledger: one usage event per proxied call, and daily rollups for reports."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UsageEvent(models.Model):
    """One call through the proxy - allowed, blocked or failed. Written once, keyed by ``request_id``."""

    request_id = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(db_index=True)
    key = models.ForeignKey(
        "governance.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )
    team = models.ForeignKey(
        "governance.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    endpoint = models.CharField(max_length=64)
    model_requested = models.CharField(max_length=200, blank=True, default="")
    model_served = models.CharField(max_length=200, blank=True, default="")
    provider = models.CharField(max_length=64, blank=True, default="")
    status = models.PositiveSmallIntegerField(help_text="HTTP status returned to the caller.")
    error_code = models.CharField(max_length=64, blank=True, default="")
    stream = models.BooleanField(default=False)
    prompt_tokens = models.IntegerField(default=0)
    completion_tokens = models.IntegerField(default=0)
    cached_tokens = models.IntegerField(default=0)
    reasoning_tokens = models.IntegerField(default=0)
    total_tokens = models.IntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True, help_text="Null: unknown.")
    price = models.ForeignKey(
        "governance.Price", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    latency_ms = models.IntegerField(default=0)
    time_to_first_byte_ms = models.IntegerField(null=True, blank=True)
    is_estimated = models.BooleanField(default=False)
    client_disconnected = models.BooleanField(default=False)
    max_tokens = models.IntegerField(null=True, blank=True)
    purpose = models.CharField(max_length=100, blank=True, default="")
    policy_action = models.CharField(max_length=32, blank=True, default="")
    prompt_hash = models.CharField(max_length=64, blank=True, default="")
    prompt_simhash = models.BigIntegerField(null=True, blank=True)
    output_simhash = models.BigIntegerField(null=True, blank=True)
    prompt_text = models.TextField(null=True, blank=True, help_text="Only when the team's policy opts in.")
    output_text = models.TextField(null=True, blank=True, help_text="Only when the team's policy opts in.")

    class Meta:
        indexes = [
            models.Index(fields=["team", "created_at"], name="usage_event_team_time"),
            models.Index(fields=["user", "created_at"], name="usage_event_user_time"),
        ]

    def __str__(self) -> str:
        return self.request_id


class DailyRollup(models.Model):
    """Per day (organisation time zone), person, team and served model: the sums reports read."""

    day = models.DateField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    team = models.ForeignKey(
        "governance.Team", null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    model = models.CharField(max_length=200)
    requests = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    unpriced_requests = models.IntegerField(default=0, help_text="Calls whose cost is unknown.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "user", "team", "model"], name="rollup_unique_day_user_team_model"),
        ]
        indexes = [models.Index(fields=["team", "day"], name="rollup_team_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id}/{self.team_id}/{self.model}"
