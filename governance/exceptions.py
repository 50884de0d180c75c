"""Domain errors of governance. ``usage/proxy/errors.py`` maps them to OpenAI error JSON."""

from __future__ import annotations


class GovernanceError(Exception):
    """Base class: carries an HTTP status and an OpenAI-style code."""

    status = 400
    code = "invalid_request"
    type = "invalid_request_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.param = param


class AuthenticationFailed(GovernanceError):
    status = 401
    code = "invalid_api_key"
    type = "invalid_request_error"


class KnownKeyRefused(AuthenticationFailed):
    """A real key that may not be used; carries its principal so the refusal is attributed."""

    def __init__(self, message: str, *, principal=None, **kwargs):
        super().__init__(message, **kwargs)
        self.principal = principal


class KeyRevoked(KnownKeyRefused):
    code = "api_key_revoked"


class KeyExpired(KnownKeyRefused):
    code = "api_key_expired"


class PermissionRefused(GovernanceError):
    """The caller is known but may not do this (403 on every interface)."""

    status = 403
    code = "permission_denied"
    type = "permission_error"


class SelfReviewRefused(PermissionRefused):
    """Nobody reviews a flag raised about themselves, whatever the credential."""

    code = "self_review"


class ModelNotAllowed(GovernanceError):
    status = 403
    code = "model_not_allowed"
    type = "permission_error"


class ModelUnpriced(GovernanceError):
    """The model that would serve the call has no price, and a USD budget applies to the caller."""

    status = 403
    code = "model_unpriced"
    type = "permission_error"


class RateLimited(GovernanceError):
    status = 429
    code = "rate_limit_exceeded"
    type = "rate_limit_error"


class BudgetExceeded(GovernanceError):
    status = 429
    code = "budget_exceeded"
    type = "insufficient_quota"


class MaxTokensTooLarge(GovernanceError):
    status = 400
    code = "max_tokens_exceeds_policy"
    type = "invalid_request_error"


class EnforcementUnavailable(GovernanceError):
    """The usage counters cannot be reached and the deployment fails closed."""

    status = 503
    code = "enforcement_unavailable"
    type = "server_error"


class FlagReplyRefused(PermissionRefused):
    """Only the person a flag is about replies on it."""

    code = "flag_reply_refused"
