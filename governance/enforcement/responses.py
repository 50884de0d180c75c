"""What a caller sees of an admission decision: errors it can act on, and response headers.

Rate limits use OpenAI's headers (``x-ratelimit-limit-requests`` / ``-tokens``, ``x-ratelimit-remaining-*``,
``x-ratelimit-reset-*`` as durations like ``1.5s`` or ``6m0s``) and ``Retry-After`` on a 429. A budget
rejection is a 429 with code ``budget_exceeded`` that says which budget, how much is left and when it
resets (``x-tokenwise-budget-reset``, ISO 8601 in the organisation's time zone).
"""

from __future__ import annotations

import math
from decimal import Decimal

from governance.enforcement.counters import USD_UNITS, AdmitResult, BudgetCheck, Plan, RateCheck
from governance.exceptions import BudgetExceeded, RateLimited
from governance.services.keys import KeyPrincipal


def duration(seconds: float) -> str:
    """A duration the way OpenAI's reset headers write it: ``250ms``, ``1.5s``, ``6m0s``."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{text}s" if minutes else f"{text}s"


def scope_label(scope: str, principal: KeyPrincipal) -> str:
    if scope == "team":
        return f"team {principal.team_slug}"
    return f"{principal.user_email} in team {principal.team_slug}"


def _scope_header(scope: str, principal: KeyPrincipal) -> str:
    return f"team:{principal.team_slug}" if scope == "team" else f"user:{principal.user_email}"


def amount_text(budget: BudgetCheck, amount: int) -> str:
    if budget.unit == "usd":
        return f"${Decimal(amount) / USD_UNITS:.4f}"
    return f"{amount} tokens"


def _plain_amount(budget: BudgetCheck, amount: int) -> str:
    return f"{Decimal(amount) / USD_UNITS:.4f}" if budget.unit == "usd" else str(amount)


def rate_headers(rates: list[RateCheck], states: list[tuple[float, float]]) -> dict[str, str]:
    """``x-ratelimit-*`` for the binding (least remaining) limit of each kind."""
    headers: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        pairs = [(state, rate) for rate, state in zip(rates, states, strict=False) if rate.kind == kind]
        if not pairs:
            continue
        (level, to_full), rate = min(pairs, key=lambda pair: pair[0][0])
        headers[f"x-ratelimit-limit-{kind}"] = str(rate.limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(level)))
        headers[f"x-ratelimit-reset-{kind}"] = duration(to_full)
    return headers


def rate_limited_error(plan: Plan, result: AdmitResult, *, principal: KeyPrincipal) -> RateLimited:
    rate = plan.rates[result.rate_index - 1]
    level = result.rates[result.rate_index - 1][0]
    unit = "RPM" if rate.kind == "requests" else "TPM"
    wait = max(1, math.ceil(result.retry_after_s))
    headers = rate_headers(plan.rates, result.rates)
    headers["Retry-After"] = str(wait)
    return RateLimited(
        f"Rate limit reached for {scope_label(rate.scope, principal)} on {rate.kind} per min ({unit}): "
        f"Limit {rate.limit}, Remaining {max(0, math.floor(level))}, Requested {rate.amount}. "
        f"Please try again in {duration(result.retry_after_s)}.",
        headers=headers,
    )


def budget_exceeded_error(plan: Plan, result: AdmitResult, *, principal: KeyPrincipal) -> BudgetExceeded:
    budget = plan.budgets[result.over - 1]
    used, held = result.budgets[result.over - 1]
    left = max(0, budget.limit - used - held)
    reset = budget.period.end_local().isoformat()
    noun = "USD" if budget.unit == "usd" else "token"
    held_note = f", {amount_text(budget, held)} of it held by calls in progress" if held else ""
    advice = " Lower max_tokens to fit, or wait until then." if left else ""
    message = (
        f"Budget exceeded: this call may use up to {amount_text(budget, budget.amount)}, but the "
        f"{budget.period.adjective} {noun} budget of {scope_label(budget.scope, principal)} "
        f"({amount_text(budget, budget.limit)}) has {amount_text(budget, left)} left"
        f"{held_note}. It resets at {reset}.{advice}"
    )
    headers = {
        "Retry-After": str(max(1, math.ceil(budget.period.ends_at - plan.now))),
        "x-tokenwise-budget-reset": reset,
        "x-tokenwise-budget-scope": _scope_header(budget.scope, principal),
        "x-tokenwise-budget-period": budget.period.kind,
        "x-tokenwise-budget-unit": budget.unit,
        "x-tokenwise-budget-limit": _plain_amount(budget, budget.limit),
        "x-tokenwise-budget-remaining": _plain_amount(budget, left),
    }
    return BudgetExceeded(message, headers=headers)


def exceeded_warning(budget: BudgetCheck, *, principal: KeyPrincipal) -> str:
    """The ``x-tokenwise-warning`` of a call let through an exceeded budget (warn or downgrade)."""
    noun = "USD" if budget.unit == "usd" else "token"
    return (
        f"budget exceeded: {budget.period.adjective} {noun} budget of {scope_label(budget.scope, principal)} "
        f"({amount_text(budget, budget.limit)}), resets at {budget.period.end_local().isoformat()}"
    )
