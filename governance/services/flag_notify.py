"""Flags, the worker's side: e-mailing a newly raised flag (``flag_notify_task`` calls ``flag_notify``).

Apart from ``governance.services.flags``, which queues the task, so that the task imports this module and
the flag services import the task without a cycle.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from governance.models import Flag
from governance.selectors.directory import team_manager_emails

_NOTIFIED_KEY = "flag-notified:{flag_id}:{created}"  # with the creation time: ids can be reused
_NOTIFIED_TTL_S = 90 * 24 * 3600


def flag_recipients(*, flag: Flag) -> tuple[list[str], str | None]:
    """(e-mails of the team's active managers other than the person flagged, the person's e-mail or None)."""
    managers = team_manager_emails(team_id=flag.team_id, except_user_id=flag.user_id)
    person = flag.user.email if flag.user.is_active and flag.user.email else None
    return managers, person


def flag_notify(*, flag: Flag) -> int:
    """E-mail a new flag to its team's managers (with the review link) and to the person flagged (with a
    link to their own page); return how many e-mails went out.

    Once per flag: a marker in the shared cache, set after the sends, makes a redelivered task a no-op.
    Raises what the mail backend raises (the task retries).
    """
    marker = _NOTIFIED_KEY.format(flag_id=flag.pk, created=int(flag.created_at.timestamp()))
    if cache.get(marker):
        return 0
    managers, person = flag_recipients(flag=flag)
    base_url = settings.TOKENWISE_BASE_URL.rstrip("/")
    context = {
        "flag": flag,
        "detector_label": flag.detector.replace("_", " ").capitalize(),
        "summary": flag.evidence.get("summary", "") if isinstance(flag.evidence, dict) else "",
        "review_url": base_url + reverse("governance:flag_review", args=[flag.pk]),
        "my_url": base_url + reverse("usage:my_usage"),
    }
    subject = f"Tokenwise flag: {context['detector_label']} - {flag.user.email or flag.user} in {flag.team.slug}"
    sent = 0
    if managers:
        body = render_to_string("governance/email/flag_raised_manager.txt", context)
        sent += send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, managers)
    if person:
        body = render_to_string("governance/email/flag_raised_person.txt", context)
        sent += send_mail(
            f"Tokenwise: a usage pattern of yours was flagged ({context['detector_label']})",
            body,
            settings.DEFAULT_FROM_EMAIL,
            [person],
        )
    cache.set(marker, 1, timeout=_NOTIFIED_TTL_S)
    return sent
