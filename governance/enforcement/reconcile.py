"""Reconciliation: budget counters compared with the ledger, and repaired.

Counters drift from the ledger when a settlement fails (Redis unreachable at the end of a call), when a
process dies between settling and recording, when Redis loses data, or when a budget is added in the
middle of a period. ``counters_reconcile`` checks every budget of the current periods:

- ``u`` (settled usage) is set to the ledger's sum of the scope's events in the period - only for a
  counter that has been quiet for ``TOKENWISE_RECONCILE_QUIET_S`` (its last settlement's event has
  long been written by the ledger worker) and that is still exactly as read when the repair is applied
  (compare-and-set inside the script, so a settlement racing the repair is never lost). A busy counter
  is reported as deferred and repaired once quiet; a missing counter (Redis lost it) at once.
- ``r`` (held) is recomputed from the live reservations, after releasing expired ones.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum

from core import clock
from core.redis import get_sync_redis
from governance.enforcement.counters import (
    USD_UNITS,
    BudgetCheck,
    budget_key,
    deadlines_key,
    local_counters,
    lua_source,
    reservations_key,
)
from governance.enforcement.effective import Limits, policy_resolve
from governance.periods import periods_at
from governance.selectors.directory import team_ids_all
from governance.selectors.policies import policy_values_all


@dataclasses.dataclass(slots=True)
class ReconcileReport:
    checked: int = 0
    repaired: int = 0  # counters whose settled usage was set to the ledger's figure
    deferred: int = 0  # drifting counters left alone because they are busy
    held_repaired: int = 0  # counters whose held amount did not match the live reservations
    repairs: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)  # (key, before, after)

    def as_dict(self) -> dict[str, int]:
        return {
            "checked": self.checked,
            "repaired": self.repaired,
            "deferred": self.deferred,
            "held_repaired": self.held_repaired,
        }


def _aware(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def ledger_usage(*, budget: BudgetCheck) -> int:
    """What the ledger recorded for a budget's scope and period: tokens, or 1e-8 USD units."""
    from usage.selectors import usage_events_all

    events = usage_events_all().filter(
        team_id=budget.team_id,
        created_at__gte=_aware(budget.period.starts_at),
        created_at__lt=_aware(budget.period.ends_at),
    )
    if budget.user_id is not None:
        events = events.filter(user_id=budget.user_id)
    if budget.unit == "usd":
        total = events.aggregate(v=Sum("cost_usd"))["v"] or Decimal(0)
        return int(total * USD_UNITS)
    return int(events.aggregate(v=Sum("total_tokens"))["v"] or 0)


def _budgets_of(limits: Limits, *, team_id: int, user_id: int | None, scope: str, now: float) -> list[BudgetCheck]:
    periods = {p.kind: p for p in periods_at(now)}
    found = []
    for unit, noun, items in (("tok", "tokens", limits.tokens), ("usd", "usd", limits.usd)):
        for kind, limit in items:
            period = periods[kind]
            found.append(
                BudgetCheck(
                    key=budget_key(team_id=team_id, user_id=user_id, unit=unit, period=period),
                    unit=noun,
                    limit=int(limit * USD_UNITS) if noun == "usd" else int(limit),
                    amount=0,
                    amount_if_downgraded=0,
                    thresholds=limits.thresholds,
                    scope=scope,
                    team_id=team_id,
                    user_id=user_id,
                    period=period,
                )
            )
    return found


def budgets_current(*, now: float) -> list[BudgetCheck]:
    """Every budget counter of the current day/week/month that some policy defines."""
    rows = policy_values_all()
    org = next((r for r in rows if r["scope"] == "org"), None)
    teams = {r["team_id"]: r for r in rows if r["scope"] == "team"}
    budgets: list[BudgetCheck] = []
    for team_id in team_ids_all():
        policy = policy_resolve(team_id=team_id, user_id=0, org=org, team=teams.get(team_id), person=None)
        budgets += _budgets_of(policy.team, team_id=team_id, user_id=None, scope="team", now=now)
    for row in rows:
        if row["scope"] == "user":
            policy = policy_resolve(
                team_id=row["team_id"], user_id=row["user_id"], org=org, team=teams.get(row["team_id"]), person=row
            )
            budgets += _budgets_of(policy.person, team_id=row["team_id"], user_id=row["user_id"], scope="user", now=now)
    return budgets


