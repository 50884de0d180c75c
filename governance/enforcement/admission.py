"""Admission: the policy check and budget reservation of one proxied call.

The proxy calls ``admission_admit`` before forwarding and ``admission_settle`` exactly once when the call
ends (success, failure or client disconnect). Rejections raise ``governance.exceptions`` errors.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from governance.services.keys import KeyPrincipal


@dataclasses.dataclass(slots=True)
class Admission:
    """The decision for one call."""

    model: str  # the model to serve (may differ from the one asked when the policy downgrades)
    max_tokens: int | None  # the max_tokens to send upstream (capped by policy), None = as asked
    action: str = ""  # policy action taken: "", "warn", "downgrade", "cap"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    store_text: bool = False
    reservation: Any = None
    settled: bool = False


async def admission_admit(
    *, principal: KeyPrincipal, endpoint: str, model: str, max_tokens: int | None, prompt_tokens_estimate: int,
) -> Admission:
    """Check every limit that applies to this call and reserve its worst-case cost.

    Raises ModelNotAllowed, RateLimited, BudgetExceeded or MaxTokensTooLarge.
    """
    return Admission(model=model, max_tokens=None)


async def admission_settle(admission: Admission, *, total_tokens: int, cost_usd: Decimal | None) -> None:
    """Replace the reservation by the actual usage. Idempotent: a second call does nothing."""
    admission.settled = True


async def models_visible(*, principal: KeyPrincipal, models: list[str]) -> list[str]:
    """The subset of ``models`` the caller's policy allows."""
    return models
