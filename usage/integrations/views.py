"""The integrations' HTTP endpoints (GitHub webhook, OTLP metrics) and the admins' GitHub page.

Neither endpoint uses a session or CSRF: GitHub proves itself with the webhook signature, telemetry with
a key in ``Authorization``.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from core.metrics import OTLP_DATA_POINTS, OTLP_EXPORTS, labelled
from governance.apis.auth import auth_failure_count, auth_failures_exceeded
from governance.exceptions import AuthenticationFailed
from governance.models import IntegrationSecret
from governance.views.common import admin_required
from usage.integrations.github import (
    github_delivery_receive,
    github_identity_map,
    github_signature_valid,
    github_webhook_secret,
    github_webhook_secret_set,
)
from usage.integrations.otlp import (
    JSON,
    PROTOBUF,
    OtlpError,
    otlp_metrics_record,
    otlp_reporter_authenticate,
    otlp_request_decode,
    otlp_response_encode,
)
from usage.integrations.selectors import github_identities_list
from usage.proxy.body_limit import BODY_TOO_LARGE

# --- GitHub webhook ------------------------------------------------------------------------------


def _github_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _github_payload(request: HttpRequest, body: bytes) -> dict | None:
    """The JSON payload, sent as ``application/json`` or (GitHub's other choice) form-encoded ``payload=``."""
    raw = body
    if request.content_type == "application/x-www-form-urlencoded":
        raw = (parse_qs(body.decode("utf-8", "replace")).get("payload") or [""])[0].encode()
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


@csrf_exempt
def github_webhook(request: HttpRequest) -> HttpResponse:
    """``POST /integrations/github/webhook``: 401 without a valid ``X-Hub-Signature-256``; 200 with what
    was done (``recorded``, ``unmapped``, ``ignored`` or ``duplicate``) for every verified delivery."""
    if request.method != "POST":
        response = _github_error(405, "POST only.")
        response["Allow"] = "POST"
        return response
    try:
        body = request.body
    except RequestDataTooBig:
        return _github_error(413, "The payload is larger than this server accepts.")
    if not github_signature_valid(
        secret=github_webhook_secret(), body=body, signature=request.headers.get("X-Hub-Signature-256")
    ):
        return _github_error(
            401, "Missing or invalid X-Hub-Signature-256 (is the webhook secret the one set in Tokenwise?)."
        )
    event, delivery_id = request.headers.get("X-GitHub-Event", ""), request.headers.get("X-GitHub-Delivery", "")
    payload = _github_payload(request, body)
    if not event or not delivery_id or payload is None:
        return _github_error(400, "A GitHub delivery has X-GitHub-Event, X-GitHub-Delivery and a JSON object body.")
    result = github_delivery_receive(delivery_id=delivery_id, event=event, payload=payload)
    return JsonResponse({"status": result.status, "kind": result.kind or None, "outcome_id": result.outcome_id})


# --- OTLP metrics --------------------------------------------------------------------------------

# google.rpc.Code values OTLP uses in the Status body of a failure.
_RPC_CODES = {400: 3, 401: 16, 405: 12, 413: 8, 415: 3, 429: 8}


def _otlp_status(status: int, message: str, content_type: str) -> HttpResponse:
    """A failure answered as OTLP says: a ``google.rpc.Status`` in the request's encoding (JSON when the
    request's was not one OTLP knows)."""
    body = Status(code=_RPC_CODES.get(status, 2), message=message)
    if content_type == PROTOBUF:
        response = HttpResponse(body.SerializeToString(), status=status, content_type=PROTOBUF)
    else:
        response = HttpResponse(json_format.MessageToJson(body, indent=None), status=status, content_type=JSON)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="otlp"'
    return response


@csrf_exempt
def otlp_metrics(request: HttpRequest) -> HttpResponse:
    """``POST /otlp/v1/metrics``: OTLP/HTTP metrics export (see ``usage/integrations/otlp.py``).

    200 with an ``ExportMetricsServiceResponse`` (``partial_success`` counts rejected data points); 400
    undecodable, 401 no or bad credential, 413 too large, 415 unsupported encoding, 429 after too many
    failed authentications from one address (``Retry-After``). Counted in ``tokenwise_otlp_*``.
    """
    response = _otlp_export(request)
    labelled(OTLP_EXPORTS, str(response.status_code)).inc()
    return response


def _otlp_export(request: HttpRequest) -> HttpResponse:
    content_type = request.content_type or ""
    if request.method != "POST":
        response = _otlp_status(405, "POST only.", content_type)
        response["Allow"] = "POST"
        return response
    if auth_failures_exceeded(request):
        response = _otlp_status(429, "Too many failed authentication attempts; wait a minute.", content_type)
        response["Retry-After"] = "60"
        return response
    try:
        reporter = otlp_reporter_authenticate(request.headers.get("Authorization"))
    except AuthenticationFailed as exc:
        auth_failure_count(request)
        return _otlp_status(401, exc.message, content_type)
    if getattr(request, "scope", {}).get(BODY_TOO_LARGE):  # ASGI: refused before Django read it
        return _otlp_status(413, "The body is larger than this server accepts.", content_type)
    try:
        export = otlp_request_decode(
            body=request.body,
            content_type=content_type,
            content_encoding=request.headers.get("Content-Encoding", ""),
            max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        )
    except RequestDataTooBig:
        return _otlp_status(413, "The body is larger than this server accepts.", content_type)
    except OtlpError as exc:
        return _otlp_status(exc.status, str(exc), content_type)
    result = otlp_metrics_record(request=export, reporter=reporter)
    for what in ("recorded", "unchanged", "rejected", "ignored"):
        labelled(OTLP_DATA_POINTS, what).inc(getattr(result, what))
    response = ExportMetricsServiceResponse()
    if result.rejected:
        response.partial_success.rejected_data_points = result.rejected
        response.partial_success.error_message = "; ".join(result.errors)[:1000]
    return HttpResponse(
        otlp_response_encode(response=response, content_type=content_type), status=200, content_type=content_type
    )


# --- Admin page: GitHub --------------------------------------------------------------------------


class WebhookSecretForm(forms.Form):
    secret = forms.CharField(
        min_length=16,
        max_length=200,
        label="Webhook secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only: stored encrypted, never shown. Paste the same value in GitHub's webhook settings.",
    )


class IdentityMapForm(forms.Form):
    login = forms.CharField(max_length=100, label="GitHub login")
    email = forms.EmailField(
        required=False, label="Person's e-mail", help_text="Empty: unmap the login (recorded outcomes stay)."
    )

    def clean(self):
        data = super().clean()
        email = data.get("email")
        if email:
            person = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
            if person is None:
                self.add_error("email", "No active person has this e-mail.")
            data["user"] = person
        else:
            data["user"] = None
        return data


@login_required
def manage_github(request: HttpRequest) -> HttpResponse:
    """GitHub: the webhook secret (write-only), and logins to persons - unmapped ones first, with how many
    signals wait for them. Admins only (404 for anyone else). Every change is audited."""
    admin_required(request)
    secret_form = WebhookSecretForm(request.POST if request.POST.get("form") == "secret" else None, prefix="secret")
    map_form = IdentityMapForm(request.POST if request.POST.get("form") == "map" else None, prefix="map")
    if request.method == "POST" and secret_form.is_bound and secret_form.is_valid():
        github_webhook_secret_set(secret=secret_form.cleaned_data["secret"], actor=request.user)
        messages.success(request, "Webhook secret saved.")
        return redirect(reverse("integrations:manage_github"))
    if request.method == "POST" and map_form.is_bound and map_form.is_valid():
        data = map_form.cleaned_data
        identity, recorded = github_identity_map(login=data["login"], user=data["user"], actor=request.user)
        messages.success(
            request,
            f"{identity.login} is now mapped to {data['user'].email}; {recorded} waiting "
            f"signal{'s' if recorded != 1 else ''} recorded."
            if data["user"]
            else f"{identity.login} is unmapped.",
        )
        return redirect(reverse("integrations:manage_github"))
    secret = IntegrationSecret.objects.filter(integration="github").exclude(secret_encrypted="").first()
    return render(
        request,
        "usage/github_identities.html",
        {
            "nav": "admin",
            "secret_form": secret_form,
            "map_form": map_form,
            "secret": secret,
            "webhook_url": request.build_absolute_uri(reverse("integrations:github_webhook")),
            "otlp_url": request.build_absolute_uri("/otlp"),
            "identities": github_identities_list(),
        },
        status=400 if request.method == "POST" else 200,
    )
