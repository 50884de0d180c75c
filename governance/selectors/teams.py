"""Reads of teams and memberships for the pages: the admin's lists, a person's teams."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from governance.models import Membership, Team


def teams_with_member_counts() -> QuerySet[Team]:
    """Every team by slug, each annotated with ``members`` and ``managers`` (how many of each)."""
    return Team.objects.annotate(
        members=Count("memberships", distinct=True),
        managers=Count("memberships", filter=Q(memberships__role=Membership.Role.MANAGER), distinct=True),
    ).order_by("slug")


def team_memberships(*, team: Team) -> QuerySet[Membership]:
    """A team's memberships with their people, by role, then e-mail."""
    return team.memberships.select_related("user").order_by("role", "user__email")


def memberships_all() -> QuerySet[Membership]:
    """Every membership with its team and person."""
    return Membership.objects.select_related("team", "user")


def teams_all() -> QuerySet[Team]:
    """Every team, by slug."""
    return Team.objects.order_by("slug")


def teams_of_person(*, user_id: int, team_ids: list[int] | None = None) -> QuerySet[Team]:
    """The teams a person belongs to, by slug; only those in ``team_ids`` unless it is None."""
    teams = Team.objects.filter(memberships__user_id=user_id).distinct().order_by("slug")
    return teams if team_ids is None else teams.filter(pk__in=team_ids)


def is_member(*, user_id: int, team_id: int) -> bool:
    """Whether the person belongs to the team (in any role)."""
    return Membership.objects.filter(user_id=user_id, team_id=team_id).exists()
