"""The effective policy of one person in one team, and its hot-path cache.

Resolution (``policy_resolve``, a pure function): organisation default, then team, then person within
the team - per field, the most specific level that sets it (non-null) wins. Limits are counted at two
levels:

- **team limits** (token/USD budgets, requests and tokens per minute) come from the organisation
  default and the team's policy, and are a pool shared by everyone in the team: the organisation default
  is each team's pool unless the team sets its own;
- **personal limits** come from the person's own policy only, and are counted on that person's usage
  within the team - checked in addition to the team's.

Cache: an in-process dict (``TOKENWISE_POLICY_CACHE_TTL_S``), then Redis (a JSON entry tagged with the
team's policy version), then the database (one query) on a miss. A change (``policy_cache_invalidate``)
clears this process's dict and bumps the version of the team concerned in Redis (of every team for the
organisation's default); every admission script returns its team's current version, so other processes
drop their stale entries on their next call - no extra round trip. The version is per team so that it
lives in the team's Redis Cluster slot with the counters the script reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import logging
import time
import weakref
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from core.redis import REDIS_ERRORS, get_async_redis, get_sync_redis
from governance.policy_fields import LIMIT_FIELDS, RULE_FIELDS, TOKEN_FIELDS, USD_FIELDS
from governance.selectors.directory import team_ids_all
from governance.selectors.policies import policy_levels

logger = logging.getLogger(__name__)


def team_tag(team_id: int) -> str:
    """The Redis Cluster hash tag of a team's keys: its counters, reservations and policy cache."""
    return f"{{t{team_id}}}"


def policy_version_key(team_id: int) -> str:
    """The version of a team's policies (bumped by every policy change; admission reads it)."""
    return f"tw:{team_tag(team_id)}:policy:version"


def _entry_key(team_id: int, user_id: int) -> str:
    return f"tw:{team_tag(team_id)}:policy:{user_id}"


_ENTRY_TTL_S = 3600


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The limits counted at one level (a team's pool, or one person's usage within the team)."""

    tokens: tuple[tuple[str, int], ...] = ()  # (period kind, limit)
    usd: tuple[tuple[str, Decimal], ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    thresholds: tuple[int, ...] = ()  # alert percentages

    @property
    def has_budget(self) -> bool:
        return bool(self.tokens or self.usd)


@dataclasses.dataclass(frozen=True, slots=True)
class EffectivePolicy:
    team_id: int
    user_id: int
    allowed_models: tuple[str, ...] | None  # None: every model
    max_tokens: int | None
    max_tokens_action: str  # "cap" | "reject"
    on_exceed: str  # "block" | "warn" | "downgrade"
    downgrade_to: str | None
    store_text: bool
    team: Limits
    person: Limits
    allow_unpriced_models: bool = False  # under a USD budget, admit models without a price

    def allows(self, model: str) -> bool:
        """Whether ``model`` matches an allowed name or glob (case-sensitive, like model ids)."""
        if self.allowed_models is None:
            return True
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.allowed_models)


def _merge(levels: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, Any]:
    merged: dict[str, Any] = dict.fromkeys(fields)
    for level in levels:  # least specific first
        for field in fields:
            if level.get(field) is not None:
                merged[field] = level[field]
    return merged


def _limits(values: dict[str, Any], thresholds: Any) -> Limits:
    return Limits(
        tokens=tuple((kind, int(values[f])) for kind, f in TOKEN_FIELDS if values.get(f) is not None),
        usd=tuple((kind, Decimal(str(values[f]))) for kind, f in USD_FIELDS if values.get(f) is not None),
        rpm=values.get("requests_per_minute"),
        tpm=values.get("tokens_per_minute"),
        thresholds=tuple(sorted({int(t) for t in thresholds or ()})),
    )


def policy_resolve(
    *,
    team_id: int,
    user_id: int,
    org: dict[str, Any] | None,
    team: dict[str, Any] | None,
    person: dict[str, Any] | None,
) -> EffectivePolicy:
    """Merge the three levels' field values (dicts of Policy fields; None = no policy at that level)."""
    org, team, person = org or {}, team or {}, person or {}
    rules = _merge([org, team, person], RULE_FIELDS)
    team_rules = _merge([org, team], ("alert_thresholds",))
    models = rules["allowed_models"]
    return EffectivePolicy(
        team_id=team_id,
        user_id=user_id,
        allowed_models=None if models is None else tuple(str(m) for m in models),
        max_tokens=rules["max_tokens"],
        max_tokens_action=rules["max_tokens_action"] or "cap",
        on_exceed=rules["on_exceed"] or "block",
        downgrade_to=rules["downgrade_to"] or None,
        store_text=bool(rules["store_text"]),
        team=_limits(_merge([org, team], LIMIT_FIELDS), team_rules["alert_thresholds"]),
        person=_limits(_merge([person], LIMIT_FIELDS), rules["alert_thresholds"]),
        allow_unpriced_models=bool(rules["allow_unpriced_models"]),
    )


