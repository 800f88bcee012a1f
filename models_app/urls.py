from __future__ import annotations

from django.urls import path

from cluster_app.views import PlannedPage
from models_app import views

urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("models/add/", views.model_add, name="model-add"),
    path("models/import-exo/", views.model_import_exo, name="models-import-exo"),
    path("models/<str:slug>/", views.model_detail, name="model"),
    path("planner/", views.planner, name="planner"),
    path("downloads/", views.downloads, name="downloads"),
    path("usage/", views.usage, name="usage"),
    path("playground/", PlannedPage.as_view(
        title="Playground",
        summary="Chat with loaded models, side by side, with live tokens per second and "
                "time to first token."), name="playground"),
]
