"""The request id of the call being handled, for log lines (``TOKENWISE_LOG_FORMAT=json``).

``Call.begin`` sets it in a context variable: each ASGI request runs in its own task, so concurrent
calls never see each other's id, and tasks spawned by a call (settlement) inherit it.
"""

from __future__ import annotations

import contextvars
import logging

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("tokenwise_request_id", default="")


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (empty outside a proxied call) to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True
