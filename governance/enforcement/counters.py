"""Counters that admission checks and reserves: Redis (one Lua script per step) or in-process.

Both backends run the same algorithm (``lua/admit.lua`` and ``lua/settle.lua`` are the reference; the
in-process ``LocalCounters`` mirrors them line by line under a lock) and are tested with the same tests:

- a **budget counter** per (team, or person within a team) x (tokens, USD) x period holds ``u`` (settled
  actual usage), ``r`` (held by live reservations), ``t`` (last settlement) and ``a`` (highest alert
  level raised this period). A call is admitted when ``u + r + worst case <= limit``; settlement moves
  its reservation to ``u`` with the actual amount. USD is counted in integer units of 1e-8 USD (the
  ledger's precision).
- a **rate bucket** per (team, or person) x (requests, tokens) per minute is a token bucket of capacity
  ``limit`` refilling ``limit/60`` per second.
- a **reservation** (request id -> the counters it holds and how much) carries a deadline; whichever
  admission runs after the deadline releases it, so a process that died mid-call leaks nothing.

Keys carry their team's hash tag (``{t<team id>}``): every key one call's admission and settlement touch -
the team's pool, the person's limits within that team, the team's reservations and policy version - is
in one Redis Cluster slot, and teams spread over the cluster (docs/scaling.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import threading
from pathlib import Path
from typing import Any

import redis

import core.redis
from governance.enforcement.effective import policy_version_key, team_tag
from governance.periods import Period

Command = tuple[Any, ...]
USD_UNITS = 10**8  # counter units per USD
KEY_GRACE_S = 3 * 86400  # counters outlive their period by this much (reconcile, reports of "last period")
_LUA = Path(__file__).with_name("lua")


def reservations_key(team_id: int) -> str:
    """The team's live reservations (hash: request id -> the counters held and how much)."""
    return f"tw:{team_tag(team_id)}:resv"


def deadlines_key(team_id: int) -> str:
    """The deadlines of the team's live reservations (sorted set)."""
    return f"tw:{team_tag(team_id)}:resv:deadlines"


def scope_id(*, team_id: int, user_id: int | None) -> str:
    return f"t{team_id}" if user_id is None else f"u{team_id}.{user_id}"


def budget_key(*, team_id: int, user_id: int | None, unit: str, period: Period) -> str:
    """The counter of one budget: ``unit`` is "tok" or "usd"; ``user_id`` None for the team's pool."""
    return f"tw:{team_tag(team_id)}:b:{scope_id(team_id=team_id, user_id=user_id)}:{unit}:{period.id}"


def rate_key(*, team_id: int, user_id: int | None, kind: str) -> str:
    """The bucket of one rate limit: ``kind`` is "rpm" or "tpm"."""
    return f"tw:{team_tag(team_id)}:r:{scope_id(team_id=team_id, user_id=user_id)}:{kind}"


@dataclasses.dataclass(slots=True)
class RateCheck:
    key: str
    kind: str  # "requests" | "tokens"
    limit: int  # per minute
    amount: int  # 1 request, or the call's worst-case tokens
    scope: str  # "team" | "user"


@dataclasses.dataclass(slots=True)
class BudgetCheck:
    key: str
    unit: str  # "tokens" | "usd"
    limit: int  # tokens, or 1e-8 USD units
    amount: int  # the call's worst case
    amount_if_downgraded: int
    thresholds: tuple[int, ...]
    scope: str  # "team" | "user"
    team_id: int
    user_id: int | None
    period: Period

    @property
    def expire_at(self) -> int:
        return int(self.period.ends_at) + KEY_GRACE_S


@dataclasses.dataclass(slots=True)
class Plan:
    """Everything one admission checks; kept on the Admission to settle it."""

    rid: str
    team_id: int  # every key below is in this team's hash slot
    now: float
    deadline: float
    mode: str  # "block" | "warn" | "downgrade"
    rates: list[RateCheck]
    budgets: list[BudgetCheck]

    @property
    def needs_settlement(self) -> bool:
        return bool(self.budgets) or any(rate.kind == "tokens" for rate in self.rates)


@dataclasses.dataclass(slots=True)
class AdmitResult:
    status: str  # "ok" | "rate" | "budget"
    version: int | None
    over: int  # 1-based index of the first budget the call does not fit, 0 if none
    rate_index: int  # 1-based index of the binding rate limit, 0 if none
    retry_after_s: float
    rates: list[tuple[float, float]]  # per rate: (level after the call, seconds until full)
    budgets: list[tuple[int, int]]  # per budget, before this call: (used, held)
    alert_level: int  # 100 when this call raised the "exceeded" alert of budget ``over``


@dataclasses.dataclass(frozen=True, slots=True)
class Crossing:
    budget: BudgetCheck
    level: int  # alert threshold reached, percent
    used: int  # settled usage after the call


