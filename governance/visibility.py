"""Which people and calls a signed-in person may see on the report pages, checked on every request.

Admins see everyone; a manager sees the people of the teams they manage (only their usage in those
teams) and their own; everyone else sees only themselves. Views answer 404 for anything outside, so a
page never confirms that another person's id or call exists.
"""

from __future__ import annotations

from django.db.models import Q

from governance.models import Membership
from governance.permissions import teams_managed_by, user_is_admin

ALL = None  # no restriction


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
