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
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
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
    cached_tokens = models.IntegerField(default=0, help_text="Prompt tokens read from the provider's cache.")
    cache_write_tokens = models.IntegerField(default=0, help_text="Prompt tokens written to the provider's cache.")
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
    client = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="The SDK or agent and its version, from the User-Agent (claude-cli/2.1.3).",
    )
    session_id = models.CharField(max_length=128, blank=True, default="", help_text="The coding agent's session.")
    agent_id = models.CharField(max_length=64, blank=True, default="", help_text="A sub-agent's id, if any.")
    parent_agent_id = models.CharField(max_length=64, blank=True, default="")
    request_class = models.CharField(
        max_length=32, blank=True, default="", help_text="The agent's kind of request (e.g. compaction), if it says."
    )
    policy_action = models.CharField(max_length=32, blank=True, default="")
    prompt_hash = models.CharField(max_length=64, blank=True, default="")
    prompt_simhash = models.BigIntegerField(null=True, blank=True)
    output_simhash = models.BigIntegerField(null=True, blank=True)
    prompt_text = models.TextField(null=True, blank=True, help_text="Only when the team's policy opts in.")  # noqa: DJ001 - None: not stored (policy), "": stored and empty
    output_text = models.TextField(null=True, blank=True, help_text="Only when the team's policy opts in.")  # noqa: DJ001 - None: not stored (policy), "": stored and empty

    class Meta:
        indexes = [
            models.Index(fields=["team", "created_at"], name="usage_event_team_time"),
            models.Index(fields=["user", "created_at"], name="usage_event_user_time"),
            # A session's calls in order (request log, session pages): the few rows that have one.
            models.Index(
                fields=["session_id", "created_at"], condition=~models.Q(session_id=""), name="usage_event_session_time"
            ),
            # Models to price (admin overview): the few events of unknown cost, without a full scan.
            models.Index(
                fields=["model_served"], condition=models.Q(cost_usd__isnull=True), name="usage_event_unpriced"
            ),
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
        indexes = [
            models.Index(fields=["team", "day"], name="rollup_team_day"),
            # The organisation summary sums every team over a period: an index-only scan on PostgreSQL.
            models.Index(
                fields=["day", "team"],
                include=["requests", "total_tokens", "cost_usd", "unpriced_requests"],
                name="rollup_day_team_totals",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id}/{self.team_id}/{self.model}"


class Feedback(models.Model):
    """A caller's rating of one call. One per (request id, key): a second rating replaces the first."""

    class Scale(models.TextChoices):
        BINARY = "binary", "Thumbs up (1) / down (-1)"
        FIVE = "five", "One to five stars"

    request_id = models.CharField(max_length=40, db_index=True)
    key = models.ForeignKey("governance.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback")
    team = models.ForeignKey("governance.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    score = models.SmallIntegerField()
    scale = models.CharField(max_length=8, choices=Scale.choices)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request_id", "key"], name="feedback_unique_request_key"),
            models.UniqueConstraint(
                fields=["request_id", "user"],
                condition=models.Q(key__isnull=True),
                name="feedback_unique_request_user_web",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.score} ({self.scale})"

    @property
    def normalised_score(self) -> float:
        """-1.0 (bad) .. +1.0 (good), whatever the scale."""
        if self.scale == self.Scale.FIVE:
            return (self.score - 3) / 2
        return 1.0 if self.score > 0 else -1.0

    @property
    def is_positive(self) -> bool:
        return self.normalised_score > 0


class OutcomeKind(models.Model):
    """An outcome kind (``pr_merged``, ``ticket_resolved`` …) and the weight admins give it."""

    kind = models.SlugField(max_length=64, unique=True)
    weight = models.DecimalField(max_digits=10, decimal_places=4, default=1)
    description = models.CharField(max_length=300, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.kind} (x{self.weight})"


class Outcome(models.Model):
    """A result reported by an integration; ``external_id`` makes retries idempotent.

    Provenance: ``source_kind`` (``governance.models.ValueSource``), the person whose credential reported
    it (``reported_by``), the API token used (``api_token``) and, for integrations, their name
    (``integration``). ``source`` is the reporter's own free-text label.
    """

    external_id = models.CharField(max_length=200, unique=True)
    kind = models.SlugField(max_length=64, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes"
    )
    team = models.ForeignKey(
        "governance.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes"
    )
    occurred_at = models.DateTimeField(db_index=True)
    value = models.DecimalField(max_digits=12, decimal_places=4, default=1)
    request_ids = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=200, blank=True, default="", help_text="who reported it")
    source_kind = models.CharField(
        max_length=16,
        default="legacy",
        db_index=True,
        choices=[
            ("integration", "Integration"),
            ("service_token", "Service token"),
            ("person", "Person"),
            ("import", "Import"),
            ("legacy", "Legacy"),
        ],
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_token = models.ForeignKey(
        "governance.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    integration = models.CharField(max_length=64, blank=True, default="")
    session_id = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="The coding agent's session it came from (OTLP telemetry), if known.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["team", "occurred_at"], name="outcome_team_time"),
            models.Index(fields=["user", "occurred_at"], name="outcome_user_time"),
            models.Index(fields=["session_id"], name="outcome_session", condition=~models.Q(session_id="")),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}"


class OutcomeRequest(models.Model):
    """One request id linked to an outcome (for the share of tokens linked to outcomes)."""

    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="links")
    request_id = models.CharField(max_length=40, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["outcome", "request_id"], name="outcome_request_unique")]

    def __str__(self) -> str:
        return f"{self.request_id} for outcome {self.outcome_id}"


class GithubDelivery(models.Model):
    """One GitHub webhook delivery (``X-GitHub-Delivery``), kept so a redelivery is answered once.

    A delivery carries at most one value signal (``kind`` for ``login``): ``recorded`` as an outcome,
    ``unmapped`` while its login is not mapped to a person (recorded when an admin maps it or an e-mail
    matches), or ``ignored`` (no signal: pings, pushes, other actions).
    """

    class Status(models.TextChoices):
        RECORDED = "recorded", "Recorded as an outcome"
        UNMAPPED = "unmapped", "Waiting for its login to be mapped to a person"
        IGNORED = "ignored", "Acknowledged, no value signal"

    delivery_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=64)
    action = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices)
    login = models.CharField(
        max_length=100, blank=True, default="", help_text="The person's GitHub login (lower case)."
    )
    kind = models.SlugField(max_length=64, blank=True, default="")
    external_id = models.CharField(max_length=200, blank=True, default="")
    occurred_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True, default="", help_text="owner/repo#number")
    outcome = models.ForeignKey(Outcome, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["login", "status"], name="github_delivery_login_status")]

    def __str__(self) -> str:
        return f"{self.event}.{self.action} {self.delivery_id}"


class TelemetrySeries(models.Model):
    """The last value seen of one cumulative OTLP series, to turn running totals into increments.

    ``series_hash`` hashes the reporter, the metric, its resource and data point attributes and the
    series' start time; a point no newer than ``last_time_unix_nano`` (an exporter's retry) adds nothing.
    """

    series_hash = models.CharField(max_length=64, unique=True)
    last_value = models.FloatField(default=0)
    last_time_unix_nano = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"series {self.series_hash[:12]} = {self.last_value}"
