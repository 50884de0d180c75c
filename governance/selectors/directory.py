"""Who is who: people and teams by what names them, the managers of a team, a person's roles.

Small lookups shared by sign-in (password and OIDC), the REST API's access check, notifications and the
management commands. A deactivated person is nobody's manager: notifications skip them.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from governance.models import Membership, Team


def person_by_id(*, user_id: int):
    """A person by id, or None."""
    return get_user_model().objects.filter(pk=user_id).first()


def person_by_email(*, email: str):
    """A person by e-mail (any case), or None."""
    return people_with_email(email=email).first()


def people_with_email(*, email: str) -> QuerySet:
    """Every account with this e-mail (any case): sign-in picks one only when there is exactly one."""
    return get_user_model().objects.filter(email__iexact=email)


def username_taken(*, username: str) -> bool:
    return get_user_model().objects.filter(username=username).exists()


def team_by_slug(*, slug: str) -> Team | None:
    return Team.objects.filter(slug=slug).first()


def team_ids_all() -> list[int]:
    return list(Team.objects.values_list("id", flat=True))


def team_roles_of(*, user) -> list[tuple[int, str]]:
    """``(team id, role)`` of each of ``user``'s memberships (one query, read on every use)."""
    return list(Membership.objects.filter(user=user).values_list("team_id", "role"))


def team_manager_emails(*, team_id: int, except_user_id: int | None = None) -> list[str]:
    """The e-mails of a team's active managers (sorted, no blanks), ``except_user_id`` left out."""
    managers = Membership.objects.filter(team_id=team_id, role=Membership.Role.MANAGER, user__is_active=True)
    if except_user_id is not None:
        managers = managers.exclude(user_id=except_user_id)
    emails = managers.exclude(user__email="").order_by("user__email").values_list("user__email", flat=True)
    return list(dict.fromkeys(emails))


def teams_managed_as_member(*, user) -> QuerySet[Team]:
    """The teams ``user`` manages by membership (admin rights aside; ``access.teams_managed_by`` adds them)."""
    return Team.objects.filter(memberships__user=user, memberships__role=Membership.Role.MANAGER).distinct()


def managers_active() -> QuerySet:
    """Every active person who manages at least one team, by id."""
    return (
        get_user_model()
        .objects.filter(is_active=True, memberships__role=Membership.Role.MANAGER)
        .distinct()
        .order_by("pk")
    )
