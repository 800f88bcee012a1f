"""Changes made in the admin site (node settings, router rules and prices, users and groups,
the catalogue), recorded where the admin logs them itself, in the same transaction."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from cluster_app.audit.services import record


def _record(request: HttpRequest, verb: str, obj: Model, changes: Any = None) -> None:
    meta = obj._meta
    params: dict[str, Any] = {"object": str(obj)}
    if changes:
        params["changes"] = changes
    record(action=f"admin.{verb}", target=f"{meta.app_label}.{meta.model_name} {obj.pk}",
           params=params, user=request.user, request=request)


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose additions, changes and deletions go to the audit log."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        _record(request, "add", obj)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        _record(request, "change", obj, message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        for obj in queryset:
            _record(request, "delete", obj)
        return super().log_deletions(request, queryset)
