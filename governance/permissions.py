"""Who may see what on the web pages (and the REST API that reuses these rules).

Three roles, derived from the data rather than stored apart:
- **admin**: an active staff user - sees every team and every person, and the admin pages;
- **manager**: a person with a ``manager`` membership - sees the reports and flags of those teams only;
- **employee**: everyone signed in - sees their own usage, keys and flags only.

One person can be all three. Every check takes the signed-in user and the object asked for, and says
yes or no; views turn a "no" into a 404 (never confirming that another team exists).
"""

from __future__ import annotations

from django.db.models import QuerySet

from governance.models import Membership, Team


def user_is_admin(user) -> bool:
    """An active staff user: may see and change everything, including the admin pages."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


def teams_managed_by(*, user) -> QuerySet[Team]:
    """The teams whose reports ``user`` may read: all teams for an admin, else those they manage."""
    if not getattr(user, "is_authenticated", False):
        return Team.objects.none()
    if user_is_admin(user):
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user, memberships__role=Membership.Role.MANAGER).distinct()


def user_manages_team(*, user, team: Team) -> bool:
    """May ``user`` read ``team``'s report and review its flags?"""
    return teams_managed_by(user=user).filter(pk=team.pk).exists()


def user_is_manager(*, user) -> bool:
    """Does ``user`` manage at least one team (or is an admin)?"""
    return teams_managed_by(user=user).exists()
