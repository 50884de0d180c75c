"""Synthetic usage: the pieces every generator of made-up calls shares.

``seed_demo`` (the demo organisation's history), the simulated organisation (``devtools.simulation``,
which measures the detectors) and the benchmark's reports data set (``bench.harness.generate``) all draw
their calls from here: the model catalogue with list prices and weighted model mixes (``Mix``), the
token and time-of-day distributions, stand-in prompt and answer text, and one call (``Call``) turned into
an ``import_usage`` record (``import_record``) or a ledger event (``event_data``). Each generator keeps
its own shape - who calls, how often, which mix - and its own seeded ``random.Random``: the helpers take
the generator or one uniform draw, so a generator's output for a seed does not depend on the others.

Text: the import path turns ``prompt`` / ``output`` text into a SHA-256 hash and a word-bigram SimHash and
drops the text, so what matters is which texts are *the same*: two independently generated texts share
almost no word bigrams (a few hundred words, 8+ words each) and land about 32 bits apart, the way real
unrelated prompts do. Texts are short (tens of words) whatever the token counts say: the fingerprints
only need the words, and short texts keep the import fast. Nothing here touches the database;
``event_data`` imports the ledger's types when called.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# --- Models ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Model:
    """A model the generators call, with the list prices the benchmark's data set bills at."""

    name: str
    served: str  # the dated name a provider answers with
    provider: str
    usd_per_m_input: float
    usd_per_m_output: float

    @property
    def embedding(self) -> bool:
        return self.name.startswith("text-embedding")

    def list_cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.usd_per_m_input + completion_tokens * self.usd_per_m_output) / 1e6


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai", 0.15, 0.60),
        Model("gpt-4o", "gpt-4o-2024-08-06", "openai", 2.50, 10.00),
        Model("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "openai", 0.40, 1.60),
        Model("gpt-4.1", "gpt-4.1-2025-04-14", "openai", 2.00, 8.00),
        Model("o4-mini", "o4-mini-2025-04-16", "openai", 1.10, 4.40),
        Model("text-embedding-3-small", "text-embedding-3-small", "openai", 0.02, 0.0),
    )
}


class Mix:
    """A weighted choice of models (or any names): ``pick(u)`` for one uniform draw ``u`` in [0, 1).

    ``Mix(pairs).pick(rng.random())`` picks exactly what ``rng.choices(names, weights)[0]`` does.
    """

    __slots__ = ("_cumulative", "_last", "_total", "names")

    def __init__(self, weighted: Iterable[tuple[str, float]]) -> None:
        self.names: tuple[str, ...] = ()
        cumulative: list[float] = []
        total = 0.0
        for name, weight in weighted:
            self.names += (name,)
            total += weight
            cumulative.append(total)
        self._cumulative, self._total, self._last = cumulative, total, len(cumulative) - 1

    def pick(self, u: float) -> str:
        return self.names[bisect.bisect(self._cumulative, u * self._total, 0, self._last)]


@functools.lru_cache(maxsize=64)
def mix_of(weighted: tuple[tuple[str, float], ...]) -> Mix:
    """The ``Mix`` of a tuple of (name, weight) pairs, built once."""
    return Mix(weighted)


# --- Distributions --------------------------------------------------------------------------------------


def lognormal_int(rng: random.Random, median: float, sigma: float, low: int, high: int) -> int:
    """A log-normal draw around ``median`` (token counts), truncated to an int in ``low``..``high``."""
    return min(max(int(rng.lognormvariate(math.log(median), sigma)), low), high)


