from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.db import IntegrityError
from django.utils import timezone as dj_timezone

from governance.models import AuditLogEntry, Price
from governance.selectors.pricing import ModelToPrice, models_to_price
from governance.services import pricing
from governance.services.pricing import DEFAULT_PRICES, PriceQuote, cost_usd, price_quote, price_set
from usage.models import UsageEvent

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_price_snapshot():
    """The snapshot is per process and tests roll the table back: start and end without one."""
    pricing.price_snapshot_invalidate()
    yield
    pricing.price_snapshot_invalidate()


def quote(model: str) -> PriceQuote | None:
    return async_to_sync(price_quote)(model)


def rates(found: PriceQuote | None):
    return (
        None
        if found is None
        else (found.model, found.input_per_mtok, found.cached_input_per_mtok, found.output_per_mtok)
    )


def test_a_fresh_install_prices_the_common_models(db):
    expected = [
        (model, Decimal(input_rate), None if cached is None else Decimal(cached), Decimal(output))
        for model, input_rate, cached, output in DEFAULT_PRICES
    ]

    quoted = [rates(quote(model)) for model, *_ in DEFAULT_PRICES]

    assert quoted == expected
    assert {
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o3",
        "o3-mini",
        "o4-mini",
        "gpt-3.5-turbo-instruct",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
    } <= {row[0] for row in DEFAULT_PRICES}
    assert set(Price.objects.values_list("valid_from", flat=True)) == {datetime(2024, 1, 1, tzinfo=UTC)}


