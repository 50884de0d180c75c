"""Fixtures of the ledger's tests."""

from __future__ import annotations

import pytest

from usage.ledger.ingest import usage_events_ingest


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """usage_events_ingest with its after-commit work (rollup marking) run, as in production."""

    def run(events):
        with django_capture_on_commit_callbacks(execute=True):
            return usage_events_ingest(events=events)

    return run
