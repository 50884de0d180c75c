"""Value signals: outcomes reported by integrations (idempotent on ``external_id``), outcome kinds and
their weights, and feedback on calls.

Who may report an outcome: admins (any team), a team's managers and its service tokens (that team only).
Nobody reports value about themselves with a personal credential (web session or personal API token):
an outcome whose ``user`` is the caller, or a team outcome (no ``user``) for a team the caller belongs
to, is refused with 403 - value must come from outside the person measured. Every outcome records its
provenance (``source_kind`` person or service_token, ``reported_by``, ``api_token``); a service token's
outcome about its own creator is recorded but, by default, does not count for them
(``governance.selectors.value_sources``).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from governance.api_permissions import OUTCOMES, READ
from governance.apis.common import BaseApi, PageFilterSerializer, ordering_field, page_response, paginated
from governance.exceptions import PermissionRefused
from governance.models import ApiToken, Membership, Team, ValueSource
from governance.selectors.directory import person_by_id
from governance.selectors.value_sources import value_source_trust_all
from governance.services.value_sources import value_source_trust_set
from usage.api_selectors import (
    feedback_visible,
    outcome_by_external_id,
    outcome_kinds_all,
    outcomes_visible,
    request_ids_of_other_teams,
    usage_event_owner,
)
from usage.models import Feedback
from usage.value import ValueSignalError, feedback_record, outcome_kind_set, outcome_record


class OutcomeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    kind = serializers.CharField()
    user_id = serializers.IntegerField(allow_null=True)
    team_id = serializers.IntegerField(allow_null=True)
    occurred_at = serializers.DateTimeField()
    value = serializers.DecimalField(max_digits=12, decimal_places=4)
    request_ids = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()  # type: ignore[assignment]  # a declared field, taken off the class by the metaclass
    source_kind = serializers.ChoiceField(
        choices=ValueSource.choices,
        help_text="Provenance: who reported it (integration, service_token, "
        "person, import; legacy: before provenance was kept).",
    )
    integration = serializers.CharField(allow_blank=True, help_text="The integration's name (github, otlp).")
    reported_by_id = serializers.IntegerField(allow_null=True, help_text="The person whose credential reported it.")
    api_token_id = serializers.IntegerField(allow_null=True, help_text="The API token it was reported with.")
    session_id = serializers.CharField(allow_blank=True, help_text="The coding agent's session (telemetry), if any.")
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Outcome"


class OutcomeListApi(BaseApi):
    scopes = {"GET": READ, "POST": OUTCOMES}

    class FilterSerializer(PageFilterSerializer):
        team = serializers.IntegerField(required=False, min_value=1, help_text="Team id.")
        user = serializers.IntegerField(required=False, min_value=1, help_text="Person id.")
        kind = serializers.SlugField(required=False, max_length=64)
        start = serializers.DateTimeField(required=False, help_text="Occurred at or after.")
        end = serializers.DateTimeField(required=False, help_text="Occurred before.")
        ordering = ordering_field(["occurred_at", "created_at", "value"], default="-occurred_at")

    class InputSerializer(serializers.Serializer):
        external_id = serializers.CharField(max_length=200, help_text="Your id for it; a retry is idempotent.")
        kind = serializers.SlugField(max_length=64, help_text="e.g. pr_merged, ticket_resolved")
        team = serializers.IntegerField(
            min_value=1,
            required=False,
            allow_null=True,
            default=None,
            help_text="Team id (default: a service token's team).",
        )
        user = serializers.IntegerField(
            min_value=1, required=False, allow_null=True, default=None, help_text="Person id; must belong to the team."
        )
        occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        value = serializers.DecimalField(max_digits=12, decimal_places=4, min_value=0, default=1)  # type: ignore[arg-type]  # DRF takes any default; the schema shows 1
        request_ids = serializers.ListField(
            child=serializers.CharField(max_length=40), max_length=1000, required=False, default=list
        )
        source = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)  # type: ignore[assignment]  # a declared field, taken off the class by the metaclass

    @extend_schema(operation_id="outcomes_list", responses=paginated(OutcomeOutputSerializer))
    def get(self, request):
        filters = self.filters()
        outcomes = outcomes_visible(access=self.access)
        for name in ("team", "user", "kind"):
            if name in filters:
                outcomes = outcomes.filter(**{name: filters[name]})
        if "start" in filters:
            outcomes = outcomes.filter(occurred_at__gte=filters["start"])
        if "end" in filters:
            outcomes = outcomes.filter(occurred_at__lt=filters["end"])
        return page_response(self, outcomes.order_by(filters["ordering"], "-pk"), OutcomeOutputSerializer)

    @extend_schema(
        operation_id="outcomes_create",
        request=InputSerializer,
        responses={200: OutcomeOutputSerializer, 201: OutcomeOutputSerializer},
        description="Record an outcome. A retry with the same external_id returns the stored outcome "
        "(200) unchanged; a new one answers 201.",
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data, access = payload.validated_data, self.access
        team_id = data["team"] or access.service_team_id
        allowed = access.team_ids_for(OUTCOMES)
        if team_id is None:
            raise ValidationError({"team": ["A team is required."]})
        if allowed is not None and team_id not in allowed:
            raise NotFound("No such team among those you report outcomes for.")
        team = get_object_or_404(Team, pk=team_id)
        user = None
        if data["user"] is not None:
            user = person_by_id(user_id=data["user"])
            if user is None or not Membership.objects.filter(user=user, team=team).exists():
                raise ValidationError({"user": ["Not a member of this team."]})
        foreign = request_ids_of_other_teams(request_ids=data["request_ids"], team_id=team.pk)
        if foreign:
            raise ValidationError({"request_ids": ["These calls belong to another team: " + ", ".join(foreign[:10])]})
        existing = outcome_by_external_id(external_id=data["external_id"])
        if existing is not None and allowed is not None and existing.team_id not in allowed:
            # Someone else's outcome: say no more than that the id is taken.
            raise ValidationError({"external_id": ["This external_id is already used."]})
        if access.person_id is not None and (
            data["user"] == access.person_id
            or (user is None and Membership.objects.filter(user_id=access.person_id, team=team).exists())
        ):
            raise PermissionRefused(
                "Nobody reports outcomes about themselves (or their own team) with a personal "
                "credential; an integration or a service token reports them."
            )
        try:
            outcome, created = outcome_record(
                external_id=data["external_id"],
                kind=data["kind"],
                user=user,
                team=team,
                occurred_at=data["occurred_at"] or timezone.now(),
                value=data["value"],
                request_ids=data["request_ids"],
                source=data["source"] or f"api:{request.user.get_username()}",
                source_kind=ValueSource.PERSON if access.person_id is not None else ValueSource.SERVICE_TOKEN,
                reported_by=request.user,
                api_token=request.auth if isinstance(request.auth, ApiToken) else None,
            )
        except ValueSignalError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        return Response(OutcomeOutputSerializer(outcome).data, status=201 if created else 200)


class OutcomeDetailApi(BaseApi):
    scopes = {"GET": READ}

    @extend_schema(operation_id="outcomes_retrieve", responses=OutcomeOutputSerializer)
    def get(self, request, outcome_id: int):
        outcome = get_object_or_404(outcomes_visible(access=self.access), pk=outcome_id)
        return Response(OutcomeOutputSerializer(outcome).data)


class OutcomeKindOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    weight = serializers.DecimalField(max_digits=10, decimal_places=4)
    description = serializers.CharField()

    class Meta:
        ref_name = "OutcomeKind"


class OutcomeKindListApi(BaseApi):
    """Outcome kinds and their weights: an outcome counts ``value x weight`` (weight 1 when unset)."""

    scopes = {"GET": READ}

    class InputSerializer(serializers.Serializer):
        kind = serializers.SlugField(max_length=64)
        weight = serializers.DecimalField(max_digits=10, decimal_places=4, min_value=0)
        description = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)

    @extend_schema(
        operation_id="outcome_kinds_list",
        parameters=[PageFilterSerializer],
        responses=paginated(OutcomeKindOutputSerializer),
    )
    def get(self, request):
        return page_response(self, outcome_kinds_all(), OutcomeKindOutputSerializer)

    @extend_schema(
        operation_id="outcome_kinds_set",
        request=InputSerializer,
        responses=OutcomeKindOutputSerializer,
        description="Create or change an outcome kind's weight (admins). Audited.",
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        item = outcome_kind_set(**payload.validated_data, actor=request.user)
        return Response(OutcomeKindOutputSerializer(item).data)


class FeedbackOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    request_id = serializers.CharField()
    key_id = serializers.IntegerField(allow_null=True)
    user_id = serializers.IntegerField()
    team_id = serializers.IntegerField(allow_null=True)
    score = serializers.IntegerField()
    scale = serializers.ChoiceField(choices=Feedback.Scale.choices)
    comment = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Feedback"


class FeedbackListApi(BaseApi):
    """Ratings of calls: a person rates their own calls (a second rating replaces the first)."""

    scopes = {"GET": READ, "POST": OUTCOMES}

    class FilterSerializer(PageFilterSerializer):
        team = serializers.IntegerField(required=False, min_value=1, help_text="Team id.")
        user = serializers.IntegerField(required=False, min_value=1, help_text="Rater's person id.")
        request_id = serializers.CharField(required=False, max_length=40)
        ordering = ordering_field(["created_at", "updated_at", "score"], default="-created_at")

    class InputSerializer(serializers.Serializer):
        request_id = serializers.CharField(max_length=40, help_text="The x-request-id of one of your calls.")
        score = serializers.IntegerField(min_value=-1, max_value=5, help_text="1 or -1 (thumbs), 1..5 (stars).")
        scale = serializers.ChoiceField(choices=Feedback.Scale.choices, required=False, allow_null=True, default=None)
        comment = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)

    @extend_schema(operation_id="feedback_list", responses=paginated(FeedbackOutputSerializer))
    def get(self, request):
        filters = self.filters()
        feedback = feedback_visible(access=self.access)
        for name in ("team", "user", "request_id"):
            if name in filters:
                feedback = feedback.filter(**{name: filters[name]})
        return page_response(self, feedback.order_by(filters["ordering"], "-pk"), FeedbackOutputSerializer)

    @extend_schema(operation_id="feedback_record", request=InputSerializer, responses=FeedbackOutputSerializer)
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data, access = payload.validated_data, self.access
        if access.person_id is None:
            raise PermissionDenied("Service tokens do not rate calls; people rate their own.")
        owner = usage_event_owner(request_id=data["request_id"])
        if owner is None or owner.user_id != access.person_id:
            raise NotFound("No such call of yours.")
        try:
            feedback = feedback_record(
                request_id=data["request_id"],
                owner=owner,
                rater_user_id=access.person_id,
                rater_team_id=owner.team_id,
                key_id=None,
                score=data["score"],
                scale=data["scale"],
                comment=data["comment"],
            )
        except ValueSignalError as exc:
            raise ValidationError({"score": [str(exc)]}) from exc
        return Response(FeedbackOutputSerializer(feedback).data)


class ValueSourceOutputSerializer(serializers.Serializer):
    source_kind = serializers.ChoiceField(choices=ValueSource.choices)
    integration = serializers.CharField(allow_blank=True, help_text="Blank: the whole kind.")
    is_trusted = serializers.BooleanField(help_text="Its outcomes count for value metrics and detection.")
    counts_self_reports = serializers.BooleanField(
        help_text="Outcomes reported by the person they are about count for that person."
    )
    is_default = serializers.BooleanField(help_text="No admin setting: the built-in default.")

    class Meta:
        ref_name = "ValueSource"


class ValueSourceListApi(BaseApi):
    """Which outcome sources count for value metrics and detection (admins set it; audited).

    Defaults: every source is trusted, self-reports (an outcome reported by the person it is about)
    count for nobody.
    """

    scopes = {"GET": READ}

    class InputSerializer(serializers.Serializer):
        source_kind = serializers.ChoiceField(choices=ValueSource.choices)
        integration = serializers.SlugField(
            max_length=64,
            required=False,
            default="",
            allow_blank=True,
            help_text="One integration (github, otlp); only for 'integration'.",
        )
        is_trusted = serializers.BooleanField()
        counts_self_reports = serializers.BooleanField(required=False, default=False)

    @extend_schema(operation_id="value_sources_list", responses=ValueSourceOutputSerializer(many=True))
    def get(self, request):
        return Response(ValueSourceOutputSerializer(value_source_trust_all(), many=True).data)

    @extend_schema(
        operation_id="value_sources_set",
        request=InputSerializer,
        responses=ValueSourceOutputSerializer,
        description="Set whether a source's outcomes count (admins). Audited.",
    )
    def post(self, request):
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            value_source_trust_set(**payload.validated_data, actor=request.user)
        except ValueError as exc:
            raise ValidationError({"integration": [str(exc)]}) from exc
        data = payload.validated_data
        [trust] = [
            t
            for t in value_source_trust_all()
            if (t.source_kind, t.integration) == (data["source_kind"], data["integration"].lower())
        ]
        return Response(ValueSourceOutputSerializer(trust).data)