def test_prices_dated_snapshots_as_their_longest_priced_name(db):
    assert rates(quote("gpt-4o-2024-08-06")) == ("gpt-4o", Decimal("2.5"), Decimal("1.25"), Decimal("10"))
    assert quote("gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"
    assert quote("gpt-3.5-turbo-0125").model == "gpt-3.5-turbo"
    assert quote("gpt-4.1-nano-2025-04-14").model == "gpt-4.1-nano"


def test_an_exact_name_beats_its_base_model(db):
    price_set(
        model="gpt-4o-2024-05-13", input_per_mtok="5", cached_input_per_mtok=None, output_per_mtok="15", valid_from=T0
    )

    assert rates(quote("gpt-4o-2024-05-13")) == ("gpt-4o-2024-05-13", Decimal("5"), None, Decimal("15"))


def test_unknown_models_and_other_suffixes_have_no_price(db):
    assert quote("llama-3-70b") is None
    assert quote("o3-pro") is None  # not guessed as o3: an unknown price is shown, never a wrong one
    assert quote("gpt-4o-audio-preview") is None
    assert quote("") is None


def test_cost_bills_cached_tokens_at_the_cached_rate():
    gpt_4o = PriceQuote(
        id=1,
        model="gpt-4o",
        input_per_mtok=Decimal("2.50"),
        cached_input_per_mtok=Decimal("1.25"),
        output_per_mtok=Decimal("10.00"),
        valid_from=T0,
    )

    cost = cost_usd(gpt_4o, prompt_tokens=1000, cached_tokens=400, completion_tokens=50)

    assert cost == Decimal("0.00250000")  # 600 x 2.50 + 400 x 1.25 + 50 x 10.00 per million
    assert str(cost) == "0.00250000"


def test_cost_without_a_cached_rate_bills_cached_tokens_as_input():
    instruct = PriceQuote(
        id=2,
        model="gpt-3.5-turbo-instruct",
        input_per_mtok=Decimal("1.50"),
        cached_input_per_mtok=None,
        output_per_mtok=Decimal("2.00"),
        valid_from=T0,
    )

    assert cost_usd(instruct, prompt_tokens=1000, cached_tokens=400, completion_tokens=500) == Decimal("0.00250000")


def test_cost_rounds_half_up_to_eight_places_and_clamps_odd_counts():
    embedding = PriceQuote(
        id=3,
        model="text-embedding-3-small",
        input_per_mtok=Decimal("0.02"),
        cached_input_per_mtok=None,
        output_per_mtok=Decimal("0"),
        valid_from=T0,
    )
    mini = PriceQuote(
        id=4,
        model="gpt-4o-mini",
        input_per_mtok=Decimal("0.15"),
        cached_input_per_mtok=Decimal("0.075"),
        output_per_mtok=Decimal("0.60"),
        valid_from=T0,
    )

    assert cost_usd(embedding, prompt_tokens=7, cached_tokens=0, completion_tokens=0) == Decimal("0.00000014")
    assert cost_usd(mini, prompt_tokens=1, cached_tokens=1, completion_tokens=0) == Decimal("0.00000008")  # 0.075e-6
    assert cost_usd(mini, prompt_tokens=10, cached_tokens=50, completion_tokens=0) == Decimal("0.00000075")
    assert cost_usd(mini, prompt_tokens=0, cached_tokens=0, completion_tokens=0) == Decimal("0E-8")


def test_price_set_adds_a_version_and_the_process_sees_it_at_once(db, django_capture_on_commit_callbacks):
    assert quote("gpt-4o").input_per_mtok == Decimal("2.5")  # snapshot loaded
    with django_capture_on_commit_callbacks(execute=True):
        price = price_set(
            model="gpt-4o",
            input_per_mtok="2.00",
            cached_input_per_mtok="1.00",
            output_per_mtok="8.00",
            actor_label="test",
        )

    current = quote("gpt-4o")

    assert (current.id, rates(current)) == (price.pk, ("gpt-4o", Decimal("2"), Decimal("1"), Decimal("8")))
    assert Price.objects.filter(model="gpt-4o").count() == 2
    entry = AuditLogEntry.objects.get(object_type="governance.Price", object_id=str(price.pk))
    assert (entry.action, entry.actor_label, entry.after["input_per_mtok"], entry.after["model"]) == (
        "create",
        "test",
        "2.00",
        "gpt-4o",
    )


def test_a_future_version_waits_for_its_time(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        price_set(
            model="gpt-4o",
            input_per_mtok="1",
            cached_input_per_mtok=None,
            output_per_mtok="1",
            valid_from=dj_timezone.now() + timedelta(days=1),
        )

    assert quote("gpt-4o").input_per_mtok == Decimal("2.5")


def test_steady_state_quotes_do_not_touch_the_database(db, django_assert_num_queries):
    quote("gpt-4o")

    with django_assert_num_queries(0):
        for _ in range(100):
            quote("gpt-4o-mini-2024-07-18")


def test_a_direct_table_change_shows_after_the_snapshot_ttl(db, monkeypatch):
    assert quote("mistral-large") is None
    Price.objects.create(
        model="mistral-large", input_per_mtok=Decimal("2"), output_per_mtok=Decimal("6"), valid_from=T0
    )
    assert quote("mistral-large") is None  # cached for up to SNAPSHOT_TTL_S

    monkeypatch.setattr(pricing, "_snapshot_expires", 0.0)  # the TTL has run out

    assert rates(quote("mistral-large")) == ("mistral-large", Decimal("2"), None, Decimal("6"))


def test_price_set_refuses_bad_input_and_duplicate_versions(db):
    with pytest.raises(ValueError, match="input_per_mtok must be a non-negative number"):
        price_set(model="x-model", input_per_mtok="-1", cached_input_per_mtok=None, output_per_mtok="1")
    with pytest.raises(ValueError, match="model must not be empty"):
        price_set(model="  ", input_per_mtok="1", cached_input_per_mtok=None, output_per_mtok="1")
    with pytest.raises(IntegrityError):
        price_set(
            model="gpt-4o",
            input_per_mtok="1",
            cached_input_per_mtok=None,
            output_per_mtok="1",
            valid_from=datetime(2024, 1, 1, tzinfo=UTC),
        )
    assert Price.objects.filter(model__in=["x-model", "  "]).count() == 0


def test_models_to_price_lists_served_models_with_unknown_cost(db):
    def event(request_id, model, cost, at):
        UsageEvent.objects.create(
            request_id=request_id,
            created_at=at,
            endpoint="/v1/chat/completions",
            status=200,
            model_requested=model,
            model_served=model,
            total_tokens=10,
            cost_usd=cost,
        )

    event("r1", "llama-3-70b", None, T0)
    event("r2", "llama-3-70b", None, T0 + timedelta(hours=1))
    event("r3", "mistral-large", None, T0)
    event("r4", "gpt-4o-mini", Decimal("0.00000100"), T0)
    event("r5", "gpt-4o-2024-08-06", None, T0)  # recorded before a price existed; priced now

    listed = models_to_price()

    assert listed == [
        ModelToPrice(
            model="llama-3-70b", requests=2, total_tokens=20, first_seen=T0, last_seen=T0 + timedelta(hours=1)
        ),
        ModelToPrice(model="mistral-large", requests=1, total_tokens=10, first_seen=T0, last_seen=T0),
    ]
    price_set(model="llama-3-70b", input_per_mtok="0.6", cached_input_per_mtok=None, output_per_mtok="0.6")
    assert [row.model for row in models_to_price()] == ["mistral-large"]