def _reconcile_redis(budgets: list[BudgetCheck], *, now: float, quiet_s: float, report: ReconcileReport) -> None:
    client = get_sync_redis()
    assert client is not None  # called only when REDIS_URL is set
    pipe = client.pipeline(transaction=False)
    for budget in budgets:
        pipe.hmget(budget.key, "u", "t")
    seen = pipe.execute()
    counters: list[list[Any]] = []  # per budget: key, used, settled at, target, expiry
    for budget, (used, settled_at) in zip(budgets, seen, strict=False):
        used_seen = -1 if used is None else int(used)
        t_seen = "" if settled_at is None else settled_at.decode()
        target = -1
        if t_seen and now - float(t_seen) < quiet_s:
            target = -2  # busy: decide below whether it drifts at all
        ledger = ledger_usage(budget=budget)
        if ledger != max(used_seen, 0):
            if target == -2:
                report.deferred += 1
            else:
                target = ledger
                report.repairs.append((budget.key, max(used_seen, 0), ledger))
        counters.append([budget.key, used_seen, t_seen, max(target, -1), budget.expire_at])
    if not counters:
        return
    script = client.register_script(lua_source("reconcile"))
    by_team: dict[int, list[int]] = {}  # one script per team: its keys share the team's hash slot
    for index, budget in enumerate(budgets):
        by_team.setdefault(budget.team_id, []).append(index)
    results: list = [[0, 0]] * len(counters)
    for team_id, indexes in by_team.items():
        team_counters = [counters[index] for index in indexes]
        raw = script(
            keys=[reservations_key(team_id), deadlines_key(team_id), *(c[0] for c in team_counters)],
            args=[json.dumps({"now": now, "counters": team_counters})],
        )
        replies = json.loads(raw)
        for index, reply in zip(indexes, replies if isinstance(replies, list) else [], strict=False):
            results[index] = reply
    applied = {c[0] for c, (fixed_u, _) in zip(counters, results, strict=False) if fixed_u}
    report.repairs = [r for r in report.repairs if r[0] in applied]
    report.repaired = len(report.repairs)
    report.held_repaired = sum(fixed_r for _, fixed_r in results)


def _reconcile_local(budgets: list[BudgetCheck], *, now: float, quiet_s: float, report: ReconcileReport) -> None:
    counters = local_counters
    with counters.lock:
        counters._release_expired(now)
        seen = {b.key: dict(counters.budgets[b.key]) for b in budgets if b.key in counters.budgets}
    for budget in budgets:
        state = seen.get(budget.key)
        if state is None:
            continue  # not used by this process yet: it is seeded from the ledger at first use
        ledger = ledger_usage(budget=budget)
        if ledger == state["u"]:
            continue
        if state["t"] and now - state["t"] < quiet_s:
            report.deferred += 1
            continue
        with counters.lock:
            current = counters.budgets.get(budget.key)
            if current is not None and current["u"] == state["u"] and current["t"] == state["t"]:
                current["u"] = ledger
                report.repairs.append((budget.key, int(state["u"]), ledger))
    with counters.lock:
        held: dict[str, int] = {}
        for items in counters.reservations.values():
            for key, amount in items:
                held[key] = held.get(key, 0) + amount
        for budget in budgets:
            current = counters.budgets.get(budget.key)
            if current is not None and current["r"] != held.get(budget.key, 0):
                current["r"] = held.get(budget.key, 0)
                report.held_repaired += 1
    report.repaired = len(report.repairs)


def counters_reconcile(*, now: float | None = None, quiet_s: float | None = None) -> ReconcileReport:
    """Compare every current budget counter with the ledger and repair the drift (see module doc).

    Safe to run at any time and on several workers: every repair is a compare-and-set. In embedded mode
    it reconciles this process's counters (the server's own, when run as a task there).
    """
    now = clock.now() if now is None else now
    quiet_s = settings.TOKENWISE_RECONCILE_QUIET_S if quiet_s is None else quiet_s
    budgets = budgets_current(now=now)
    report = ReconcileReport(checked=len(budgets))
    if settings.REDIS_URL:
        _reconcile_redis(budgets, now=now, quiet_s=quiet_s, report=report)
    else:
        _reconcile_local(budgets, now=now, quiet_s=quiet_s, report=report)
    return report