def policy_effective_load(*, team_id: int, user_id: int) -> EffectivePolicy:
    """The effective policy from the database (no cache)."""
    return policy_resolve(team_id=team_id, user_id=user_id, **policy_levels(team_id=team_id, user_id=user_id))


# --- JSON form (the Redis entry) --------------------------------------------------------------------


def _limits_json(limits: Limits) -> dict[str, Any]:
    return {
        "tokens": [list(x) for x in limits.tokens],
        "usd": [[k, str(v)] for k, v in limits.usd],
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "thresholds": list(limits.thresholds),
    }


def _limits_from(data: dict[str, Any]) -> Limits:
    return Limits(
        tokens=tuple((k, int(v)) for k, v in data["tokens"]),
        usd=tuple((k, Decimal(v)) for k, v in data["usd"]),
        rpm=data["rpm"],
        tpm=data["tpm"],
        thresholds=tuple(data["thresholds"]),
    )


def policy_to_json(policy: EffectivePolicy) -> str:
    data = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)}
    data["team"], data["person"] = _limits_json(policy.team), _limits_json(policy.person)
    return json.dumps(data)


def policy_from_json(raw: str | bytes) -> EffectivePolicy:
    data = json.loads(raw)
    data["team"], data["person"] = _limits_from(data["team"]), _limits_from(data["person"])
    if data["allowed_models"] is not None:
        data["allowed_models"] = tuple(data["allowed_models"])
    return EffectivePolicy(**data)


# --- Hot-path cache ------------------------------------------------------------------------------------

_local: dict[tuple[int, int], tuple[float, EffectivePolicy]] = {}
_known_versions: dict[int, int] = {}  # team id -> the policy version last seen


def policy_cache_clear() -> None:
    """Forget this process's cached policies."""
    _local.clear()
    _known_versions.clear()


def policy_cache_invalidate(team_id: int | None = None) -> None:
    """After a policy change commits: clear this process's cache and bump the shared version of the
    team concerned - of every team for the organisation's default (``team_id`` None).

    Other processes learn the new version from their next admission in that team and drop its entries.
    """
    _local.clear()
    client = get_sync_redis()
    if client is None:
        return
    if team_id is None:
        team_ids = team_ids_all()
    else:
        team_ids = [team_id]
    try:
        pipe = client.pipeline(transaction=False)
        for each in team_ids:
            pipe.incr(policy_version_key(each))
        pipe.execute()
    except REDIS_ERRORS:
        logger.warning("could not bump the policy version; other processes refresh within the TTL")


def policy_version_observe(team_id: int, version: int) -> None:
    """Called with the team's version an admission script read: a newer one drops the team's entries
    from the local cache."""
    known = _known_versions.get(team_id)
    if version != known:
        if known is not None:
            for key in [key for key in _local if key[0] == team_id]:
                del _local[key]
        _known_versions[team_id] = version


async def _shared_lookup(team_id: int, user_id: int) -> EffectivePolicy:
    client = get_async_redis()
    entry_key = _entry_key(team_id, user_id)
    version: int | None = None
    if client is not None:
        try:
            raw_version, raw = await client.mget(policy_version_key(team_id), entry_key)
            version = int(raw_version or 0)
            policy_version_observe(team_id, version)
            if raw is not None:
                entry = json.loads(raw)
                if entry["v"] == version:
                    return policy_from_json(entry["p"])
        except REDIS_ERRORS:
            client = None
    policy = await sync_to_async(policy_effective_load, thread_sensitive=True)(team_id=team_id, user_id=user_id)
    if client is not None:
        try:  # tagged with the version read *before* the load: a concurrent change makes it stale at once
            await client.set(entry_key, json.dumps({"v": version, "p": policy_to_json(policy)}), ex=_ENTRY_TTL_S)
        except REDIS_ERRORS:
            pass
    return policy


_load_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _cached(key: tuple[int, int]) -> EffectivePolicy | None:
    cached = _local.get(key)
    return cached[1] if cached is not None and cached[0] > time.monotonic() else None


async def policy_for(*, team_id: int, user_id: int) -> EffectivePolicy:
    """The effective policy of a person in a team. Steady state: one dict lookup, no I/O.

    A miss loads once per process however many calls wait for it (hundreds of calls arriving together
    must not open hundreds of database connections).
    """
    key = (team_id, user_id)
    policy = _cached(key)
    if policy is not None:
        return policy
    loop = asyncio.get_running_loop()
    lock = _load_locks.get(loop)
    if lock is None:
        lock = _load_locks[loop] = asyncio.Lock()
    async with lock:
        policy = _cached(key)
        if policy is None:
            policy = await _shared_lookup(team_id, user_id)
            if len(_local) > 100_000:
                _local.clear()
            _local[key] = (time.monotonic() + settings.TOKENWISE_POLICY_CACHE_TTL_S, policy)
    return policy
