from __future__ import annotations

from django.urls import path

from models_app.bench import api as bench_api
from models_app.catalogue import api as catalogue_api
from models_app.conversations import api as conversations_api
from models_app.downloads import api as downloads_api
from models_app.planner import api as planner_api
from models_app.usage import api as usage_api

urlpatterns = [
    path("models/", catalogue_api.ModelListApi.as_view(), name="api-models"),
    path("models/import-exo/", catalogue_api.ModelImportExoApi.as_view(),
         name="api-models-import-exo"),
    path("models/<str:slug>/", catalogue_api.ModelDetailApi.as_view(), name="api-model"),
    path("models/<str:slug>/exo-card/", catalogue_api.ModelExoCardApi.as_view(),
         name="api-model-exo-card"),
    path("models/<str:slug>/download/", downloads_api.ModelDownloadApi.as_view(),
         name="api-model-download"),
    path("downloads/", downloads_api.DownloadMatrixApi.as_view(), name="api-downloads"),
    path("plan/", planner_api.PlanApi.as_view(), name="api-plan"),
    path("usage/", usage_api.UsageApi.as_view(), name="api-usage"),
    path("usage/now/", usage_api.UsageNowApi.as_view(), name="api-usage-now"),
    path("benchmarks/", bench_api.BenchmarkListApi.as_view(), name="api-benchmarks"),
    path("benchmarks/<int:benchmark_id>/", bench_api.BenchmarkDetailApi.as_view(),
         name="api-benchmark"),
    path("benchmarks/<int:benchmark_id>/csv/", bench_api.BenchmarkCsvApi.as_view(),
         name="api-benchmark-csv"),
    path("conversations/", conversations_api.ConversationListApi.as_view(),
         name="api-conversations"),
    path("conversations/<int:conversation_id>/", conversations_api.ConversationDetailApi.as_view(),
         name="api-conversation"),
    path("conversations/<int:conversation_id>/messages/",
         conversations_api.MessageCreateApi.as_view(), name="api-conversation-messages"),
    path("conversations/<int:conversation_id>/export/",
         conversations_api.ConversationExportApi.as_view(), name="api-conversation-export"),
    path("presets/", conversations_api.PresetListApi.as_view(), name="api-presets"),
    path("presets/<int:preset_id>/", conversations_api.PresetDetailApi.as_view(),
         name="api-preset"),
]
