"""What an API caller may see: every ``/api/`` read starts from one of these querysets.

Each takes the caller's :class:`~governance.api_permissions.Access` and returns only the rows it may
read; anything else is then answered with 404. See ``governance/api_permissions.py`` for the table.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from governance.api_permissions import READ, Access
from governance.models import ApiKey, ApiToken, Flag, Membership, Policy, Team


def _team_scoped(access: Access, *, team_field: str, user_field: str | None) -> Q | None:
    """Rows of teams the caller reads team-wide, plus (for people) their own rows; None: every row."""
    teams = access.team_ids_for(READ)
    if teams is None:
        return None
    condition = Q(**{f"{team_field}__in": teams})
    if user_field is not None and access.person_id is not None and access.has(READ):
        condition |= Q(**{user_field: access.person_id})
    return condition


def _narrow(queryset: QuerySet, condition: Q | None) -> QuerySet:
    return queryset if condition is None else queryset.filter(condition)


def teams_visible(*, access: Access) -> QuerySet[Team]:
    """Teams the caller may see: all (admin), those they read team-wide, and their own teams."""
    teams = access.visible_team_ids()
    queryset = Team.objects.all()
    return queryset if teams is None else queryset.filter(pk__in=teams)


def memberships_visible(*, access: Access) -> QuerySet[Membership]:
    """Memberships of teams read team-wide, plus the caller's own."""
    queryset = Membership.objects.select_related("user", "team")
    return _narrow(queryset, _team_scoped(access, team_field="team_id", user_field="user_id"))


def keys_visible(*, access: Access) -> QuerySet[ApiKey]:
    """Proxy keys (metadata only) of teams read team-wide, plus the caller's own."""
    queryset = ApiKey.objects.select_related("user", "team")
    return _narrow(queryset, _team_scoped(access, team_field="team_id", user_field="user_id"))


def api_tokens_visible(*, access: Access) -> QuerySet[ApiToken]:
    """API tokens: all (admin), else the person's own (personal and service tokens they created)."""
    queryset = ApiToken.objects.select_related("user", "team")
    if access.is_admin:
        return queryset
    if access.person_id is None or not access.has(READ):
        return queryset.none()
    return queryset.filter(user_id=access.person_id)


def policies_visible(*, access: Access) -> QuerySet[Policy]:
    """The organisation default, policies of teams read team-wide, and those that apply to the person."""
    queryset = Policy.objects.select_related("team", "user")
    if access.is_admin:
        return queryset
    if not access.has(READ):
        return queryset.none()
    condition = Q(scope=Policy.Scope.ORG) | Q(team_id__in=access.team_ids_for(READ) or ())
    if access.person_id is not None:
        condition |= Q(scope=Policy.Scope.TEAM, team_id__in=access.member_team_ids)
        condition |= Q(scope=Policy.Scope.USER, user_id=access.person_id)
    return queryset.filter(condition)


def flags_visible(*, access: Access) -> QuerySet[Flag]:
    """Flags of the teams the caller reads team-wide, plus (for people) the flags raised about them."""
    queryset = Flag.objects.select_related("team").prefetch_related("reviews")
    return _narrow(queryset, _team_scoped(access, team_field="team_id", user_field="user_id"))


def memberships_of_person(*, user_id: int | None) -> QuerySet[Membership]:
    """A person's memberships, by team slug (none for a service token)."""
    if user_id is None:
        return Membership.objects.none()
    return Membership.objects.filter(user_id=user_id).select_related("team").order_by("team__slug")
