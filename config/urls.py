from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from usage import health as usage_health
from usage.proxy import messages as usage_proxy_messages, views as usage_proxy_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", include("usage.proxy.urls")),
    path("v1", usage_proxy_views.not_found),  # in OpenAI's shape, like every other /v1 path
    # Operations: liveness, readiness, Prometheus metrics (docs/operations.md).
    path("healthz", usage_health.healthz, name="healthz"),
    path("readyz", usage_health.readyz, name="readyz"),
    path("metrics", usage_health.metrics, name="metrics"),
    path("api/hello", usage_proxy_messages.api_hello),  # Claude Code's start-up probe
    path("api/", include("config.api_urls")),  # REST API, OpenAPI schema and docs
    # Web pages (sign-in, reports, my usage, admin pages).
    path("", include("governance.urls")),
    path("", include("usage.urls")),
    # Value signals from integrations: GitHub webhook, OTLP telemetry (and the admins' GitHub page).
    path("", include("usage.integrations.urls")),
]

if settings.TOKENWISE_OIDC_ENABLED:  # single sign-on, when configured
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))
