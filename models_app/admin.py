from __future__ import annotations

from django.contrib import admin

from cluster_app.audit.admin import AuditedAdmin
from models_app.models import (
    Benchmark,
    BenchmarkRun,
    CloudPrice,
    Conversation,
    CostSettings,
    LlmModel,
    Message,
    NameRoute,
    RouteRule,
    SystemPreset,
    UsageRecord,
)


@admin.register(LlmModel)
class LlmModelAdmin(AuditedAdmin):
    list_display = ["display_name", "slug", "tier", "size_bytes", "tensor_parallel", "source"]
    list_filter = ["tier", "tensor_parallel", "source"]
    search_fields = ["slug", "display_name", "repo_id", "exo_model_id"]


@admin.register(RouteRule)
class RouteRuleAdmin(AuditedAdmin):
    list_display = ["task", "slugs", "enabled", "description"]


@admin.register(NameRoute)
class NameRouteAdmin(AuditedAdmin):
    list_display = ["pattern", "rule", "position", "enabled", "description"]
    list_editable = ["position", "enabled"]


@admin.register(CloudPrice)
class CloudPriceAdmin(AuditedAdmin):
    list_display = ["name", "input_usd_per_million", "output_usd_per_million"]


@admin.register(CostSettings)
class CostSettingsAdmin(AuditedAdmin):
    list_display = ["electricity_usd_per_hour"]


@admin.register(UsageRecord)
class UsageRecordAdmin(AuditedAdmin):
    list_display = ["created_at", "user", "api", "slug", "route", "prompt_tokens",
                    "completion_tokens", "first_token_ms", "tokens_per_second", "status"]
    list_filter = ["api", "status", "slug"]
    readonly_fields = [field.name for field in UsageRecord._meta.fields]


@admin.register(Benchmark)
class BenchmarkAdmin(AuditedAdmin):
    list_display = ["created_at", "slug", "model_id", "mode", "runs_per_cell",
                    "electricity_usd_per_kwh"]
    list_filter = ["mode", "slug"]
    readonly_fields = [field.name for field in Benchmark._meta.fields]


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(AuditedAdmin):
    list_display = ["benchmark", "sharding", "instance_meta", "node_count", "prompt_length",
                    "generation_length", "run", "generation_tps", "prefill_tps"]
    list_filter = ["sharding", "instance_meta"]
    readonly_fields = [field.name for field in BenchmarkRun._meta.fields]


@admin.register(Conversation)
class ConversationAdmin(AuditedAdmin):
    list_display = ["title", "owner", "pinned", "model", "updated_at"]
    search_fields = ["title", "owner__username"]
    raw_id_fields = ["current_leaf"]


@admin.register(Message)
class MessageAdmin(AuditedAdmin):
    list_display = ["created_at", "conversation", "role", "model", "status"]
    list_filter = ["role", "status"]
    raw_id_fields = ["conversation", "parent"]


@admin.register(SystemPreset)
class SystemPresetAdmin(AuditedAdmin):
    list_display = ["name", "owner"]
