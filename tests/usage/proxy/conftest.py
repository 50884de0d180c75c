from __future__ import annotations

import time

import openai
import pytest

from devtools.demo_upstream.framing import FRAMINGS
from usage.models import UsageEvent


@pytest.fixture(params=FRAMINGS)
def framing(request, upstream):
    """The fake upstream writes its streams as one real server does (each in turn); for streaming tests."""
    upstream.framing = request.param
    yield request.param
    upstream.framing = None


@pytest.fixture
def client(live_proxy, employee_key):
    _, secret = employee_key
    return openai.OpenAI(base_url=f"{live_proxy.url}/v1", api_key=secret, max_retries=0, timeout=10)


@pytest.fixture
def event_of(ledger):
    """Waits (a stream settles just after its last byte) and returns the ledger row of a request id."""

    def get(request_id: str, timeout: float = 5.0) -> UsageEvent:
        deadline = time.monotonic() + timeout
        while True:
            ledger.drain()
            event = UsageEvent.objects.filter(request_id=request_id).select_related("user", "team").first()
            if event is not None or time.monotonic() > deadline:
                assert event is not None, f"no usage event for {request_id}"
                return event
            time.sleep(0.05)

    return get


@pytest.fixture
def eager_tasks():
    """Celery tasks run at once (alert e-mails, for instance)."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
