from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from cluster_app.models import ApiToken, HealthResult, Job, LinkBenchmark, Node, NodeMemorySample


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["display_name", "name", "hostname", "role", "status", "status_reason",
                    "last_seen_at", "in_exo_cluster"]
    readonly_fields = ["status", "status_reason", "exo_node_id", "last_seen_at", "ram_total",
                       "ram_used", "swap_used", "disk_total", "disk_free", "gpu_usage",
                       "temperature", "power", "rdma_enabled", "links", "gpu_reading", "exo_pid",
                       "exo_started_at", "exo_version", "exo_checked_at"]
    search_fields = ["name", "display_name", "hostname"]


@admin.register(NodeMemorySample)
class NodeMemorySampleAdmin(admin.ModelAdmin):
    list_display = ["node", "tier", "bucket", "ram_used", "ram_total"]
    list_filter = ["node", "tier"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "node", "state", "progress", "message", "created_at"]
    list_filter = ["state", "kind", "node"]
    readonly_fields = [field.name for field in Job._meta.fields]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Keys are made and revoked on the Keys page (an admin sees everyone's there).
    list_display = ["hint", "user", "name", "scopes", "expires_at", "last_used_at",
                    "last_used_from", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "hint", "user__username"]
    readonly_fields = ["hint", "digest", "scopes", "allowed_models", "created_at",
                       "last_used_at", "last_used_from", "revoked_at"]
    fields = ["user", "name", "note", "expires_at", *readonly_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A secret can only be shown once, at creation: `manage.py issue_token` does that.
        return False


@admin.register(HealthResult)
class HealthResultAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "status", "summary", "checked_at"]
    list_filter = ["status", "name", "scope"]


@admin.register(LinkBenchmark)
class LinkBenchmarkAdmin(admin.ModelAdmin):
    list_display = ["created_at", "backend", "ranks", "latency_us", "bandwidth_gbps"]
    readonly_fields = [field.name for field in LinkBenchmark._meta.fields]
