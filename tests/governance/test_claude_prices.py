"""Claude prices: the migration's frozen rows equal the defaults; each token class at its own rate."""

import importlib
from decimal import Decimal

from governance.services.pricing import DEFAULT_CLAUDE_PRICES, DEFAULTS_VALID_FROM, PriceQuote, PriceTable, cost_usd


def test_migration_prices_equal_the_defaults():
    migration = importlib.import_module("governance.migrations.0010_cache_write_anthropic")
    assert migration.PRICES == DEFAULT_CLAUDE_PRICES
    assert ("claude-sonnet-4-5", "3.00", "0.30", "3.75", "15.00") in DEFAULT_CLAUDE_PRICES


def _sonnet() -> PriceQuote:
    return PriceQuote(
        id=1,
        model="claude-sonnet-4-5",
        input_per_mtok=Decimal("3"),
        cached_input_per_mtok=Decimal("0.30"),
        output_per_mtok=Decimal("15"),
        valid_from=DEFAULTS_VALID_FROM,
        cache_write_per_mtok=Decimal("3.75"),
    )


def test_each_token_class_is_charged_at_its_own_rate():
    # 1M prompt tokens: 200k uncached, 300k cache writes, 500k cache reads; 100k output.
    cost = cost_usd(
        _sonnet(), prompt_tokens=1_000_000, cached_tokens=500_000, cache_write_tokens=300_000, completion_tokens=100_000
    )
    assert cost == Decimal("0.6") + Decimal("1.125") + Decimal("0.15") + Decimal("1.5")


def test_a_price_without_a_cache_write_rate_charges_writes_as_input():
    quote = PriceQuote(
        id=2,
        model="x",
        input_per_mtok=Decimal("2"),
        cached_input_per_mtok=None,
        output_per_mtok=Decimal("0"),
        valid_from=DEFAULTS_VALID_FROM,
    )
    assert cost_usd(
        quote, prompt_tokens=1_000_000, cached_tokens=0, cache_write_tokens=1_000_000, completion_tokens=0
    ) == Decimal("2")


def test_dated_claude_ids_are_priced_as_their_model():
    table = PriceTable(versions={"claude-sonnet-4-5": (_sonnet(),)})
    assert table.quote("claude-sonnet-4-5-20250929", at=DEFAULTS_VALID_FROM).id == 1
    assert table.quote("claude-sonnet-4-5-extra", at=DEFAULTS_VALID_FROM) is None
