"""Admission: the policy check and budget reservation of one proxied call.

The proxy calls ``admission_admit`` before forwarding and ``admission_settle`` exactly once when the call
ends (success, failure or client disconnect). Rejections raise ``governance.exceptions`` errors.

Steady state: the effective policy and the price come from in-process snapshots, the periods are
memoised, and the counters take one Redis round trip to admit (``lua/admit.lua``) and one to settle
(``lua/settle.lua``), with flat arguments and replies (no JSON on either side); in embedded mode (no
Redis) the same algorithm runs in-process. The worst case reserved for a call is a true upper bound of
what it can be billed (``governance.enforcement.bounds``: every choice, every prompt, media parts, a
prompt bound that cannot undercount, the model's maximum output when nothing caps it), priced at the
model that will serve it (after routes and downgrades): concurrent calls cannot overspend a budget.
A model without a price is refused under a USD budget unless the policy allows unpriced models.

Fitting (``fit_min_output``, the Messages API): a call refused by a budget because of what its output
*may* cost - Claude Code asks ``max_tokens: 32000`` on every call, and sub-agents run side by side -
is admitted again with the largest output that fits every budget's room (settled usage and the other
calls' reservations taken out), when at least ``fit_min_output`` tokens fit. The lowered bound is
sent upstream as ``max_tokens`` (``Admission.max_tokens``), so the reservation stays a true upper
bound; ``x-tokenwise-max-tokens-fitted`` says so. One more Redis round trip, only for such a call (and
for a refused one: the first try raises no "exceeded" alert, since the call may still fit; the second,
as asked, does when it is refused again).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError

import core.redis
from core import clock
from core.redis import REDIS_ERRORS
from governance.enforcement.bounds import RequestShape, output_bound, output_limit, prompt_bound
from governance.enforcement.counters import (
    USD_UNITS,
    AdmitResult,
    BudgetCheck,
    Command,
    Plan,
    RateCheck,
    budget_key,
    local_counters,
    rate_key,
    redis_counters,
)
from governance.enforcement.effective import EffectivePolicy, Limits, policy_for, policy_version_observe
from governance.enforcement.responses import budget_exceeded_error, exceeded_warning, rate_headers, rate_limited_error
from governance.exceptions import EnforcementUnavailable, MaxTokensTooLarge, ModelNotAllowed, ModelUnpriced
from governance.periods import periods_at
from governance.services.alerts import alert_crossings_queue
from governance.services.keys import KeyPrincipal
from governance.services.pricing import PriceQuote, cost_usd, price_quote

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class Reservation:
    plan: Plan
    backend: Any  # the counters that admitted it settle it (Redis, or this process's when Redis failed)


@dataclasses.dataclass(slots=True)
class Admission:
    """The decision for one call."""

    model: str  # the model to serve (may differ from the one asked when the policy downgrades)
    # The max_tokens to send upstream, None = as asked: the policy's cap, or the default output bound of a
    # model the bounds' table does not know (reserved, so it must hold).
    max_tokens: int | None
    action: str = ""  # policy action taken: "", "warn", "downgrade", "cap" (comma-separated when several)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    store_text: bool = False
    reservation: Reservation | None = None
    settled: bool = False


def _has_limits(limits: Limits) -> bool:
    return limits.has_budget or limits.rpm is not None or limits.tpm is not None


def _mode(policy: EffectivePolicy, model: str) -> str:
    if policy.on_exceed == "downgrade" and (not policy.downgrade_to or policy.downgrade_to == model):
        # Nothing to downgrade to (or already there): let it through and say so, as "warn" does.
        return "warn" if policy.downgrade_to else "block"
    return policy.on_exceed


def _completion_limit(
    policy: EffectivePolicy, *, endpoint: str, max_tokens: int | None, actions: list[str], headers: dict[str, str]
) -> tuple[int | None, int | None]:
    """(max_tokens to send upstream or None = as asked, output asked per choice or None = uncapped)."""
    if endpoint == "embeddings":
        return None, 0
    cap = policy.max_tokens
    if cap is None:
        return None, max_tokens
    if max_tokens is None:
        return cap, cap  # bound the output so the reservation is a true worst case
    if max_tokens <= cap:
        return None, max_tokens
    if policy.max_tokens_action == "reject":
        raise MaxTokensTooLarge(
            f"max_tokens is {max_tokens}, above the {cap} your team's policy allows per request. "
            f"Send max_tokens <= {cap}.",
            param="max_tokens",
        )
    actions.append("cap")
    headers["x-tokenwise-max-tokens-capped"] = str(cap)
    return cap, cap


@dataclasses.dataclass(frozen=True, slots=True)
class _Worst:
    """The worst case of the call if one model serves it."""

    tokens: int
    cost_units: int
    send_max_tokens: int | None  # an output bound that holds only if sent upstream (unknown model)


def _worst(shape: RequestShape, *, model: str, quote: PriceQuote | None, asked: int | None) -> _Worst:
    prompt = prompt_bound(
        shape,
        model=model,
        margin=settings.TOKENWISE_RESERVE_PROMPT_MARGIN_TOKENS,
        unknown_image_tokens=settings.TOKENWISE_UNKNOWN_MODEL_IMAGE_TOKENS,
        unknown_context_tokens=settings.TOKENWISE_UNKNOWN_MODEL_CONTEXT_TOKENS,
    )
    per_choice, must_send = output_limit(
        model=model, requested=asked, default=settings.TOKENWISE_DEFAULT_MAX_OUTPUT_TOKENS
    )
    completion = output_bound(shape, per_choice=per_choice) if shape.choices else 0
    cost = 0  # unpriced (allowed by the policy): its cost is unknown and cannot count against a USD budget
    if quote is not None:
        cost = math.ceil(
            cost_usd(quote, prompt_tokens=prompt, cached_tokens=0, completion_tokens=completion) * USD_UNITS
        )
    return _Worst(
        tokens=prompt + completion, cost_units=cost, send_max_tokens=per_choice if must_send and shape.choices else None
    )


def _fitted_output(
    shape: RequestShape,
    plan: Plan,
    result: AdmitResult,
    *,
    model: str,
    quote: PriceQuote | None,
    asked: int | None,
    minimum: int,
) -> int | None:
    """The largest output per choice below ``asked`` whose worst case fits the room every budget has
    left (as ``result`` saw them); None when fewer than ``minimum`` tokens fit."""
    best: int | None = None
    prompt_only = _worst(shape, model=model, quote=quote, asked=0)
    for budget, (used, held) in zip(plan.budgets, result.budgets, strict=False):
        room = budget.limit - used - held
        if budget.unit == "tokens":
            fits = room - prompt_only.tokens
        elif quote is None or not quote.output_per_mtok:
            continue  # no output cost to fit
        else:
            fits = math.floor((room - prompt_only.cost_units) / (quote.output_per_mtok * USD_UNITS / 1_000_000))
        best = fits if best is None else min(best, fits)
    if best is None or best < minimum or (asked is not None and best >= asked):
        return None
    rooms = [
        (budget.unit, budget.limit - used - held)
        for budget, (used, held) in zip(plan.budgets, result.budgets, strict=False)
    ]
    while best >= minimum:  # rounding: step down until the priced worst case fits
        worst = _worst(shape, model=model, quote=quote, asked=best)
        if all((worst.tokens if unit == "tokens" else worst.cost_units) <= room for unit, room in rooms):
            return best
        best -= max(1, best // 1000)
    return None


def _unpriced(model: str, served: str) -> ModelUnpriced:
    routed = "" if model == served else f" (served as '{served}')"
    return ModelUnpriced(
        f"The model '{model}'{routed} has no price, so its cost cannot be counted against your team's USD budget. "
        "Ask an admin to set its price, or to allow unpriced models in the policy.",
        param="model",
    )


def _checks(
    policy: EffectivePolicy,
    principal: KeyPrincipal,
    *,
    now: float,
    tokens: int,
    cost: int,
    tokens_alt: int,
    cost_alt: int,
) -> tuple[list[RateCheck], list[BudgetCheck]]:
    periods = {p.kind: p for p in periods_at(now)}
    rates: list[RateCheck] = []
    budgets: list[BudgetCheck] = []
    levels: tuple[tuple[str, int | None, Limits], ...] = (
        ("team", None, policy.team),
        ("user", principal.user_id, policy.person),
    )
    for scope, user_id, limits in levels:
        team_id = principal.team_id
        if limits.rpm is not None:
            rates.append(
                RateCheck(
                    key=rate_key(team_id=team_id, user_id=user_id, kind="rpm"),
                    kind="requests",
                    limit=limits.rpm,
                    amount=1,
                    scope=scope,
                )
            )
        if limits.tpm is not None:
            rates.append(
                RateCheck(
                    key=rate_key(team_id=team_id, user_id=user_id, kind="tpm"),
                    kind="tokens",
                    limit=limits.tpm,
                    amount=tokens,
                    scope=scope,
                )
            )
        for kind, limit in limits.tokens:
            budgets.append(
                BudgetCheck(
                    key=budget_key(team_id=team_id, user_id=user_id, unit="tok", period=periods[kind]),
                    unit="tokens",
                    limit=limit,
                    amount=tokens,
                    amount_if_downgraded=tokens_alt,
                    thresholds=limits.thresholds,
                    scope=scope,
                    period=periods[kind],
                    team_id=team_id,
                    user_id=user_id,
                )
            )
        for kind, limit_usd in limits.usd:
            budgets.append(
                BudgetCheck(
                    key=budget_key(team_id=team_id, user_id=user_id, unit="usd", period=periods[kind]),
                    unit="usd",
                    limit=int(limit_usd * USD_UNITS),
                    amount=cost,
                    amount_if_downgraded=cost_alt,
                    thresholds=limits.thresholds,
                    scope=scope,
                    period=periods[kind],
                    team_id=team_id,
                    user_id=user_id,
                )
            )
    return rates, budgets


async def _run(plan: Plan) -> tuple[AdmitResult, Any]:
    """The decision and the counters that took it.

    Redis unreachable: with ``TOKENWISE_REDIS_FAILURE_MODE=open`` this process's own counters decide
    (seeded from the ledger; budgets then hold per process only), with ``closed`` the call is refused.
    """
    if settings.REDIS_URL:
        try:
            result = await redis_counters.admit(plan)
        except REDIS_ERRORS as exc:
            if isinstance(exc, (TimeoutError, redis.exceptions.TimeoutError)):
                _release_later(plan)  # the script may have run: do not let its reservation sit until expiry
            if settings.TOKENWISE_REDIS_FAILURE_MODE == "closed":
                raise EnforcementUnavailable(
                    "Usage limits cannot be checked right now; retry shortly.", headers={"Retry-After": "5"}
                ) from exc
            logger.warning("counters unreachable: %s admitted by this process's own counters", plan.rid)
        else:
            assert result.version is not None  # the admission script always answers the team's version
            policy_version_observe(plan.team_id, result.version)
            return result, redis_counters
    await _seed_local(plan)
    return await local_counters.admit(plan), local_counters


_releases: set[asyncio.Task] = set()


def _release_later(plan: Plan) -> None:
    """Settle a possibly-made Redis reservation with zero usage (a no-op when the script never ran)."""

    async def release() -> None:
        await asyncio.sleep(1.0)
        try:
            await redis_counters.settle(plan, now=clock.now(), tokens=0, cost_units=0)
        except REDIS_ERRORS:
            logger.info("reservation %s left to expire (counters still unreachable)", plan.rid)

    task = asyncio.ensure_future(release())
    _releases.add(task)
    task.add_done_callback(_releases.discard)


async def _seed_local(plan: Plan) -> None:
    """Embedded mode: start counters this process has not seen yet from the ledger (once per period)."""
    missing = local_counters.unseeded([b.key for b in plan.budgets])
    if not missing:
        return
    from asgiref.sync import sync_to_async

    from governance.enforcement.reconcile import ledger_usage

    for budget in plan.budgets:
        if budget.key in missing:
            try:
                used = await sync_to_async(ledger_usage, thread_sensitive=True)(budget=budget)
            except DatabaseError:
                logger.warning("ledger unreadable: counter %s starts at 0 in this process", budget.key)
                used = 0
            local_counters.seed(budget.key, used=used, expire_at=budget.expire_at)


async def admission_admit(
    *,
    principal: KeyPrincipal,
    endpoint: str,
    model: str,
    max_tokens: int | None,
    shape: RequestShape,
    served_model: str | None = None,
    serve: Callable[[str], Awaitable[str | None]] | None = None,
    request_id: str | None = None,
    fit_min_output: int = 0,
) -> Admission:
    """Check every limit that applies to this call and reserve its worst-case cost.

    ``shape`` bounds what the request can be billed; ``served_model`` is the model the route sends
    ``model`` to (default: ``model``) and ``serve`` resolves the policy's downgrade target the same way.
    The worst case is priced at the served model. Raises ModelNotAllowed (403), ModelUnpriced (403,
    a served model without a price under a USD budget, unless the policy allows unpriced models),
    MaxTokensTooLarge (400), RateLimited (429, ``Retry-After`` and ``x-ratelimit-*``), BudgetExceeded
    (429 ``budget_exceeded``, ``x-tokenwise-budget-reset``), or EnforcementUnavailable (503) when the
    counters are unreachable and the policy fails closed. A rejection changes no counter. One Redis
    round trip (none without limits in embedded mode).
    """
    policy = await policy_for(team_id=principal.team_id, user_id=principal.user_id)
    if not policy.allows(model):
        allowed = ", ".join(policy.allowed_models or ()) or "none"
        raise ModelNotAllowed(
            f"The model '{model}' is not allowed by your team's policy. Allowed: {allowed}.", param="model"
        )
    actions: list[str] = []
    headers: dict[str, str] = {}
    send_max, asked = _completion_limit(
        policy, endpoint=endpoint, max_tokens=max_tokens, actions=actions, headers=headers
    )
    admission = Admission(model=model, max_tokens=send_max, store_text=policy.store_text)
    mode = _mode(policy, model)
    if not settings.REDIS_URL and not (_has_limits(policy.team) or _has_limits(policy.person)):
        admission.action, admission.headers = ",".join(actions), headers
        return admission
    now = clock.now()
    served = served_model or model
    strict = bool(policy.team.usd or policy.person.usd) and not policy.allow_unpriced_models
    quote = await price_quote(served)
    if quote is None and strict:
        raise _unpriced(model, served)
    worst = alt = _worst(shape, model=served, quote=quote, asked=asked)
    if mode == "downgrade":
        target = policy.downgrade_to or model
        served_alt = (await serve(target) if serve is not None else None) or target
        quote_alt = await price_quote(served_alt)
        if quote_alt is None and strict:
            mode = "block"  # never downgrade to a model whose cost the budget cannot count
        else:
            alt = _worst(shape, model=served_alt, quote=quote_alt, asked=asked)
    rates, budgets = _checks(
        policy,
        principal,
        now=now,
        tokens=max(worst.tokens, alt.tokens),
        cost=worst.cost_units,
        tokens_alt=alt.tokens,
        cost_alt=alt.cost_units,
    )
    plan = Plan(
        rid=request_id or uuid.uuid4().hex,
        team_id=principal.team_id,
        now=now,
        deadline=now + settings.TOKENWISE_RESERVATION_TTL_S,
        mode=mode,
        rates=rates,
        budgets=budgets,
    )
    fit = bool(fit_min_output) and mode == "block"
    if fit:  # a refusal may still fit: the "exceeded" alert waits for the final answer
        plan = dataclasses.replace(
            plan,
            budgets=[
                dataclasses.replace(budget, thresholds=tuple(t for t in budget.thresholds if t != 100))
                for budget in budgets
            ],
        )
    result, backend = await _run(plan)
    if fit and result.status == "budget":
        fitted = _fitted_output(shape, plan, result, model=served, quote=quote, asked=asked, minimum=fit_min_output)
        if fitted is not None:  # admit again with the output that fits (see the module docstring)
            worst = alt = _worst(shape, model=served, quote=quote, asked=fitted)
            rates, budgets = _checks(
                policy,
                principal,
                now=now,
                tokens=worst.tokens,
                cost=worst.cost_units,
                tokens_alt=worst.tokens,
                cost_alt=worst.cost_units,
            )
        # Again: with the fitted output, or as asked (refused again, now raising the alert it may owe).
        plan = Plan(
            rid=plan.rid, team_id=plan.team_id, now=now, deadline=plan.deadline, mode=mode, rates=rates, budgets=budgets
        )
        result, backend = await _run(plan)
        if result.status == "ok" and fitted is not None:
            admission.max_tokens = fitted
            actions.append("fit")
            headers["x-tokenwise-max-tokens-fitted"] = str(fitted)
    elif fit:
        plan = dataclasses.replace(plan, budgets=budgets)  # settled with every threshold
    if result.alert_level:
        over = budgets[result.over - 1]
        alert_crossings_queue(items=[(over, 100, result.budgets[result.over - 1][0], True)])
    if result.status == "budget":
        raise budget_exceeded_error(plan, result, principal=principal)
    if result.status == "rate":
        raise rate_limited_error(plan, result, principal=principal)
    headers.update(rate_headers(plan.rates, result.rates))
    if result.over:
        over = budgets[result.over - 1]
        warning = exceeded_warning(over, principal=principal)
        if mode == "downgrade":
            actions.append("downgrade")
            admission.model = policy.downgrade_to or model
            worst = alt
            headers["x-tokenwise-downgraded-from"] = model
            warning += f"; served {admission.model} instead of {model}"
        else:
            actions.append("warn")
        headers["x-tokenwise-warning"] = warning
    if plan.needs_settlement:
        admission.reservation = Reservation(plan=plan, backend=backend)
        if worst.send_max_tokens is not None and admission.max_tokens is None:
            admission.max_tokens = worst.send_max_tokens  # the reserved output holds only if sent
    admission.action, admission.headers = ",".join(actions), headers
    return admission


@dataclasses.dataclass(slots=True)
class Settlement:
    """One call's settlement, ready to go: alone (``run``), or as a command sent in the same round trip
    as the ledger publication (``command``, then ``reply`` with its answer)."""

    plan: Plan
    backend: Any
    now: float
    tokens: int
    cost_units: int

    @property
    def command(self) -> Command | None:
        """The Redis command that settles, when the reservation is in Redis; None otherwise."""
        if self.backend is not redis_counters:
            return None
        return redis_counters.settle_command(self.plan, now=self.now, tokens=self.tokens, cost_units=self.cost_units)

    async def run(self) -> None:
        crossings = await self.backend.settle(self.plan, now=self.now, tokens=self.tokens, cost_units=self.cost_units)
        _crossings_queue(crossings)

    async def run_again(self) -> None:
        """Send ``command`` once more, after its answer was lost (a timeout, a dropped connection): it
        may have run, so it settles only a reservation still held - never twice."""
        crossings = await redis_counters.settle(
            self.plan, now=self.now, tokens=self.tokens, cost_units=self.cost_units, only_if_live=True
        )
        _crossings_queue(crossings)

    async def reply(self, raw: Any) -> None:
        """Read the answer to ``command`` (a script missing from Redis's cache is run again, loaded)."""
        if isinstance(raw, redis.exceptions.NoScriptError):
            await self.run()
            return
        _crossings_queue(redis_counters.settle_reply(self.plan, raw))


def _crossings_queue(crossings: list) -> None:
    """Thresholds the settled usage crossed for the first time this period become alerts (queued)."""
    if crossings:
        alert_crossings_queue(items=[(c.budget, c.level, c.used, False) for c in crossings])


async def settlement_send(
    settlement: Settlement | None, *, request_id: str, also: tuple[Command, ...] = ()
) -> Awaitable[None]:
    """Send a settlement now without waiting for its answer; await the result to read it.

    Counters in Redis: the command goes out in one pipeline with ``also`` (commands whose answers do not
    matter), from a task started now - it writes before this process can read the caller's next call.
    This process's own counters: settled here. Never raises: a settlement that fails is logged, and the
    reconcile task repairs the counters from the ledger.
    """
    command = None if settlement is None else settlement.command
    if settlement is not None and command is None:
        await _settle_quietly(settlement.run(), request_id)
    commands = ((command,) if command is not None else ()) + also
    if not settings.REDIS_URL or not commands:
        return _settle_quietly(None, request_id)
    replies = asyncio.ensure_future(core.redis.pipeline(list(commands)))

    async def answer() -> None:
        try:
            raw = (await replies)[0]
            if isinstance(raw, BaseException) and not isinstance(raw, redis.exceptions.NoScriptError):
                if isinstance(raw, REDIS_ERRORS) or not isinstance(raw, redis.exceptions.ResponseError):
                    raise raw
                raise redis.exceptions.ConnectionError(str(raw))  # not served (LOADING, READONLY ...)
        except REDIS_ERRORS:
            if settlement is None or command is None:  # a command comes from a settlement
                return
            try:  # the answer is lost, not necessarily the settlement: send it again, safely
                await settlement.run_again()
            except REDIS_ERRORS:
                logger.warning("settlement of %s left to the reconcile task (Redis unreachable)", request_id)
            except Exception:
                logger.exception("settlement failed for %s", request_id)
            return
        except Exception:
            logger.exception("settlement failed for %s", request_id)
            return
        if settlement is not None and command is not None:
            await _settle_quietly(settlement.reply(raw), request_id)

    return answer()


async def _settle_quietly(step: Awaitable[None] | None, request_id: str) -> None:
    if step is None:
        return
    try:
        await step
    except Exception:  # settlement must never lose the event; the reconcile task repairs counters
        logger.exception("settlement failed for %s", request_id)


def admission_settlement(admission: Admission, *, total_tokens: int, cost_usd: Decimal | None) -> Settlement | None:
    """The settlement that replaces the reservation by the actual usage; None when there is nothing
    to settle. Once only: a second call returns None."""
    if admission.settled:
        return None
    admission.settled = True
    reservation = admission.reservation
    if reservation is None:
        return None
    cost_units = 0 if cost_usd is None else math.ceil(cost_usd * USD_UNITS)
    return Settlement(
        plan=reservation.plan,
        backend=reservation.backend,
        now=clock.now(),
        tokens=max(total_tokens, 0),
        cost_units=cost_units,
    )


async def admission_settle(admission: Admission, *, total_tokens: int, cost_usd: Decimal | None) -> None:
    """Replace the reservation by the actual usage. Idempotent: a second call does nothing.

    One Redis round trip (none when nothing was reserved). Thresholds the settled usage crosses for the
    first time this period are queued as alerts without waiting. Raises the counter store's errors
    (the caller logs them; the reconcile task repairs the counters from the ledger).
    """
    settlement = admission_settlement(admission, total_tokens=total_tokens, cost_usd=cost_usd)
    if settlement is not None:
        await settlement.run()


async def models_visible(*, principal: KeyPrincipal, models: list[str]) -> list[str]:
    """The subset of ``models`` the caller's policy allows."""
    policy = await policy_for(team_id=principal.team_id, user_id=principal.user_id)
    return [model for model in models if policy.allows(model)]
