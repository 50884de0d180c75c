"""Policy writes: one policy at a time (admin, API) or a whole document (``apply_policies``).

Every change is audited (before/after) in the same transaction, and when it commits the policy caches
are invalidated: this process's at once, the others' on their next admission (see
``governance.enforcement.effective``).
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from governance.detectors.base import Thresholds
from governance.enforcement.effective import policy_cache_invalidate, policy_resolve
from governance.models import Membership, Policy, Team
from governance.policy_fields import POLICY_FIELDS
from governance.services.audit import audit_record, audit_snapshot, audited_save
from governance.services.policy_document import (
    DOCUMENT_NAME,
    DOCUMENT_ORDER,
    PolicyDocumentError,
    Target,
    document_parse,
    document_render,
)


def policy_values(policy: Policy | None) -> dict[str, Any]:
    """A policy's field values (all None for no policy)."""
    return {field: (getattr(policy, field) if policy is not None else None) for field in POLICY_FIELDS}


def _validate(policy: Policy) -> None:
    """Raise ValidationError for values the enforcement cannot use."""
    problems: dict[str, str] = {}
    for field in POLICY_FIELDS:
        value = getattr(policy, field)
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool) and value < 0:
            problems[field] = "must not be negative"
    for field in ("requests_per_minute", "tokens_per_minute", "max_tokens"):
        if getattr(policy, field) is not None and getattr(policy, field) < 1:
            problems[field] = "must be at least 1"
    models = policy.allowed_models
    if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)):
        problems["allowed_models"] = "must be a list of model names or glob patterns"
    thresholds = policy.alert_thresholds
    if thresholds is not None and (
        not isinstance(thresholds, list)
        or not all(isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= 1000 for t in thresholds)
    ):
        problems["alert_thresholds"] = "must be a list of whole percentages between 1 and 1000"
    if policy.detector_thresholds is not None:
        try:
            Thresholds.from_policy(policy.detector_thresholds)
        except (ValueError, TypeError) as exc:
            problems["detector_thresholds"] = str(exc)
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def policy_save(*, policy: Policy, actor=None, actor_label: str = "") -> Policy:
    """Create or update one policy (validated), audited; caches invalidated on commit.

    Raises ValidationError (bad values, scope/target mismatch) or IntegrityError (a second policy for
    the same target).
    """
    before = None
    if policy.pk is not None:
        stored = Policy.objects.select_for_update().filter(pk=policy.pk).first()
        before = audit_snapshot(stored) if stored is not None else None
    _validate(policy)
    policy.full_clean(validate_unique=False, validate_constraints=False)
    audited_save(policy, before=before, actor=actor, actor_label=actor_label)
    team_id = policy.team_id
    transaction.on_commit(lambda: policy_cache_invalidate(team_id))
    return policy


@transaction.atomic
def policy_delete(*, policy: Policy, actor=None, actor_label: str = "") -> None:
    """Delete one policy (its level then inherits everything), audited; caches invalidated on commit."""
    before = audit_snapshot(policy)
    audit_record(actor=actor, actor_label=actor_label, action="delete", instance=policy, before=before)
    team_id = policy.team_id
    policy.delete()
    transaction.on_commit(lambda: policy_cache_invalidate(team_id))


def policy_set(
    *, scope: str, team: Team | None = None, user=None, values: dict[str, Any], actor=None, actor_label: str = ""
) -> Policy:
    """Set (create or replace) the fields of the policy of one target; fields not given become unset."""
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    policy = Policy.objects.filter(scope=scope, team=team, user=user).first() or Policy(
        scope=scope, team=team, user=user
    )
    for field in POLICY_FIELDS:
        setattr(policy, field, values.get(field))
    return policy_save(policy=policy, actor=actor, actor_label=actor_label)


# --- The document --------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Change:
    action: str  # "create" | "update" | "delete"
    label: str
    fields: list[tuple[str, Any, Any]]  # (field, before, after)

    def lines(self) -> list[str]:
        mark = {"create": "+", "update": "~", "delete": "-"}[self.action]
        lines = [f"{mark} {self.label}" + (" (removed)" if self.action == "delete" else "")]
        for field, before, after in self.fields:
            lines.append(f"    {DOCUMENT_NAME[field]}: {_shown(before)} -> {_shown(after)}")
        return lines