def _admit_keys_args(plan: Plan) -> tuple[list[str], list[Any]]:
    """``lua/admit.lua``'s keys and arguments, flat (rates then budgets, in the same order in both)."""
    keys = [
        policy_version_key(plan.team_id),
        reservations_key(plan.team_id),
        deadlines_key(plan.team_id),
        *(r.key for r in plan.rates),
        *(b.key for b in plan.budgets),
    ]
    args: list[Any] = [plan.now, plan.rid, plan.deadline, plan.mode, len(plan.rates)]
    for rate in plan.rates:
        args += (rate.limit, rate.amount)
    for budget in plan.budgets:
        args += (
            budget.limit,
            budget.amount,
            budget.amount_if_downgraded,
            int(100 in budget.thresholds),
            budget.expire_at,
        )
    return keys, args


def _settle_keys_args(
    plan: Plan, *, now: float, tokens: int, cost_units: int, only_if_live: bool = False
) -> tuple[list[str], list[Any]]:
    """``lua/settle.lua``'s keys and arguments, flat."""
    tpm = [rate for rate in plan.rates if rate.kind == "tokens"]
    keys = [
        reservations_key(plan.team_id),
        deadlines_key(plan.team_id),
        *(b.key for b in plan.budgets),
        *(r.key for r in tpm),
    ]
    args: list[Any] = [now, plan.rid, tokens, cost_units, int(only_if_live), len(plan.budgets)]
    for budget in plan.budgets:
        args += (int(budget.unit == "usd"), budget.limit, budget.expire_at, len(budget.thresholds), *budget.thresholds)
    args += (rate.amount for rate in tpm)
    return keys, args


def _admit_result(raw: list, plan: Plan) -> AdmitResult:
    """``lua/admit.lua``'s flat reply: status, version, over, binding rate, its wait, alert level, then
    (level, seconds to full) per rate unless refused for a budget, then (used, held) per budget."""
    status = raw[0].decode()  # the client answers bytes
    at = 6 if status == "budget" else 6 + 2 * len(plan.rates)
    return AdmitResult(
        status=status,
        version=raw[1],
        over=raw[2],
        rate_index=raw[3],
        retry_after_s=float(raw[4]),
        rates=[(float(raw[i]), float(raw[i + 1])) for i in range(6, at, 2)],
        budgets=[(raw[i], raw[i + 1]) for i in range(at, len(raw), 2)],
        alert_level=raw[5],
    )


def lua_source(name: str) -> str:
    """The text of ``lua/<name>.lua``."""
    return (_LUA / f"{name}.lua").read_text()


