"""Bulk import of outcomes from JSON Lines (``import_outcomes``): all lines or none.

One outcome a line, the fields of ``POST /api/outcomes/``: ``external_id``, ``kind``, ``user``
(e-mail, optional), ``team`` (slug, optional), ``occurred_at`` (ISO 8601; without an offset it is read
in the organisation's time zone), ``value`` (optional, default 1), ``request_ids`` (optional list) and
``source`` (optional). The person and the team must exist, and the person must belong to the team when
both are named. Every line is checked first; if any is bad nothing is written and every bad line is
reported with its number. Otherwise each line goes through ``outcome_record`` in one transaction, with
provenance ``import`` (the command is an admin's):
idempotent on ``external_id`` (a line already imported changes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from governance.models import Membership, Team, ValueSource
from usage.interchange import aware_iso_field
from usage.value import outcome_record

FIELDS = frozenset({"external_id", "kind", "user", "team", "occurred_at", "value", "request_ids", "source"})
MAX_REQUEST_IDS = 1000
_MAX_VALUE = Decimal("99999999.9999")  # Outcome.value: 12 digits, 4 after the point


class BadOutcome(ValueError):
    """One line cannot be imported; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class OutcomeLine:
    number: int
    external_id: str
    kind: str
    user: Any
    team: Team | None
    occurred_at: datetime
    value: Decimal
    request_ids: tuple[str, ...]
    source: str


@dataclass(slots=True)
class OutcomeImportReport:
    lines: int = 0  # non-blank lines read
    created: int = 0
    existing: int = 0  # already imported (same external_id)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


class _Directory:
    """People by e-mail and teams by slug, each looked up once; memberships checked once per pair."""

    def __init__(self) -> None:
        self.people: dict[str, Any] = {}
        self.teams: dict[str, Team | None] = {}
        self.members: dict[tuple[int, int], bool] = {}

    def person(self, email: str):
        key = email.strip().lower()
        if key not in self.people:
            self.people[key] = get_user_model().objects.filter(email__iexact=key).order_by("pk").first()
        return self.people[key]

    def team(self, slug: str) -> Team | None:
        if slug not in self.teams:
            self.teams[slug] = Team.objects.filter(slug=slug).first()
        return self.teams[slug]

    def is_member(self, user, team: Team) -> bool:
        pair = (user.pk, team.pk)
        if pair not in self.members:
            self.members[pair] = Membership.objects.filter(user=user, team=team).exists()
        return self.members[pair]


@overload
def _text(data: dict[str, Any], name: str, *, limit: int, required: Literal[True]) -> str: ...
@overload
def _text(data: dict[str, Any], name: str, *, limit: int, required: bool) -> str | None: ...
def _text(data: dict[str, Any], name: str, *, limit: int, required: bool) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadOutcome(f"{name}: {'required, ' if required else ''}must be a non-empty string")
    if len(value) > limit:
        raise BadOutcome(f"{name}: at most {limit} characters")
    return value.strip()


def _occurred_at(data: dict[str, Any]) -> datetime:
    return aware_iso_field(data, "occurred_at", error=BadOutcome, missing="required, an ISO 8601 date-time")


def _value(data: dict[str, Any]) -> Decimal:
    value = data.get("value")
    if value is None:
        return Decimal(1)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadOutcome("value: must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadOutcome(f"value: {value!r} is not a number") from None
    if not number.is_finite() or not 0 <= number <= _MAX_VALUE:
        raise BadOutcome(f"value: must be between 0 and {_MAX_VALUE}")
    return number.quantize(Decimal("0.0001"))


def _request_ids(data: dict[str, Any]) -> tuple[str, ...]:
    value = data.get("request_ids")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(r, str) and 0 < len(r) <= 40 for r in value):
        raise BadOutcome("request_ids: must be a list of request ids (strings of 1 to 40 characters)")
    if len(value) > MAX_REQUEST_IDS:
        raise BadOutcome(f"request_ids: at most {MAX_REQUEST_IDS}")
    return tuple(value)


def outcome_line_parse(raw: str | bytes, *, number: int, directory: _Directory) -> OutcomeLine:
    """One line as an outcome to record; raises BadOutcome (see the module docstring for the rules)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadOutcome(f"not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    except UnicodeDecodeError:
        raise BadOutcome("not UTF-8 text") from None
    if not isinstance(data, dict):
        raise BadOutcome("not a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise BadOutcome(f"unknown field(s): {', '.join(unknown)}")
    external_id = _text(data, "external_id", limit=200, required=True)
    kind = _text(data, "kind", limit=64, required=True)
    try:
        validate_slug(kind)
    except ValidationError:
        raise BadOutcome(f"kind: {kind!r} must be a slug (letters, digits, '_' or '-')") from None
    email, slug = _text(data, "user", limit=254, required=False), _text(data, "team", limit=64, required=False)
    if email is None and slug is None:
        raise BadOutcome("an outcome needs a user (e-mail) or a team (slug)")
    user = team = None
    if email is not None:
        user = directory.person(email)
        if user is None:
            raise BadOutcome(f"user: no person with e-mail {email!r}")
    if slug is not None:
        team = directory.team(slug)
        if team is None:
            raise BadOutcome(f"team: no team with slug {slug!r}")
    if user is not None and team is not None and not directory.is_member(user, team):
        raise BadOutcome(f"user: {email} is not a member of team {slug}")
    return OutcomeLine(
        number=number,
        external_id=external_id,
        kind=kind,
        user=user,
        team=team,
        occurred_at=_occurred_at(data),
        value=_value(data),
        request_ids=_request_ids(data),
        source=_text(data, "source", limit=200, required=False) or "",
    )


def outcomes_import(
    *, lines: Iterable[str | bytes], source: str = "import_outcomes", on_line: Callable[[int], Any] | None = None
) -> OutcomeImportReport:
    """Import outcomes from JSON Lines, all or nothing (see the module docstring).

    ``on_line`` is called with the length of each line read (a progress bar). Blank lines are skipped. ``source`` is stored on outcomes whose line names none.
    Returns the report; when ``report.bad`` is not empty nothing was written.
    """
    report = OutcomeImportReport()
    directory = _Directory()
    parsed: list[OutcomeLine] = []
    for number, raw in enumerate(lines, start=1):
        if on_line is not None:
            on_line(len(raw))
        if not raw.strip():
            continue
        report.lines += 1
        try:
            parsed.append(outcome_line_parse(raw, number=number, directory=directory))
        except BadOutcome as exc:
            report.bad.append((number, str(exc)))
    if report.bad:
        return report
    with transaction.atomic():
        for line in parsed:
            _, created = outcome_record(
                external_id=line.external_id,
                kind=line.kind,
                occurred_at=line.occurred_at,
                user=line.user,
                team=line.team,
                value=line.value,
                request_ids=line.request_ids,
                source=line.source or source,
                source_kind=ValueSource.IMPORT,
            )
            if created:
                report.created += 1
            else:
                report.existing += 1
    return report
