"""The record of one proxied call as the ledger carries it (stream, spool, database): ``UsageEventData``.

Below every ledger module: the publisher (``usage.ledger.events``), the writer (``usage.ledger.ingest``)
and the spool all import it, and it imports none of them.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime


@dataclasses.dataclass(slots=True)
class UsageEventData:
    """One call through the proxy. Field names match ``usage.models.UsageEvent``."""

    request_id: str
    created_at: datetime
    endpoint: str
    status: int = 200
    key_id: int | None = None
    user_id: int | None = None
    team_id: int | None = None
    model_requested: str = ""
    model_served: str = ""
    provider: str = ""
    error_code: str = ""
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cost_usd: str | None = None  # decimal as text; None = unknown price
    price_id: int | None = None
    latency_ms: int = 0
    time_to_first_byte_ms: int | None = None
    is_estimated: bool = False
    client_disconnected: bool = False
    max_tokens: int | None = None
    purpose: str = ""
    client: str = ""
    session_id: str = ""
    agent_id: str = ""
    parent_agent_id: str = ""
    request_class: str = ""
    policy_action: str = ""
    prompt_hash: str = ""
    prompt_simhash: int | None = None
    output_simhash: int | None = None
    prompt_text: str | None = None
    output_text: str | None = None

    def to_json(self) -> str:
        # Every field is a plain value: a flat dict, not dataclasses.asdict's recursive deep copy.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> UsageEventData:
        data = json.loads(raw)
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        return cls(**data)


_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(UsageEventData))


def utc_now() -> datetime:
    return datetime.now(UTC)
