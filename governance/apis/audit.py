"""The audit log (admins): who changed what, with before/after snapshots (secrets masked)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from governance.apis.common import BaseApi, PageFilterSerializer, page_response, paginated
from governance.selectors.audit import audit_entries_all


class AuditEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor_label = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    object_repr = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)

    class Meta:
        ref_name = "AuditEntry"


class AuditEntryListApi(BaseApi):
    admin_only = True

    class FilterSerializer(PageFilterSerializer):
        object_type = serializers.CharField(required=False, max_length=64, help_text="e.g. governance.ApiKey")
        object_id = serializers.CharField(required=False, max_length=64)
        action = serializers.CharField(required=False, max_length=32)
        actor = serializers.IntegerField(required=False, min_value=1, help_text="Person id.")

    @extend_schema(operation_id="audit_list", responses=paginated(AuditEntryOutputSerializer))
    def get(self, request):
        filters = self.filters()
        entries = audit_entries_all()
        for name in ("object_type", "object_id", "action", "actor"):
            if name in filters:
                entries = entries.filter(**{name: filters[name]})
        return page_response(self, entries.order_by("-created_at", "-id"), AuditEntryOutputSerializer)
