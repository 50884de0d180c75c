"""Report selectors: a team's report for a period, a person's own usage, the organisation summary.

Pure reads returning frozen dataclasses, shared by the web pages, the weekly digest and the REST API.
Usage figures come from ``usage.models.DailyRollup`` (days in the organisation's time zone), so they
match ``export_usage`` for the same days. Value figures (``value``) and flags (``flags``) come back
empty until those tables hold data.
"""

from governance.reports.budgets import (
    BudgetBurn,
    BudgetLimits,
    BurnPoint,
    budget_burn,
    person_budget_limits,
    team_budget_limits,
)
from governance.reports.flags import (
    FlagEvent,
    FlagView,
    detector_label,
    flag_detail,
    flags_for_person,
    flags_for_team,
    flags_open_for_team,
)
from governance.reports.org import OrgSummary, TeamSummary, org_summary
from governance.reports.periods import Period, budget_period, month_end, period_parse, period_this_month
from governance.reports.person import PersonUsage, RecentCall, TeamUsage, person_usage, recent_calls_for_user
from governance.reports.rollups import DayPoint, ModelShare, Totals
from governance.reports.team import CSV_TABLES, PersonRow, TeamReport, team_report, team_report_csv
from governance.reports.value import (
    ValueMetrics,
    ValueSignal,
    ValueSignals,
    feedback_available,
    feedback_scores_for,
    value_metrics_compute,
    value_signals_for,
)

__all__ = [
    "BudgetBurn",
    "BudgetLimits",
    "BurnPoint",
    "CSV_TABLES",
    "DayPoint",
    "FlagEvent",
    "FlagView",
    "ModelShare",
    "OrgSummary",
    "Period",
    "PersonRow",
    "PersonUsage",
    "RecentCall",
    "TeamReport",
    "TeamSummary",
    "TeamUsage",
    "Totals",
    "ValueMetrics",
    "ValueSignal",
    "ValueSignals",
    "budget_burn",
    "budget_period",
    "detector_label",
    "flag_detail",
    "flags_for_person",
    "flags_for_team",
    "flags_open_for_team",
    "month_end",
    "org_summary",
    "period_parse",
    "period_this_month",
    "person_budget_limits",
    "person_usage",
    "recent_calls_for_user",
    "feedback_available",
    "feedback_scores_for",
    "team_budget_limits",
    "team_report",
    "team_report_csv",
    "value_metrics_compute",
    "value_signals_for",
]
