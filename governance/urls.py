"""Web pages of the governance app: sign-in, team reports, flag review, admin pages."""

from django.urls import path

from governance.views import auth, flags, manage, manage_policies, people, reports

app_name = "governance"

urlpatterns = [
    path("", auth.home, name="home"),
    path("accounts/login/", auth.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth.SignOutView.as_view(), name="logout"),
    # Managers (and admins): team reports and flag review.
    path("teams/", reports.team_report_default, name="team_report_default"),
    path("teams/switch/", reports.team_report_switch, name="team_report_switch"),
    path("teams/<slug:slug>/", reports.team_report_view, name="team_report"),
    path("teams/<slug:slug>/report.csv", reports.team_report_csv_view, name="team_report_csv"),
    path("teams/<slug:slug>/flags/", flags.team_flags, name="team_flags"),
    path("flags/<int:flag_id>/", flags.flag_review, name="flag_review"),
    # The person a flag is about: why, what to do, and their reply.
    path("me/flags/<int:flag_id>/", flags.my_flag, name="my_flag"),
    # Drill-down: a person, the request log, one call (each narrowed to what the viewer may see).
    path("people/<int:user_id>/", people.person_view, name="person"),
    path("requests/", people.request_log, name="request_log"),
    path("requests/<str:request_id>/", people.call_view, name="call"),
    # Admins.
    path("manage/", manage.manage_home, name="manage_home"),
    path("manage/teams/", manage.manage_teams, name="manage_teams"),
    path("manage/teams/<slug:slug>/", manage.manage_team, name="manage_team"),
    path("manage/memberships/<int:membership_id>/", manage.manage_membership, name="manage_membership"),
    path("manage/policies/", manage_policies.manage_policies, name="manage_policies"),
    path("manage/policies/new/", manage_policies.manage_policy_edit, name="manage_policy_new"),
    path("manage/policies/<int:policy_id>/", manage_policies.manage_policy_edit, name="manage_policy_edit"),
    path("manage/providers/", manage.manage_providers, name="manage_providers"),
    path("manage/providers/<int:provider_id>/test/", manage.manage_provider_test, name="manage_provider_test"),
    path("manage/routes/<int:route_id>/delete/", manage.manage_route_delete, name="manage_route_delete"),
    path("manage/prices/", manage.manage_prices, name="manage_prices"),
    path("manage/audit/", manage.manage_audit, name="manage_audit"),
]
