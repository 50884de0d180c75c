"""``{% value_signals_panel %}``: a self-contained panel of value signals by kind and source, for the team
report and the person's page (``{% load value_signals %}{% value_signals_panel start=… end=… team_id=… %}``)."""

from __future__ import annotations

from datetime import date

from django import template

from usage.integrations.selectors import value_signals_by_source

register = template.Library()


@register.inclusion_tag("usage/_value_signals.html")
def value_signals_panel(*, start: date, end: date, team_id: int | None = None, user_id: int | None = None) -> dict:
    rows = value_signals_by_source(start=start, end=end, team_id=team_id, user_id=user_id)
    return {"rows": rows, "scope": "team" if team_id is not None else "person",
            "uncounted": any(row.counted_count < row.count for row in rows)}
