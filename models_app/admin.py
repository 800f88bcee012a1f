from __future__ import annotations

from django.contrib import admin

from models_app.models import LlmModel


@admin.register(LlmModel)
class LlmModelAdmin(admin.ModelAdmin):
    list_display = ["display_name", "slug", "tier", "size_bytes", "tensor_parallel", "source"]
    list_filter = ["tier", "tensor_parallel", "source"]
    search_fields = ["slug", "display_name", "repo_id", "exo_model_id"]
