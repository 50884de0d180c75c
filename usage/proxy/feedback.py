"""``POST /v1/feedback``: a caller rates one of its calls, with a proxy key."""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from core.redis import REDIS_ERRORS, get_async_redis
from governance.exceptions import GovernanceError
from governance.services.keys import KeyPrincipal
from usage.ledger.events import CALL_OWNER_KEY, request_id_verify
from usage.proxy.auth_throttle import proxy_authenticate
from usage.proxy.body_limit import body_within_limit
from usage.proxy.errors import ProxyError, error_response, response_for_exception
from usage.proxy.json_depth import json_depth_limit, json_too_deep
from usage.value import CallOwner, ValueSignalError, call_owner_from_db, feedback_record

FEEDBACK_MAX_BYTES = 64 * 1024  # a score and a comment


async def _call_owner(request_id: str, principal: KeyPrincipal) -> CallOwner | None:
    """Whose call ``request_id`` is, as far as ``principal`` may know: a signed id says it by itself
    (at once, before the call reaches the ledger); an id of an earlier format is looked up."""
    signed = request_id_verify(request_id, user_id=principal.user_id, team_id=principal.team_id)
    if signed is not None:
        same_person, same_team = signed
        if not (same_person or same_team):
            return None
        return CallOwner(
            user_id=principal.user_id if same_person else None, team_id=principal.team_id if same_team else None
        )
    client = get_async_redis()
    if client is not None:
        try:
            raw = await client.get(CALL_OWNER_KEY.format(request_id))
            if raw:
                text = raw.decode() if isinstance(raw, bytes) else raw  # bytes: no decode_responses
                user_id, _, team_id = text.partition(":")
                return CallOwner(user_id=int(user_id), team_id=int(team_id) if team_id else None)
        except REDIS_ERRORS:
            pass
    return await sync_to_async(call_owner_from_db)(request_id)


def _parse(raw: bytes) -> dict:
    if json_too_deep(raw):
        raise ProxyError(400, f"The JSON body nests deeper than {json_depth_limit()} levels.", code="invalid_json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProxyError(
            400, 'The body must be JSON: {"request_id": ..., "score": ...}.', code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise ProxyError(400, "The body must be a JSON object.", code="invalid_json")
    if not isinstance(body.get("request_id"), str) or not body["request_id"]:
        raise ProxyError(
            400, "request_id (the x-request-id of the call) is required.", code="missing_request_id", param="request_id"
        )
    if "comment" in body and not isinstance(body["comment"], (str, type(None))):
        raise ProxyError(400, "comment must be a string.", code="invalid_type", param="comment")
    if "scale" in body and body["scale"] not in (None, "binary", "five"):
        raise ProxyError(400, "scale must be 'binary' or 'five'.", code="invalid_type", param="scale")
    return body


async def _rate(principal: KeyPrincipal, body: dict) -> dict:
    owner = await _call_owner(body["request_id"], principal)
    if owner is None or not (owner.user_id == principal.user_id or owner.team_id == principal.team_id):
        # The same answer for "no such call" and "not yours": ids reveal nothing.
        raise ProxyError(
            404,
            "No call with this request_id was made by you or your team.",
            code="request_not_found",
            param="request_id",
        )
    try:
        feedback = await sync_to_async(feedback_record)(
            request_id=body["request_id"],
            owner=owner,
            rater_user_id=principal.user_id,
            rater_team_id=principal.team_id,
            key_id=principal.key_id,
            score=body.get("score"),
            scale=body.get("scale"),
            comment=body.get("comment") or "",
        )
    except ValueSignalError as exc:
        raise ProxyError(400, str(exc), code="invalid_score", param="score") from exc
    return {
        "object": "feedback",
        "request_id": feedback.request_id,
        "score": feedback.score,
        "scale": feedback.scale,
        "comment": feedback.comment,
        "positive": feedback.is_positive,
    }


@csrf_exempt
async def feedback(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return error_response(
            status=405,
            message="Use POST.",
            type="invalid_request_error",
            code="method_not_allowed",
            request_id="",
            headers={"Allow": "POST"},
        )
    try:
        principal = await proxy_authenticate(request)
        result = await _rate(principal, _parse(body_within_limit(request, FEEDBACK_MAX_BYTES)))
    except (GovernanceError, ProxyError) as exc:
        return response_for_exception(exc, request_id="")
    return HttpResponse(json.dumps(result), content_type="application/json")
