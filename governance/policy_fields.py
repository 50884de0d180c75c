"""The fields of a policy (``governance.models.Policy``), by what they do: the limits counted against
usage (tokens and USD per period, rates) and the rules a call is checked against. Every level of a policy
(organisation default, team, person) has all of them; an unset field inherits from the level above."""

from __future__ import annotations

TOKEN_FIELDS = (("day", "tokens_per_day"), ("week", "tokens_per_week"), ("month", "tokens_per_month"))
USD_FIELDS = (("day", "usd_per_day"), ("week", "usd_per_week"), ("month", "usd_per_month"))
LIMIT_FIELDS = (*(f for _, f in TOKEN_FIELDS), *(f for _, f in USD_FIELDS), "requests_per_minute", "tokens_per_minute")
RULE_FIELDS = (
    "allowed_models",
    "max_tokens",
    "max_tokens_action",
    "on_exceed",
    "downgrade_to",
    "alert_thresholds",
    "store_text",
    "detector_thresholds",
    "allow_unpriced_models",
)
POLICY_FIELDS = (*LIMIT_FIELDS, *RULE_FIELDS)