def poisson(rng: random.Random, mean: float) -> int:
    """How many events happen at rate ``mean`` (outcomes on a day)."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def office_second(rand: Callable[[], float], *, weekend: bool, share: float = 0.9) -> float:
    """A second of the day (UTC): ``share`` of working-day calls in office hours (08:00-19:00), the rest
    - and every weekend call - around the clock."""
    return (8 * 3600 + rand() * 11 * 3600) if (rand() < share and not weekend) else rand() * 86400


# --- Text -----------------------------------------------------------------------------------------------

WORDS = """
account action adapter agent alert analysis api app approach argument array audit backlog balance batch
benchmark billing branch budget buffer bug build cache call campaign case change channel chart check
churn class cleanup client cluster code column comment commit config connection constraint contract
cost coverage customer dashboard data database deadline debug decision default deploy design detail
diff document domain draft email endpoint error estimate event example export feature feedback field
file filter fix flag flow forecast form format function gateway graph handler header help helper hook
idea image import incident index input insight install integration interface invoice issue job key label
latency layer lead limit list load log logic loop map market meeting memo merge message method metric
migration mock model module monitor note number object offer onboarding option order outline output
owner package page parser partner patch payload payment performance permission pipeline plan policy
pool post price process product profile project prompt proposal query queue quota range rate reason
record refactor region release report request research response result retry review risk roadmap
role rollout route rule sales schema scope script search section segment server service session setting
signal slide snippet source spec sprint stack state status step storage story strategy stream style
summary supplier support survey table target task team template test theme thread ticket timeline token
tool topic trace tracker training trend type update upgrade usage user value vendor version view
warning webhook widget window workflow
""".split()

_VERBS = """
add analyse check clarify compare convert debug describe draft explain extract find fix format improve
list map outline plan polish refactor rename review rewrite sketch split suggest summarise test translate
trim update validate
""".split()


def words(rng: random.Random, count: int) -> str:
    """``count`` words picked at random from a few hundred (unrelated texts share almost no bigrams)."""
    return " ".join(rng.choices(WORDS, k=count))


def prompt_text(rng: random.Random, *, low: int = 8, high: int = 18) -> str:
    """A fresh prompt: an instruction verb and ``low``..``high`` words of context."""
    return f"{rng.choice(_VERBS)} the {words(rng, rng.randint(low, high))}"


def answer_text(rng: random.Random, *, low: int = 10, high: int = 24) -> str:
    """A fresh answer of ``low``..``high`` words."""
    return words(rng, rng.randint(low, high))


def retyped(rng: random.Random, text: str) -> str:
    """The same text sent again with different case and spacing (same normalised text, same hash)."""
    styles = (str.upper, str.lower, str.capitalize, lambda t: "  " + t.replace(" ", "  ") + "\n")
    return rng.choice(styles)(text)


# --- Calls ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Call:
    """One synthetic call: what a generator decides, before it becomes a record or an event."""

    at: datetime
    model: str
    endpoint: str
    prompt: str
    output: str
    prompt_tokens: int
    completion_tokens: int
    max_tokens: int | None
    stream: bool
    client_disconnected: bool = False
    status: int = 200
    error_code: str = ""
    request_id: str = ""


def import_record(call: Call, *, user: str, team: str) -> dict[str, Any]:
    """A call as an ``import_usage`` record, its text in ``prompt`` / ``output`` (fingerprinted, dropped)."""
    record: dict[str, Any] = {
        "request_id": call.request_id,
        "created_at": call.at.isoformat(),
        "user": user,
        "team": team,
        "endpoint": call.endpoint,
        "model": call.model,
        "status": call.status,
        "stream": call.stream,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "total_tokens": call.prompt_tokens + call.completion_tokens,
        "max_tokens": call.max_tokens,
        "client_disconnected": call.client_disconnected,
        "latency_ms": 0 if call.status >= 400 else 250 + call.completion_tokens * 12,
        "prompt": [{"role": "user", "content": call.prompt}]
        if call.endpoint.endswith("chat/completions")
        else call.prompt,
    }
    if call.error_code:
        record["error_code"] = call.error_code
    if call.output:
        record["output"] = call.output
    return record


def event_data(
    call: Call,
    *,
    user_id: int,
    team_id: int,
    key_id: int | None,
    provider: str,
    prices: Any,
    latency_ms: int,
    purpose: str = "",
) -> Any:
    """A call as the ledger's ``UsageEventData``, priced with ``prices`` (``price_table_load()``) and
    fingerprinted from its text, for writing with ``usage_events_ingest``."""
    from governance.services.pricing import cost_usd
    from usage.fingerprints import prompt_hash, simhash64
    from usage.ledger.event_record import UsageEventData

    quote = prices.quote(call.model, at=call.at)
    cost = (
        cost_usd(quote, prompt_tokens=call.prompt_tokens, cached_tokens=0, completion_tokens=call.completion_tokens)
        if quote
        else None
    )
    return UsageEventData(
        request_id=call.request_id,
        created_at=call.at,
        endpoint=call.endpoint,
        key_id=key_id,
        user_id=user_id,
        team_id=team_id,
        model_requested=call.model,
        model_served=call.model,
        provider=provider,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        total_tokens=call.prompt_tokens + call.completion_tokens,
        cost_usd=None if cost is None else str(cost),
        price_id=quote.id if quote else None,
        latency_ms=latency_ms,
        max_tokens=call.max_tokens,
        purpose=purpose,
        prompt_hash=prompt_hash(call.prompt),
        prompt_simhash=simhash64(call.prompt),
        output_simhash=simhash64(call.output),
    )
