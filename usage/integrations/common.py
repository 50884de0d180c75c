"""What both integrations share: the team an outcome is booked to, and the kinds they report."""

from __future__ import annotations

from decimal import Decimal

from governance.models import Membership, Team
from usage.models import OutcomeKind, UsageEvent

# Kinds the integrations report, with the weight they start at (admins change it on /api/outcome-kinds/).
# Activity measures - lines written, edits accepted or rejected - start at 0: counting them as value
# would reward volume, the very thing Tokenwise must not reward; they are shown, and count only if an
# admin weights them.
INTEGRATION_KINDS: dict[str, tuple[Decimal, str]] = {
    "pr_merged": (Decimal(1), "A pull request merged on GitHub (its author)."),
    "pr_reviewed": (Decimal(1), "A pull request review submitted on GitHub (the reviewer)."),
    "issue_closed": (Decimal(1), "An issue closed as completed on GitHub (who closed it)."),
    "agent_commit": (Decimal(1), "A commit made through a coding agent (telemetry)."),
    "agent_pull_request": (Decimal(1), "A pull request opened through a coding agent (telemetry)."),
    "agent_lines_added": (Decimal(0), "Lines added by a coding agent (telemetry; activity, not value)."),
    "agent_lines_removed": (Decimal(0), "Lines removed by a coding agent (telemetry; activity, not value)."),
    "agent_edit_accepted": (Decimal(0), "A coding agent's edit accepted by the person (telemetry)."),
    "agent_edit_rejected": (Decimal(0), "A coding agent's edit rejected by the person (telemetry)."),
}


def integration_kinds_register(kinds: set[str] | frozenset[str]) -> None:
    """Create the ``OutcomeKind`` rows of these integration kinds that do not exist yet, at their
    starting weight, so admins see and can weight them. Never changes an existing row (one INSERT …
    ON CONFLICT DO NOTHING; concurrent calls are harmless)."""
    rows = [
        OutcomeKind(kind=kind, weight=INTEGRATION_KINDS[kind][0], description=INTEGRATION_KINDS[kind][1])
        for kind in sorted(kinds)
        if kind in INTEGRATION_KINDS
    ]
    if rows:
        OutcomeKind.objects.bulk_create(rows, ignore_conflicts=True)


def team_for_person(*, user_id: int) -> Team | None:
    """The team a person's outcome is booked to when the source names none: the team of their latest
    call if they still belong to it, else their first membership; None for a person in no team."""
    team_ids = list(Membership.objects.filter(user_id=user_id).order_by("pk").values_list("team_id", flat=True))
    if not team_ids:
        return None
    latest = (
        UsageEvent.objects.filter(user_id=user_id, team_id__in=team_ids)
        .order_by("-created_at")
        .values_list("team_id", flat=True)
        .first()
    )
    return Team.objects.filter(pk=latest or team_ids[0]).first()
