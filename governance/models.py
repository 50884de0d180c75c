"""The organisation and its rules: teams, memberships, keys, policies, providers, prices, audit."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


class Team(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        MANAGER = "manager", "Manager"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ApiKey(models.Model):
    """A proxy key (``tw-…``). Only the SHA-256 of the secret is stored; the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, help_text="First characters of the secret, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    is_service = models.BooleanField(default=False, help_text="Belongs to a team's own application.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Policy(models.Model):
    """Usage rules at one level: organisation default, team, or person within a team.

    A null field means "not set at this level": the effective policy takes, per field, the most
    specific level that sets it (person > team > organisation).
    """

    class Scope(models.TextChoices):
        ORG = "org", "Organisation default"
        TEAM = "team", "Team"
        USER = "user", "Person within a team"

    class OnExceed(models.TextChoices):
        BLOCK = "block", "Block"
        WARN = "warn", "Warn (allow, add a header, notify)"
        DOWNGRADE = "downgrade", "Downgrade to a cheaper model"

    class MaxTokensAction(models.TextChoices):
        CAP = "cap", "Cap the request"
        REJECT = "reject", "Reject the request"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="policies"
    )
    allowed_models = models.JSONField(null=True, blank=True, help_text="Model names and glob patterns.")
    tokens_per_day = models.BigIntegerField(null=True, blank=True)
    tokens_per_week = models.BigIntegerField(null=True, blank=True)
    tokens_per_month = models.BigIntegerField(null=True, blank=True)
    usd_per_day = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    usd_per_week = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    usd_per_month = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    requests_per_minute = models.IntegerField(null=True, blank=True)
    tokens_per_minute = models.IntegerField(null=True, blank=True)
    max_tokens = models.IntegerField(null=True, blank=True)
    max_tokens_action = models.CharField(max_length=8, choices=MaxTokensAction.choices, null=True, blank=True)  # noqa: DJ001 - None inherits from the parent policy, unlike a set value
    on_exceed = models.CharField(max_length=10, choices=OnExceed.choices, null=True, blank=True)  # noqa: DJ001 - None inherits from the parent policy, unlike a set value
    downgrade_to = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - None inherits from the parent policy, unlike a set value
    alert_thresholds = models.JSONField(null=True, blank=True, help_text="Percentages, e.g. [50, 80, 100].")
    store_text = models.BooleanField(null=True, blank=True, help_text="Store prompt and response text.")
    allow_unpriced_models = models.BooleanField(
        null=True, blank=True, help_text="Admit models without a price under a USD budget (their cost is not counted)."
    )
    detector_thresholds = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(fields=["scope"], condition=Q(scope="org"), name="policy_one_org_default"),
            models.UniqueConstraint(fields=["team"], condition=Q(scope="team"), name="policy_one_per_team"),
            models.UniqueConstraint(
                fields=["team", "user"], condition=Q(scope="user"), name="policy_one_per_team_user"
            ),
            models.CheckConstraint(
                condition=(
                    Q(scope="org", team__isnull=True, user__isnull=True)
                    | Q(scope="team", team__isnull=False, user__isnull=True)
                    | Q(scope="user", team__isnull=False, user__isnull=False)
                ),
                name="policy_scope_matches_targets",
            ),
        ]

    def __str__(self) -> str:
        if self.scope == self.Scope.ORG:
            return "organisation default"
        if self.scope == self.Scope.TEAM:
            return f"team {self.team}"
        return f"{self.user} in {self.team}"


class Provider(models.Model):
    """An upstream: OpenAI-compatible (default one: OPENAI_BASE_URL / OPENAI_API_KEY) or Anthropic's
    Messages API (default one: ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY)."""

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic Messages API"

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        default=Kind.OPENAI,
        help_text="The protocol it speaks: /v1/messages calls go to anthropic providers.",
    )
    base_url = models.URLField(max_length=500)
    api_key_encrypted = models.TextField(blank=True, default="", help_text="Encrypted at rest; never shown.")
    api_key_env = models.CharField(
        max_length=100, blank=True, default="", help_text="Or: name of an environment variable holding it."
    )
    extra_headers = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ModelRoute(models.Model):
    """Routes requested model names (exact or glob) to a provider, optionally renaming the model."""

    pattern = models.CharField(max_length=200, unique=True)
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="routes")
    upstream_model = models.CharField(max_length=200, blank=True, default="")
    fallback_provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="fallback_routes"
    )
    priority = models.IntegerField(default=100, help_text="Lower wins when several patterns match.")

    class Meta:
        ordering = ["priority", "pattern"]

    def __str__(self) -> str:
        return f"{self.pattern} -> {self.provider}"


