"""A seeded organisation for the detection tests: usage events in the ledger, built from detector records.

``org_seed`` gives the team "platform" five people with 40 office-hours calls each in the week from
``T0`` (Monday 3 March 2025): four ordinary peers whose prompts differ in size, as people's do, and
alice, who sends the same prompt every time. The detectors flag exactly one thing: alice's repetition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from governance.detectors import EventRecord
from governance.models import Membership, Team
from tests.factories import UserFactory
from tests.governance.detectors.records import T0, person
from usage.models import UsageEvent

SINCE = T0
UNTIL = T0 + timedelta(days=28)


def events_store(records: Iterable[EventRecord]) -> list[UsageEvent]:
    """Write detector records as usage events (requested = served model; SimHash 0 stored as NULL)."""
    return UsageEvent.objects.bulk_create(
        UsageEvent(
            request_id=r.request_id,
            created_at=r.created_at,
            user_id=r.user_id,
            team_id=r.team_id,
            endpoint=r.endpoint,
            model_requested=r.model,
            model_served=r.model,
            status=r.status,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            total_tokens=r.total_tokens,
            cost_usd=None if r.cost_usd is None else Decimal(str(r.cost_usd)),
            max_tokens=r.max_tokens,
            stream=r.stream,
            client_disconnected=r.client_disconnected,
            prompt_hash=r.prompt_hash,
            prompt_simhash=r.prompt_simhash or None,
            output_simhash=r.output_simhash or None,
        )
        for r in records
    )


def repeater_records(user_id: int, team_id: int, *, times: Sequence[datetime] | None = None) -> list[EventRecord]:
    """40 calls that all send the same prompt."""
    return [
        replace(e, prompt_hash="same-question", prompt_simhash=4242)
        for e in person(user_id, team_id=team_id, times=times)
    ]


def peer_records(
    user_ids: Sequence[int], team_id: int, *, times: Sequence[datetime] | None = None
) -> list[EventRecord]:
    """40 ordinary calls each; the n-th peer's prompts are 800 + 100 n tokens."""
    return [
        e
        for n, user_id in enumerate(user_ids, start=1)
        for e in person(user_id, team_id=team_id, times=times, prompt_tokens=800 + 100 * n)
    ]


@dataclass
class Org:
    team: Team
    repeater: object
    peers: list
    records: list[EventRecord]


def peers_create(team: Team, count: int = 4) -> list:
    peers = []
    for n in range(1, count + 1):
        user = UserFactory(email=f"peer{n}@{team.slug}.example.com")
        Membership.objects.create(user=user, team=team, role=Membership.Role.MEMBER)
        peers.append(user)
    return peers


def org_seed(*, team: Team, repeater, times: Sequence[datetime] | None = None) -> Org:
    """Four peers and ``repeater`` (already a member of ``team``) with their calls in the ledger."""
    peers = peers_create(team)
    records = peer_records([p.pk for p in peers], team.pk, times=times) + repeater_records(
        repeater.pk, team.pk, times=times
    )
    events_store(records)
    return Org(team=team, repeater=repeater, peers=peers, records=records)
