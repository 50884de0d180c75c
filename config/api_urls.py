"""The REST API, mounted at ``/api/``: OpenAPI schema at ``schema/``, interactive docs at ``docs/``."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from governance.apis import audit, flags, keys, policies, providers, reports, teams
from usage.apis import integrations, usage, value

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("me/", keys.MeApi.as_view(), name="api-me"),
    # Teams and memberships
    path("teams/", teams.TeamListApi.as_view(), name="api-teams"),
    path("teams/<int:team_id>/", teams.TeamDetailApi.as_view(), name="api-team"),
    path("memberships/", teams.MembershipListApi.as_view(), name="api-memberships"),
    path("memberships/<int:membership_id>/", teams.MembershipDetailApi.as_view(), name="api-membership"),
    # Keys and tokens
    path("keys/", keys.KeyListApi.as_view(), name="api-keys"),
    path("keys/<int:key_id>/", keys.KeyDetailApi.as_view(), name="api-key"),
    path("keys/<int:key_id>/revoke/", keys.KeyRevokeApi.as_view(), name="api-key-revoke"),
    path("tokens/", keys.ApiTokenListApi.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", keys.ApiTokenRevokeApi.as_view(), name="api-token-revoke"),
    # Policies
    path("policies/", policies.PolicyListApi.as_view(), name="api-policies"),
    path("policies/<int:policy_id>/", policies.PolicyDetailApi.as_view(), name="api-policy"),
    # Providers, routes, prices
    path("providers/", providers.ProviderListApi.as_view(), name="api-providers"),
    path("providers/<int:provider_id>/", providers.ProviderDetailApi.as_view(), name="api-provider"),
    path("routes/", providers.RouteListApi.as_view(), name="api-routes"),
    path("routes/<int:route_id>/", providers.RouteDetailApi.as_view(), name="api-route"),
    path("prices/", providers.PriceListApi.as_view(), name="api-prices"),
    # Usage and reports
    path("usage/events/", usage.UsageEventListApi.as_view(), name="api-usage-events"),
    path("usage/events/<str:request_id>/", usage.UsageEventDetailApi.as_view(), name="api-usage-event"),
    path("usage/summary/", usage.UsageSummaryApi.as_view(), name="api-usage-summary"),
    path("reports/teams/<int:team_id>/", reports.TeamReportApi.as_view(), name="api-report-team"),
    path("reports/me/", reports.MyUsageReportApi.as_view(), name="api-report-me"),
    path("reports/org/", reports.OrgReportApi.as_view(), name="api-report-org"),
    # Value signals and flags
    path("outcomes/", value.OutcomeListApi.as_view(), name="api-outcomes"),
    path("outcomes/<int:outcome_id>/", value.OutcomeDetailApi.as_view(), name="api-outcome"),
    path("outcome-kinds/", value.OutcomeKindListApi.as_view(), name="api-outcome-kinds"),
    path("value-sources/", value.ValueSourceListApi.as_view(), name="api-value-sources"),
    path("feedback/", value.FeedbackListApi.as_view(), name="api-feedback"),
    path("flags/", flags.FlagListApi.as_view(), name="api-flags"),
    path("flags/<int:flag_id>/", flags.FlagDetailApi.as_view(), name="api-flag"),
    path("flags/<int:flag_id>/review/", flags.FlagReviewApi.as_view(), name="api-flag-review"),
    path("audit/", audit.AuditEntryListApi.as_view(), name="api-audit"),
    # Integrations (admins): GitHub webhook secret, GitHub logins <-> people
    path("integrations/github/", integrations.GithubSettingsApi.as_view(), name="api-github"),
    path("integrations/github/identities/", integrations.GithubIdentityListApi.as_view(), name="api-github-identities"),
]