class Price(models.Model):
    """One version of a model's price, in USD per million tokens.

    Prices are never edited in place: a change adds a new version, so an event keeps the price it was
    charged at (``UsageEvent.price``).
    """

    model = models.CharField(max_length=200, db_index=True)
    input_per_mtok = models.DecimalField(max_digits=12, decimal_places=6)
    cached_input_per_mtok = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    cache_write_per_mtok = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Prompt tokens written to the provider's cache (Anthropic); empty = the input rate.",
    )
    output_per_mtok = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    valid_from = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-valid_from"]
        constraints = [models.UniqueConstraint(fields=["model", "valid_from"], name="price_unique_version")]

    def __str__(self) -> str:
        return f"{self.model} from {self.valid_from:%Y-%m-%d}"


class AuditLogEntry(models.Model):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True, default="", help_text="e.g. a command name")
    action = models.CharField(max_length=32)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit log entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"


class ApiToken(models.Model):
    """A token for the REST API under ``/api/`` (``twa-…``). Only the SHA-256 of the secret is stored.

    A personal token acts as its person, narrowed to its scopes. A service token (``team`` set) acts
    for that one team only, never as a person, and can never hold the ``admin`` scope. Proxy keys
    (``tw-…``, :class:`ApiKey`) and API tokens are separate: neither is accepted where the other is.
    """

    class Scope(models.TextChoices):
        READ_REPORTS = "read_reports", "Read reports, usage, flags and settings"
        MANAGE_TEAM = "manage_team", "Manage keys and review flags"
        POST_OUTCOMES = "post_outcomes", "Post outcomes and feedback"
        ADMIN = "admin", "Administer everything (staff only)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The person it acts as; for a service token, who created it.",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="Set for a service token: it acts for this team only.",
    )
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, help_text="First characters of the secret, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_service(self) -> bool:
        return self.team_id is not None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Flag(models.Model):
    """A detector's finding about one person in one team for one period, for a manager to review."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        DISMISSED = "dismissed", "Dismissed as legitimate"
        CONFIRMED = "confirmed", "Confirmed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="flags")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="flags")
    detector = models.CharField(max_length=64)
    score = models.FloatField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    evidence = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team", "detector", "period_start"], name="flag_unique_period"),
        ]
        indexes = [models.Index(fields=["team", "state"], name="flag_team_state")]

    def __str__(self) -> str:
        return f"{self.detector} on {self.user} ({self.state})"


class FlagReview(models.Model):
    """One review decision on a flag, with the manager's comment (shown to the person flagged)."""

    class Action(models.TextChoices):
        ACKNOWLEDGE = "acknowledge", "Acknowledge"
        DISMISS = "dismiss", "Dismiss as legitimate"
        CONFIRM = "confirm", "Confirm"
        COMMENT = "comment", "Comment"

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on flag {self.flag_id}"


