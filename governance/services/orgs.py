"""Teams, people and memberships."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from governance.models import Membership, Team
from governance.services.audit import audit_record, audit_snapshot


def user_get_or_create(*, email: str, actor=None, actor_label: str = ""):
    """The person with this e-mail (case-insensitive), created with an unusable password if missing."""
    user_model = get_user_model()
    email = email.strip().lower()
    user = user_model.objects.filter(email__iexact=email).first()
    if user is None:
        user = user_model.objects.create_user(username=email, email=email)
        audit_record(actor=actor, actor_label=actor_label, action="create", instance=user, after={"email": email})
    return user


def team_get_or_create(*, slug: str, name: str = "", actor=None, actor_label: str = "") -> Team:
    """The team with this slug, created (and audited) if missing."""
    slug = slugify(slug)
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        team = Team.objects.create(slug=slug, name=name or slug.replace("-", " ").title())
        audit_record(actor=actor, actor_label=actor_label, action="create", instance=team, after=audit_snapshot(team))
    return team


@transaction.atomic
def membership_set(
    *, user, team: Team, role: str = Membership.Role.MEMBER, actor=None, actor_label: str = ""
) -> Membership:
    """Make ``user`` a member of ``team`` with ``role``; idempotent, audited when something changes."""
    membership = Membership.objects.select_for_update().filter(user=user, team=team).first()
    if membership is None:
        membership = Membership.objects.create(user=user, team=team, role=role)
        audit_record(
            actor=actor, actor_label=actor_label, action="create", instance=membership, after=audit_snapshot(membership)
        )
    elif membership.role != role:
        before = audit_snapshot(membership)
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="update",
            instance=membership,
            before=before,
            after=audit_snapshot(membership),
        )
    return membership


def membership_ensure(*, user, team: Team, actor=None, actor_label: str = "") -> Membership:
    """Make ``user`` a member of ``team`` unless they already are (any role is kept)."""
    existing = Membership.objects.filter(user=user, team=team).first()
    return existing or membership_set(user=user, team=team, actor=actor, actor_label=actor_label)


@transaction.atomic
def team_create(*, slug: str, name: str = "", actor=None, actor_label: str = "") -> Team:
    """Create a team. Raises IntegrityError when the slug (after slugify) is taken, GovernanceError when
    nothing is left of it after slugify. Audited."""
    from governance.exceptions import GovernanceError

    slug = slugify(slug)
    if not slug:
        raise GovernanceError("The slug must contain letters or digits.", param="slug")
    team = Team.objects.create(slug=slug, name=name or slug.replace("-", " ").title())
    audit_record(actor=actor, actor_label=actor_label, action="create", instance=team, after=audit_snapshot(team))
    return team


@transaction.atomic
def team_rename(*, team: Team, name: str, actor=None, actor_label: str = "") -> Team:
    """Change a team's display name (its slug stays). Audited when it changes."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    if team.name != name:
        before = audit_snapshot(team)
        team.name = name
        team.save(update_fields=["name"])
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="update",
            instance=team,
            before=before,
            after=audit_snapshot(team),
        )
    return team


@transaction.atomic
def membership_remove(*, membership: Membership, actor=None, actor_label: str = "") -> None:
    """Remove a person from a team. Their keys for that team are revoked with it. Audited."""
    from governance.models import ApiKey
    from governance.services.keys import key_revoke

    before = audit_snapshot(membership)
    for key in ApiKey.objects.filter(user_id=membership.user_id, team_id=membership.team_id, revoked_at__isnull=True):
        key_revoke(key=key, actor=actor, actor_label=actor_label)
    audit_record(actor=actor, actor_label=actor_label, action="delete", instance=membership, before=before)
    membership.delete()