class RedisCounters:
    """The shared counters: one script call (EVALSHA) to admit, one to settle.

    Settlement can also travel in one pipeline with other commands (``settle_command`` builds it and
    ``settle_reply`` reads its answer). A script missing from Redis's cache (a restarted server, a
    promoted replica) is sent again in full.
    """

    def __init__(self) -> None:
        self._sources = {name: lua_source(name) for name in ("admit", "settle")}
        self._shas = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in self._sources.items()}

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await core.redis.execute("EVALSHA", self._shas[name], len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return await core.redis.execute("EVAL", self._sources[name], len(keys), *keys, *args)

    async def admit(self, plan: Plan) -> AdmitResult:
        return _admit_result(await self._run("admit", *_admit_keys_args(plan)), plan)

    def settle_command(self, plan: Plan, *, now: float, tokens: int, cost_units: int) -> Command:
        """The settlement as one command (EVALSHA), to send with others; see ``settle_reply``."""
        keys, args = _settle_keys_args(plan, now=now, tokens=tokens, cost_units=cost_units)
        return ("EVALSHA", self._shas["settle"], len(keys), *keys, *args)

    def settle_reply(self, plan: Plan, raw: Any) -> list[Crossing]:
        """The thresholds a settlement crossed, from its script's flat reply (raises an error reply)."""
        if isinstance(raw, Exception):
            raise raw
        return [
            Crossing(budget=plan.budgets[raw[i] - 1], level=raw[i + 1], used=raw[i + 2]) for i in range(0, len(raw), 3)
        ]

    async def settle(
        self, plan: Plan, *, now: float, tokens: int, cost_units: int, only_if_live: bool = False
    ) -> list[Crossing]:
        """Settle ``plan``; with ``only_if_live``, only if its reservation is still held (a settlement
        sent again after the first one's answer was lost: that one may have run)."""
        keys, args = _settle_keys_args(plan, now=now, tokens=tokens, cost_units=cost_units, only_if_live=only_if_live)
        return self.settle_reply(plan, await self._run("settle", keys, args))


class LocalCounters:
    """The same counters in this process (embedded mode, no Redis), guarded by one lock.

    Counters are seeded from the ledger the first time this process uses them (``seed``), so a restart
    does not forget what was already spent this period.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.budgets: dict[str, dict[str, float]] = {}  # key -> {u, r, t, a, x (expire_at)}
        self.buckets: dict[str, list[float]] = {}  # key -> [level, time]
        self.reservations: dict[str, list[tuple[str, int]]] = {}
        self.deadlines: list[tuple[float, str]] = []  # heap

    def unseeded(self, keys: list[str]) -> list[str]:
        with self.lock:
            return [key for key in keys if key not in self.budgets]

    def seed(self, key: str, *, used: int, expire_at: int) -> None:
        """Start a counter at ``used`` unless another call created it meanwhile."""
        with self.lock:
            self.budgets.setdefault(key, {"u": used, "r": 0, "t": 0.0, "a": 0, "x": expire_at})

    def _counter(self, key: str, expire_at: int) -> dict[str, float]:
        counter = self.budgets.setdefault(key, {"u": 0, "r": 0, "t": 0.0, "a": 0, "x": expire_at})
        counter["x"] = expire_at
        return counter

    def _release_expired(self, now: float) -> None:
        while self.deadlines and self.deadlines[0][0] <= now:
            _, rid = heapq.heappop(self.deadlines)
            for key, amount in self.reservations.pop(rid, ()):
                if key in self.budgets:
                    self.budgets[key]["r"] -= amount
        for key in [k for k, c in self.budgets.items() if c["x"] < now]:
            del self.budgets[key]

    async def admit(self, plan: Plan) -> AdmitResult:
        with self.lock:
            return self._admit(plan)

    def _admit(self, plan: Plan) -> AdmitResult:  # mirrors lua/admit.lua
        now = plan.now
        self._release_expired(now)
        levels: list[float] = []
        rate_index, retry = 0, 0.0
        for i, rate in enumerate(plan.rates, 1):
            per_s = rate.limit / 60
            state = self.buckets.get(rate.key)
            level = rate.limit if state is None else min(rate.limit, state[0] + max(0.0, now - state[1]) * per_s)
            levels.append(level)
            need = min(rate.amount, rate.limit)
            if level < need and (need - level) / per_s > retry:
                rate_index, retry = i, (need - level) / per_s
        used_held: list[tuple[int, int]] = []
        over = 0
        for i, budget in enumerate(plan.budgets, 1):
            counter = self.budgets.get(budget.key, {"u": 0, "r": 0})
            used, held = int(counter["u"]), int(counter["r"])
            used_held.append((used, held))
            if over == 0 and used + held + budget.amount > budget.limit:
                over = i
        result = AdmitResult(
            status="ok",
            version=None,
            over=over,
            rate_index=rate_index,
            retry_after_s=retry,
            rates=[],
            budgets=used_held,
            alert_level=0,
        )
        if over and (plan.mode != "block" or 100 in plan.budgets[over - 1].thresholds):
            budget = plan.budgets[over - 1]
            counter = self._counter(budget.key, budget.expire_at)
            if counter["a"] < 100:
                counter["a"] = 100
                result.alert_level = 100
        if over and plan.mode == "block":
            result.status = "budget"
            return result
        if rate_index:
            result.status = "rate"
            result.rates = [(lv, (r.limit - lv) / (r.limit / 60)) for lv, r in zip(levels, plan.rates, strict=False)]
            return result
        for level, rate in zip(levels, plan.rates, strict=False):
            level -= rate.amount
            self.buckets[rate.key] = [level, now]
            result.rates.append((level, (rate.limit - level) / (rate.limit / 60)))
        downgraded = bool(over) and plan.mode == "downgrade"
        items = []
        for budget in plan.budgets:
            amount = budget.amount_if_downgraded if downgraded else budget.amount
            self._counter(budget.key, budget.expire_at)["r"] += amount
            items.append((budget.key, amount))
        if items or plan.rates:
            self.reservations[plan.rid] = items
            heapq.heappush(self.deadlines, (plan.deadline, plan.rid))
        return result

    async def settle(self, plan: Plan, *, now: float, tokens: int, cost_units: int) -> list[Crossing]:
        with self.lock:  # mirrors lua/settle.lua
            record = self.reservations.pop(plan.rid, None)  # its heap entry is skipped later
            live = record is not None
            held = dict(record or ())
            crossings = []
            for budget in plan.budgets:
                actual = cost_units if budget.unit == "usd" else tokens
                counter = self._counter(budget.key, budget.expire_at)
                if budget.key in held:
                    counter["r"] -= held[budget.key]
                counter["u"] += actual
                counter["t"] = now
                level = max((t for t in budget.thresholds if counter["u"] * 100 >= t * budget.limit), default=0)
                if level > counter["a"]:
                    counter["a"] = level
                    crossings.append(Crossing(budget=budget, level=level, used=int(counter["u"])))
            if live:
                for rate in plan.rates:
                    if rate.kind == "tokens" and rate.key in self.buckets:
                        self.buckets[rate.key][0] += rate.amount - tokens
            return crossings

    def reset(self) -> None:
        with self.lock:
            self.budgets.clear()
            self.buckets.clear()
            self.reservations.clear()
            self.deadlines.clear()


local_counters = LocalCounters()
redis_counters = RedisCounters()
