"""REST API of the audit log: `GET /api/v1/audit/`, admins only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from arthur_panel.api import ApiView
from cluster_app.access.permissions import PermissionRequired
from cluster_app.audit.selectors import audit_entries, audit_filters
from cluster_app.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ["id", "created_at", "username", "token_id", "token_hint", "address", "action",
                  "target", "params", "outcome", "message"]
        ref_name = "AuditEntry"


class AuditPageSerializer(serializers.Serializer):
    """What the API answers: one page of entries and the links to the others."""

    count = serializers.IntegerField(help_text="entries matching the filters")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AuditEntrySerializer(many=True)

    class Meta:
        ref_name = "AuditPage"


class AuditPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class AuditListApi(ApiView):

    @extend_schema(parameters=[OpenApiParameter(name) for name in
                               ("user", "action", "target", "since", "until", "page",
                                "page_size")],
                   responses=AuditPageSerializer)
    def get(self, request: Request) -> Response:
        # Checked here, not by a permission class: other methods stay a 405 for everyone.
        if not request.user.is_staff:
            raise PermissionRequired("The audit log is for admins (staff accounts).")
        entries = audit_entries(audit_filters(request.query_params))
        pages = AuditPagination()
        page = pages.paginate_queryset(entries, request, view=self)
        return pages.get_paginated_response(AuditEntrySerializer(page, many=True).data)
