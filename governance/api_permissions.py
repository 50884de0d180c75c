"""Who may do what through ``/api/``: the caller's access, computed once per request, and DRF permissions.

A caller is a person (browser session or personal API token) or a team's service token. What they may
do is their role narrowed by the token's scopes:

| role | reads (scope read_reports) | writes |
| --- | --- | --- |
| admin (staff) | everything | everything (scope admin) |
| manager of a team | that team's data, the organisation default policy | review its flags, its keys (manage_team); its outcomes (post_outcomes) |
| employee | own usage, keys, flags, feedback; own teams | own keys (manage_team); feedback on own calls (post_outcomes) |
| service token of a team | that team's data (read_reports) | that team's outcomes (post_outcomes); flags (manage_team) |

A browser session holds every scope its person's role allows. Objects outside what a caller may read are
answered with 404, never 403, so ids cannot be probed. The web pages' checks (``governance/selectors/access.py``)
encode the same table; both take "admin" from ``user_is_admin``.
"""

from __future__ import annotations

import dataclasses

from rest_framework.permissions import BasePermission

from governance.models import ApiToken, Membership
from governance.selectors.access import user_is_admin
from governance.selectors.directory import team_roles_of

READ = ApiToken.Scope.READ_REPORTS
MANAGE = ApiToken.Scope.MANAGE_TEAM
OUTCOMES = ApiToken.Scope.POST_OUTCOMES
ADMIN = ApiToken.Scope.ADMIN
_ALL = frozenset(ApiToken.Scope.values)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclasses.dataclass(frozen=True, slots=True)
class Access:
    """One caller's rights. ``person_id`` is None for service tokens (they act as a team, not a person)."""

    user_id: int
    person_id: int | None
    scopes: frozenset[str]
    is_admin: bool
    member_team_ids: frozenset[int]
    managed_team_ids: frozenset[int]
    service_team_id: int | None = None
    token_id: int | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes or (self.is_admin and ADMIN in self.scopes)

    def team_ids_for(self, scope: str) -> frozenset[int] | None:
        """Teams whose team-wide data this caller may use under ``scope``; None means every team."""
        if not self.has(scope):
            return frozenset()
        if self.is_admin:
            return None
        if self.service_team_id is not None:
            return frozenset({self.service_team_id})
        return self.managed_team_ids

    def can_read_team(self, team_id: int) -> bool:
        teams = self.team_ids_for(READ)
        return teams is None or team_id in teams

    def visible_team_ids(self) -> frozenset[int] | None:
        """Teams a caller may see the existence of: team-readable ones plus (for people) their own."""
        teams = self.team_ids_for(READ)
        if teams is None:
            return None
        if self.person_id is not None and self.has(READ):
            return teams | self.member_team_ids
        return teams


def access_of(request) -> Access | None:
    """The caller's access (cached on the request); None when not authenticated."""
    cached = getattr(request, "_tokenwise_access", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    token = request.auth if isinstance(request.auth, ApiToken) else None
    is_staff = user_is_admin(user)  # the same rule as the web pages
    if token is not None and token.team_id is not None:
        access = Access(
            user_id=user.pk,
            person_id=None,
            scopes=frozenset(token.scopes) - {ADMIN},
            is_admin=False,
            member_team_ids=frozenset(),
            managed_team_ids=frozenset(),
            service_team_id=token.team_id,
            token_id=token.pk,
        )
    else:
        roles = team_roles_of(user=user)
        scopes = frozenset(token.scopes) if token is not None else (_ALL if is_staff else _ALL - {ADMIN})
        access = Access(
            user_id=user.pk,
            person_id=user.pk,
            scopes=scopes,
            is_admin=is_staff and ADMIN in scopes,
            member_team_ids=frozenset(team_id for team_id, _ in roles),
            managed_team_ids=frozenset(team_id for team_id, role in roles if role == Membership.Role.MANAGER),
            token_id=token.pk if token is not None else None,
        )
    request._tokenwise_access = access
    return access


class ApiAccess(BasePermission):
    """Authenticated, and holding the scope the view names for this method.

    Views set ``scopes = {"GET": READ, "POST": MANAGE}`` (a missing method needs ``admin``, ``None``
    lets any authenticated caller through) and
    ``admin_only = True`` when only admins may call them at all.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        access = access_of(request)
        if access is None:
            return False
        method = "GET" if request.method in _SAFE_METHODS else request.method
        if getattr(view, "admin_only", False) and not access.is_admin:
            return False
        needed = getattr(view, "scopes", {}).get(method, ADMIN)
        if needed is None:  # any authenticated caller
            return True
        if needed == ADMIN:
            return access.is_admin
        return access.has(needed)