@dataclasses.dataclass(slots=True)
class PolicyDiff:
    changes: list[Change]
    applied: bool

    def text(self) -> str:
        if not self.changes:
            return "No changes."
        lines = [line for change in self.changes for line in change.lines()]
        counts = {a: sum(c.action == a for c in self.changes) for a in ("create", "update", "delete")}
        lines.append(f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete.")
        return "\n".join(lines)


def _shown(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (list, dict, bool)):
        return json.dumps(value)
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a is not None and b is not None and Decimal(a) == Decimal(b)
    return a == b


def _has_values(values: dict[str, Any]) -> bool:
    return any(v is not None for v in values.values())


def _resolve_targets(targets: list[Target], source: str) -> dict[tuple, tuple[Target, Team | None, Any]]:
    """Document targets by (scope, team id, user id); unknown teams/people raise PolicyDocumentError."""
    slugs = {t.team for t in targets if t.team}
    teams = {team.slug: team for team in Team.objects.filter(slug__in=slugs)}
    emails = {t.user.lower() for t in targets if t.user}
    users: dict[str, list] = {}
    if emails:
        match = Q()
        for email in emails:
            match |= Q(email__iexact=email)
        for person in get_user_model().objects.filter(match):
            users.setdefault(person.email.lower(), []).append(person)
    members = set(Membership.objects.filter(team__slug__in=slugs).values_list("team__slug", "user_id"))
    problems, resolved = [], {}
    for target in targets:
        team = teams.get(target.team) if target.team else None
        if target.team and team is None:
            if target.scope == "team":
                problems.append(f"{source}, line {target.line}: teams.{target.team}: unknown team '{target.team}'")
            continue
        user = None
        if target.user:
            found = users.get(target.user.lower(), [])
            where = f"{source}, line {target.line}: teams.{target.team}.users.{target.user}"
            if not found:
                problems.append(f"{where}: unknown person '{target.user}'")
                continue
            if len(found) > 1:
                problems.append(f"{where}: several accounts have the e-mail '{target.user}'")
                continue
            user = found[0]
            if (target.team, user.pk) not in members:
                problems.append(f"{where}: {target.user} is not a member of team '{target.team}'")
                continue
        resolved[(target.scope, team.pk if team else None, user.pk if user else None)] = (target, team, user)
    if problems:
        raise PolicyDocumentError(problems)
    return resolved


def _check_downgrades(resolved: dict[tuple, tuple[Target, Team | None, Any]], source: str) -> None:
    """``on_exceed: downgrade`` needs a ``downgrade_to`` at that level or one it inherits from."""
    values = {key: target.values for key, (target, _, _) in resolved.items()}
    org = values.get(("org", None, None))
    problems = []
    for (scope, team_id, user_id), (target, _, _) in resolved.items():
        team = values.get(("team", team_id, None)) if team_id else None
        person = target.values if scope == "user" else None
        policy = policy_resolve(
            team_id=team_id or 0, user_id=user_id or 0, org=org, team=team if scope != "org" else None, person=person
        )
        if target.values.get("on_exceed") == "downgrade" and policy.downgrade_to is None:
            line = target.field_lines.get("on_exceed", target.line)
            problems.append(
                f"{source}, line {line}: {target.label}: on_exceed is downgrade but no downgrade_to "
                "is set here or inherited"
            )
    if problems:
        raise PolicyDocumentError(problems)


def _current() -> dict[tuple, Policy]:
    return {(p.scope, p.team_id, p.user_id): p for p in Policy.objects.select_related("team", "user")}


def _label(policy: Policy) -> str:
    if policy.scope == Policy.Scope.ORG:
        return "defaults"
    assert policy.team is not None  # policy_scope_matches_targets: team and person policies have a team
    if policy.scope == Policy.Scope.TEAM:
        return f"team {policy.team.slug}"
    assert policy.user is not None  # ... and person policies a person
    return f"user {policy.user.email} in team {policy.team.slug}"


@transaction.atomic
def policies_apply(
    *, text: str, source: str = "document", dry_run: bool = False, actor=None, actor_label: str = "apply_policies"
) -> PolicyDiff:
    """Make the stored policies exactly what the document says; return the diff.

    The document is authoritative: a policy it does not mention is deleted. Idempotent (applying the
    same document twice changes nothing the second time). All or nothing, in one transaction; every
    change audited. Raises PolicyDocumentError (every problem with its line) before changing anything.
    ``dry_run`` computes the diff and rolls back.
    """
    targets = document_parse(text, source=source)
    resolved = _resolve_targets(targets, source)
    _check_downgrades(resolved, source)
    current = _current()
    changes: list[Change] = []
    for key, (target, team, user) in resolved.items():
        policy = current.get(key)
        before = policy_values(policy)
        wanted = target.values
        fields = [(f, before[f], wanted[f]) for f in DOCUMENT_ORDER if not _same(before[f], wanted[f])]
        if not _has_values(wanted):
            if policy is None or not _has_values(before):
                continue  # nothing stored, nothing wanted
            changes.append(Change("delete", target.label, fields))
            policy_delete(policy=policy, actor=actor, actor_label=actor_label)
        elif fields:
            changes.append(
                Change("create" if policy is None or not _has_values(before) else "update", target.label, fields)
            )
            policy_set(scope=target.scope, team=team, user=user, values=wanted, actor=actor, actor_label=actor_label)
    for key, policy in current.items():
        if key not in resolved and _has_values(policy_values(policy)):
            before = policy_values(policy)
            changes.append(
                Change(
                    "delete", _label(policy), [(f, before[f], None) for f in DOCUMENT_ORDER if before[f] is not None]
                )
            )
            policy_delete(policy=policy, actor=actor, actor_label=actor_label)
    if dry_run:
        transaction.set_rollback(True)
    return PolicyDiff(changes=changes, applied=not dry_run and bool(changes))


def policies_export() -> str:
    """The stored policies as a document that ``policies_apply`` accepts unchanged (a round trip)."""
    defaults = None
    teams: dict[str, tuple[dict | None, dict[str, dict]]] = {}
    for policy in Policy.objects.select_related("team", "user").order_by("scope", "team__slug", "user__email"):
        values = policy_values(policy)
        if not _has_values(values):
            continue
        if policy.scope == Policy.Scope.ORG:
            defaults = values
            continue
        assert policy.team is not None  # policy_scope_matches_targets: team and person policies have a team
        if policy.scope == Policy.Scope.TEAM:
            teams[policy.team.slug] = (values, teams.get(policy.team.slug, (None, {}))[1])
        else:
            assert policy.user is not None  # ... and person policies a person
            team_values, users = teams.setdefault(policy.team.slug, (None, {}))
            users[policy.user.email] = values
    return document_render(defaults=defaults, teams=teams)
