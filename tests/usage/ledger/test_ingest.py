"""Ledger writes: bulk ingest, idempotent on request_id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from governance.models import ApiKey
from usage.models import UsageEvent

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def test_writes_every_field_of_an_event(db, employee_key, make_event, ingest, ledger_stream):
    key, _ = employee_key
    event = make_event(
        request_id="req_full",
        key_id=key.pk,
        user_id=key.user_id,
        team_id=key.team_id,
        stream=True,
        reasoning_tokens=50,
        error_code="",
        time_to_first_byte_ms=120,
        is_estimated=True,
        client_disconnected=True,
        max_tokens=512,
        purpose="triage",
        policy_action="warn",
        prompt_hash="ab" * 32,
        prompt_simhash=-42,
        output_simhash=2**63 - 1,
    )

    inserted = ingest([event])

    assert inserted == 1
    row = UsageEvent.objects.get(request_id="req_full")
    assert (row.created_at, row.key_id, row.user_id, row.team_id, row.endpoint, row.status) == (
        T0,
        key.pk,
        key.user_id,
        key.team_id,
        "/v1/chat/completions",
        200,
    )
    assert (row.model_requested, row.model_served, row.provider, row.stream) == (
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "openai",
        True,
    )
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens, row.reasoning_tokens, row.total_tokens) == (
        1000,
        200,
        400,
        50,
        1200,
    )
    assert (row.cost_usd, row.price_id, row.latency_ms, row.time_to_first_byte_ms) == (
        Decimal("0.00024000"),
        None,
        850,
        120,
    )
    assert (row.is_estimated, row.client_disconnected, row.max_tokens, row.purpose, row.policy_action) == (
        True,
        True,
        512,
        "triage",
        "warn",
    )
    assert (row.prompt_hash, row.prompt_simhash, row.output_simhash, row.prompt_text) == (
        "ab" * 32,
        -42,
        2**63 - 1,
        None,
    )


def test_is_idempotent_on_request_id(db, make_event, ingest, ledger_stream):
    first, second = make_event(request_id="req_a"), make_event(request_id="req_b")
    ingest([first])

    inserted = ingest([first, second, make_event(request_id="req_b", prompt_tokens=9)])

    assert inserted == 1
    assert sorted(UsageEvent.objects.values_list("request_id", "prompt_tokens")) == [("req_a", 1000), ("req_b", 1000)]
    assert ingest([first, second]) == 0
    assert UsageEvent.objects.count() == 2


def test_keeps_unknown_cost_as_null(db, make_event, ingest, ledger_stream):
    ingest([make_event(request_id="req_unpriced", model_served="llama-3-70b", cost_usd=None)])

    assert UsageEvent.objects.get(request_id="req_unpriced").cost_usd is None


def test_moves_key_last_used_forward_only(db, employee_key, make_event, ingest, ledger_stream):
    key, _ = employee_key
    ingest(
        [
            make_event(key_id=key.pk, created_at=T0),
            make_event(key_id=key.pk, created_at=T0 + timedelta(minutes=5)),
            make_event(key_id=key.pk, created_at=T0 + timedelta(minutes=2)),
        ]
    )
    assert ApiKey.objects.get(pk=key.pk).last_used_at == T0 + timedelta(minutes=5)

    ingest([make_event(key_id=key.pk, created_at=T0 - timedelta(days=1))])

    assert ApiKey.objects.get(pk=key.pk).last_used_at == T0 + timedelta(minutes=5)