class FlagReply(models.Model):
    """The flagged person's answer on their flag (why the usage is what it is); the managers read it."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"reply on flag {self.flag_id}"


class Alert(models.Model):
    """A budget threshold reached by a team (its pool) or a person in one period; notified once.

    Raised from admission/settlement through ``governance.tasks.alert_raise_task``; unique per
    (team, person, metric, period, threshold), so a crossing seen twice notifies once.
    """

    class Scope(models.TextChoices):
        TEAM = "team", "Team"
        USER = "user", "Person within a team"

    class Metric(models.TextChoices):
        TOKENS = "tokens", "Tokens"
        USD = "usd", "USD"

    class PeriodKind(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alerts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="budget_alerts"
    )
    metric = models.CharField(max_length=8, choices=Metric.choices)
    period = models.CharField(max_length=8, choices=PeriodKind.choices)
    period_start = models.DateField(help_text="First day of the period, in the organisation's time zone.")
    threshold_percent = models.PositiveSmallIntegerField()
    used = models.DecimalField(max_digits=20, decimal_places=8, help_text="Tokens or USD used when raised.")
    limit = models.DecimalField(max_digits=20, decimal_places=8)
    is_exceeded = models.BooleanField(default=False, help_text="A call did not fit the budget.")
    recipients = models.JSONField(default=list, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    webhook_status = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "metric", "period", "period_start", "threshold_percent"],
                condition=Q(scope="team"),
                name="alert_unique_team_period_threshold",
            ),
            models.UniqueConstraint(
                fields=["team", "user", "metric", "period", "period_start", "threshold_percent"],
                condition=Q(scope="user"),
                name="alert_unique_user_period_threshold",
            ),
        ]
        indexes = [models.Index(fields=["team", "created_at"], name="alert_team_time")]

    def __str__(self) -> str:
        who = f"team {self.team}" if self.scope == self.Scope.TEAM else f"{self.user} in {self.team}"
        return f"{who}: {self.threshold_percent}% of {self.period} {self.metric} budget"


class UsageTarget(models.Model):
    """An announced usage target or review, which the target-hugging detector watches usage react to.

    ``team`` None means the whole organisation. A ``usage_target`` may state ``tokens_per_day`` (usage
    that then settles just above it is suspicious); a ``review`` is an announced performance or usage
    review (usage that jumps right after it is).
    """

    class Kind(models.TextChoices):
        USAGE_TARGET = "usage_target", "Usage target"
        REVIEW = "review", "Review"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="usage_targets",
        help_text="Empty: the whole organisation.",
    )
    announced_at = models.DateTimeField(db_index=True)
    tokens_per_day = models.BigIntegerField(null=True, blank=True, help_text="The daily tokens target, if any.")
    description = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-announced_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tokens_per_day__isnull=True) | Q(tokens_per_day__gt=0), name="usage_target_positive_tokens"
            ),
        ]

    def __str__(self) -> str:
        scope = self.team.slug if self.team is not None else "organisation"
        return f"{self.get_kind_display()} for {scope} on {self.announced_at:%Y-%m-%d}"


class ValueSource(models.TextChoices):
    """Where a value signal (an outcome) came from: its provenance."""

    INTEGRATION = "integration", "An integration (e.g. GitHub, OTLP telemetry)"
    SERVICE_TOKEN = "service_token", "A team's service token"
    PERSON = "person", "A person (web session or personal API token)"
    IMPORT = "import", "An admin's import (import_outcomes, the demo seed)"
    LEGACY = "legacy", "Recorded before provenance was kept"


class ValueSourceTrust(models.Model):
    """Whether outcomes from one source count towards value metrics and detection (admins decide).

    ``integration`` names one integration (``github``, ``otlp``); blank means every source of the kind
    without a row of its own. ``counts_self_reports``: whether an outcome reported by the person it is
    about (``reported_by`` = its ``user``) counts for them. No row: ``VALUE_SOURCE_DEFAULTS``.
    """

    source_kind = models.CharField(max_length=16, choices=ValueSource.choices)
    integration = models.CharField(
        max_length=64, blank=True, default="", help_text="One integration's name (github, otlp); blank: the whole kind."
    )
    is_trusted = models.BooleanField(default=True, help_text="Its outcomes count for value and detection.")
    counts_self_reports = models.BooleanField(
        default=False, help_text="Outcomes reported by the person they are about count for that person."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source_kind", "integration"], name="value_source_trust_unique")]

    def __str__(self) -> str:
        name = f"{self.source_kind}:{self.integration}" if self.integration else self.source_kind
        return f"{name} ({'trusted' if self.is_trusted else 'not trusted'})"


class GithubIdentity(models.Model):
    """A GitHub login and the person it is. ``user`` empty: seen in webhooks but not mapped yet.

    Admins map logins (``matched_by=admin``); a login whose verified e-mail GitHub sends in a payload
    (a push's commit author, the pusher, a user's public e-mail) equal to exactly one person's e-mail is
    matched on it (``matched_by=email``) unless already mapped. ``login`` is stored in lower case
    (GitHub logins are case-insensitive).
    """

    class MatchedBy(models.TextChoices):
        ADMIN = "admin", "Mapped by an admin"
        EMAIL = "email", "Matched on a verified e-mail"

    login = models.CharField(max_length=100, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="github_identities"
    )
    matched_by = models.CharField(max_length=16, choices=MatchedBy.choices, blank=True, default="")
    matched_email = models.EmailField(blank=True, default="", help_text="The verified e-mail it was matched on.")
    events_seen = models.PositiveIntegerField(default=0, help_text="Webhook events naming it as the person.")
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["login"]

    def __str__(self) -> str:
        return f"github:{self.login}"


class IntegrationSecret(models.Model):
    """A secret an integration is verified with (``github``: the webhook secret); encrypted, never shown."""

    integration = models.SlugField(max_length=64, unique=True)
    secret_encrypted = models.TextField(blank=True, default="", help_text="Encrypted at rest; never shown.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.integration} secret"
