from __future__ import annotations

from django.contrib import admin

from cluster_app.audit.admin import AuditedAdmin
from models_app.models import (
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
