"""Integration endpoints (no session, no CSRF) and the admins' GitHub page."""

from django.urls import path

from usage.integrations import views

app_name = "integrations"

urlpatterns = [
    path("integrations/github/webhook", views.github_webhook, name="github_webhook"),
    path("otlp/v1/metrics", views.otlp_metrics, name="otlp_metrics"),
    path("manage/integrations/github/", views.manage_github, name="manage_github"),
]
