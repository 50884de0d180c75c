"""``{% value_signals_panel %}``: a self-contained panel of value signals by kind and source, for the team
report, one's own page and the person's page
(``{% load value_signals %}{% value_signals_panel start=… end=… team_id=… user_id=… team_ids=… %}``)."""

from __future__ import annotations

from datetime import date

from django import template

from governance.selectors.value_sources import value_source_trust_all
from usage.integrations.selectors import value_signals_by_source

register = template.Library()


def _label(source_kind: str, integration: str) -> str:
    return integration or source_kind.replace("_", " ")


@register.inclusion_tag("usage/_value_signals.html")
def value_signals_panel(
    *, start: date, end: date, team_id: int | None = None, user_id: int | None = None, team_ids: list[int] | None = None
) -> dict:
    rows = value_signals_by_source(start=start, end=end, team_id=team_id, user_id=user_id, team_ids=team_ids)
    trust = value_source_trust_all()
    return {
        "rows": rows,
        "scope": "team" if team_id is not None else "person",
        "uncounted": any(row.counted_count < row.count for row in rows),
        "untrusted": [_label(t.source_kind, t.integration) for t in trust if not t.is_trusted],
        "self_reports_counted": [
            _label(t.source_kind, t.integration) for t in trust if t.is_trusted and t.counts_self_reports
        ],
    }
