from __future__ import annotations

from django.urls import path

from models_app import api

urlpatterns = [
    path("models/", api.ModelListApi.as_view(), name="api-models"),
    path("models/import-exo/", api.ModelImportExoApi.as_view(), name="api-models-import-exo"),
    path("models/<str:slug>/", api.ModelDetailApi.as_view(), name="api-model"),
    path("models/<str:slug>/download/", api.ModelDownloadApi.as_view(), name="api-model-download"),
    path("downloads/", api.DownloadMatrixApi.as_view(), name="api-downloads"),
    path("plan/", api.PlanApi.as_view(), name="api-plan"),
    path("usage/", api.UsageApi.as_view(), name="api-usage"),
]
