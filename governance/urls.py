"""Web pages of the governance app: sign-in, team reports, flag review, admin pages."""

from django.urls import path

from governance.views import auth, flags, reports

app_name = "governance"

urlpatterns = [
    path("", auth.home, name="home"),
    path("accounts/login/", auth.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth.SignOutView.as_view(), name="logout"),
    path("teams/", reports.team_report_default, name="team_report_default"),
    path("teams/switch/", reports.team_report_switch, name="team_report_switch"),
    path("teams/<slug:slug>/", reports.team_report_view, name="team_report"),
    path("teams/<slug:slug>/report.csv", reports.team_report_csv_view, name="team_report_csv"),
    path("teams/<slug:slug>/flags/", flags.team_flags, name="team_flags"),
    path("flags/<int:flag_id>/", flags.flag_review, name="flag_review"),
]
