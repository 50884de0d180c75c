"""Who may see what on the web pages (and the REST API that reuses these rules): the access reads.

Three roles, derived from the data rather than stored apart:
- **admin**: an active staff user - sees every team and every person, and the admin pages;
- **manager**: a person with a ``manager`` membership - sees the reports and flags of those teams only;
- **employee**: everyone signed in - sees their own usage, keys and flags only.

One person can be all three. Every check takes the signed-in user and the object asked for, and says
yes or no; views turn a "no" into a 404 (never confirming that another team exists).

Which people and calls a viewer may see follows from the same roles: admins see everyone; a manager
sees the people of the teams they manage (only their usage in those teams) and their own; everyone
else sees only themselves. Checked on every request, never cached.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from governance.models import Membership, Team
from governance.selectors.directory import teams_managed_as_member

ALL = None  # no restriction


def user_is_admin(user) -> bool:
    """An active staff user: may see and change everything, including the admin pages."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


def teams_managed_by(*, user) -> QuerySet[Team]:
    """The teams whose reports ``user`` may read: all teams for an admin, else those they manage."""
    if not getattr(user, "is_authenticated", False):
        return Team.objects.none()
    if user_is_admin(user):
        return Team.objects.all()
    return teams_managed_as_member(user=user)


def user_manages_team(*, user, team: Team) -> bool:
    """May ``user`` read ``team``'s report and review its flags?"""
    return teams_managed_by(user=user).filter(pk=team.pk).exists()


def user_is_manager(*, user) -> bool:
    """Does ``user`` manage at least one team (or is an admin)?"""
    return teams_managed_by(user=user).exists()


def person_teams_visible(*, viewer, subject_id: int) -> list[int] | None:
    """The teams in which ``viewer`` may see ``subject_id``'s usage: None for all, [] for none (404).

    Oneself and admins: every team. A manager: the teams they manage that the person belongs to.
    """
    if not getattr(viewer, "is_authenticated", False):
        return []
    if viewer.pk == subject_id or user_is_admin(viewer):
        return ALL
    managed = teams_managed_by(user=viewer).values_list("pk", flat=True)
    return sorted(
        Membership.objects.filter(user_id=subject_id, team_id__in=managed).values_list("team_id", flat=True).distinct()
    )


def calls_visible_filter(*, viewer) -> Q | None:
    """A filter on usage events for the calls ``viewer`` may see (None: all of them).

    A manager: every call of the teams they manage, and their own calls anywhere. Anyone else: their own.
    """
    if user_is_admin(viewer):
        return ALL
    managed = list(teams_managed_by(user=viewer).values_list("pk", flat=True))
    if managed:
        return Q(team_id__in=managed) | Q(user_id=viewer.pk)
    return Q(user_id=viewer.pk)
